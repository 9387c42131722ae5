package postgres_test

import (
	"context"
	"io/fs"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/migrations"
)

func TestMigrateConcurrentlyBothEndMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)

	pools := make([]*pgxpool.Pool, 2)
	for i := range pools {
		p, err := pgxpool.New(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		pools[i] = p
		if err := postgres.New(p, nil).Ready(ctx); err == nil {
			t.Fatal("Ready before migrating = nil, want an error")
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pools))
	for i, p := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = postgres.Migrate(ctx, p, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		if err := postgres.New(pools[i], nil).Ready(ctx); err != nil {
			t.Fatalf("replica %d not ready after migrating: %v", i, err)
		}
	}
	// Each migration was applied exactly once.
	// (Counted by file, not by the latest version: numbers are handed out
	// to work in progress ahead of merging, so they may leave gaps.)
	var applied int
	if err := pools[0].QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(migrations.FS, "*.sql")
	if applied != len(files) {
		t.Fatalf("goose recorded %d applications, want %d (one per migration)", applied, len(files))
	}
	// A rerun is a no-op.
	if err := postgres.Migrate(ctx, pools[0], nil); err != nil {
		t.Fatalf("second run: %v", err)
	}
}
