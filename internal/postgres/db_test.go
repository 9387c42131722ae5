package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// The pool's statement_timeout is PostgreSQL's own: a statement past it
// is cancelled by the server even when nothing on the client side acts,
// and the error reads as the store being unavailable (a 503), not a bug.
func TestStatementTimeoutEndsLongStatements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := postgres.Open(ctx, pgtest.DSN(t), postgres.PoolConfig{MaxConns: 2, StatementTimeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var setting string
	if err := db.Pool.QueryRow(ctx, `SHOW statement_timeout`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "200ms" {
		t.Fatalf("statement_timeout = %q, want 200ms", setting)
	}
	_, err = db.Pool.Exec(ctx, `SELECT pg_sleep(30)`)
	if err == nil {
		t.Fatal("a 30 s statement finished under a 200 ms statement_timeout")
	}
	if !directory.Unavailable(err) {
		t.Fatalf("statement timeout %v does not read as unavailable", err)
	}

	// The reconciler's session lifts it for its sweeps and puts it back.
	s, err := db.LockReconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExecForTest(ctx, `SELECT pg_sleep(0.4)`); err != nil {
		t.Fatalf("the reconciler's session kept the request timeout: %v", err)
	}
	s.Close()
	for range 2 { // whichever pooled connection comes next
		if _, err := db.Pool.Exec(ctx, `SELECT pg_sleep(0.4)`); err == nil {
			t.Fatal("a pooled connection kept the reconciler's statement_timeout")
		}
	}
}
