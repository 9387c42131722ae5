// Package pgtest gives tests a real PostgreSQL database of their own.
//
// With TEST_DATABASE_URL set, it uses that server (the role needs CREATEDB).
// Otherwise it starts one throwaway cluster per test process from the local
// PostgreSQL binaries (fsync off: test data need not survive a crash). A
// template database is migrated once per process; each test then gets a
// fresh database cloned from it with CREATE DATABASE … TEMPLATE, so tests
// run in parallel and never see each other's rows.
//
// Packages that use it call Main from TestMain, so that the cluster stops
// when the tests end.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimbridge/scimbridge/internal/pgcluster"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

var (
	once     sync.Once
	setupErr error
	cluster  *pgcluster.Cluster
	tmpDir   string
	adminDSN string // a DSN for the maintenance database
	template string // name of the migrated template database
	prefix   string // per-process prefix of database names
	// createMu serialises CREATE DATABASE from the template: PostgreSQL
	// refuses to copy a template that another session is using.
	createMu sync.Mutex
	created  []string
	seq      int
)

// Main runs the tests and then drops what the process created.
func Main(m *testing.M) {
	code := m.Run()
	teardown()
	os.Exit(code)
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix = "t" + hex.EncodeToString(b[:])
	if url := os.Getenv("TEST_DATABASE_URL"); url != "" {
		adminDSN = url
	} else {
		dir, err := os.MkdirTemp("", "scimbridge-pgtest-")
		if err != nil {
			return err
		}
		tmpDir = dir
		if err := os.Chmod(dir, 0o755); err != nil { // the postgres account must reach it when we are root
			return err
		}
		cluster, err = pgcluster.Start(ctx, pgcluster.Options{
			DataDir: dir,
			Settings: map[string]string{
				"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
				"max_connections": "300", "shared_buffers": "128MB",
			},
		})
		if err != nil {
			return err
		}
		adminDSN = cluster.DSN("postgres")
	}
	template = prefix + "_template"
	if err := createTemplate(ctx); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, withDB(adminDSN, template))
	if err != nil {
		return err
	}
	defer pool.Close()
	return postgres.Migrate(ctx, pool, nil)
}

// foldingCtypes are LC_CTYPEs under which PostgreSQL's lower() and upper()
// map non-ASCII letters (U+212A KELVIN SIGN → "k"), as production
// databases (en_US.UTF-8, C.UTF-8) do. The template is created with the
// first the server knows, so that a query comparing identities with
// lower() instead of ascii_lower() fails the tests as it would fail in
// production; initdb's C locale folds ASCII only and would hide it.
// Collation stays "C", so that sort orders do not depend on the server.
var foldingCtypes = []string{"C.utf8", "C.UTF-8", "en_US.utf8", "en_US.UTF-8"}

// createTemplate creates the template database, with a folding LC_CTYPE
// when the server has one.
func createTemplate(ctx context.Context) error {
	for _, ctype := range foldingCtypes {
		if err := exec(ctx, "CREATE DATABASE "+template+" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE '"+ctype+"'"); err == nil {
			return nil
		}
	}
	return exec(ctx, "CREATE DATABASE "+template)
}

func teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cluster != nil {
		_ = cluster.Stop(ctx)
		_ = os.RemoveAll(tmpDir)
		return
	}
	if adminDSN == "" {
		return
	}
	createMu.Lock()
	defer createMu.Unlock()
	for _, db := range append(created, template) {
		_ = exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	}
}

func exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDB returns dsn with its database replaced by db.
func withDB(dsn, db string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		u.Path = "/" + db
		return u.String()
	}
	return dsn + " dbname=" + db // later keywords win
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	once.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("pgtest: %v", setupErr)
	}
	createMu.Lock()
	seq++
	name := fmt.Sprintf("%s_%d", prefix, seq)
	created = append(created, name)
	sql := "CREATE DATABASE " + name
	if migrated {
		sql += " TEMPLATE " + template
	}
	err := exec(context.Background(), sql)
	createMu.Unlock()
	if err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
	dsn := withDB(adminDSN, name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return dsn
}

// DSN returns the connection string of a fresh, migrated database.
func DSN(t testing.TB) string { return newDatabase(t, true) }

// EmptyDSN returns the connection string of a fresh database with no
// migrations applied.
func EmptyDSN(t testing.TB) string { return newDatabase(t, false) }

// DB returns a store on a fresh, migrated database, closed when the test ends.
func DB(t testing.TB) *postgres.DB {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), DSN(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return postgres.New(pool, slog.New(slog.DiscardHandler))
}
