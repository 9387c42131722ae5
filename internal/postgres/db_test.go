package postgres_test

import (
	"context"
	"net/url"
	"strings"
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

// A DATABASE_URL that asks for a read-write server (libpq's multi-host
// form with target_session_attrs=read-write, as an HA PostgreSQL's clients
// use) when none of its hosts is one: a switchover demotes the old
// primary before it promotes the new one. Every connection is refused
// then, and the store must read as unavailable (503, which IdPs retry)
// rather than fail (500), until a primary is back.
func TestNoReadWriteServerReadsAsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		q.Set("target_session_attrs", "read-write")
		u.RawQuery = q.Encode()
		dsn = u.String()
	} else {
		dsn += " target_session_attrs=read-write"
	}
	db, err := postgres.Open(ctx, dsn, postgres.PoolConfig{MaxConns: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var name string
	if err := db.Pool.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	// The server turns read-only for new sessions, as a demoted primary.
	if _, err := db.Pool.Exec(ctx, `ALTER DATABASE `+name+` SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	db.Pool.Reset()
	_, err = db.Pool.Exec(ctx, `SELECT 1`)
	if err == nil || !strings.Contains(err.Error(), "read only") {
		t.Fatalf("a query with no read-write server: %v, want a refused connection", err)
	}
	if !directory.Unavailable(err) {
		t.Fatalf("%v does not read as unavailable", err)
	}
	// A primary again: the pool connects by itself.
	conn, err := db.Pool.Acquire(ctx)
	if err == nil {
		conn.Release()
		t.Fatal("connected to a read-only server")
	}
	admin, err := postgres.Open(ctx, pgtest.DSN(t), postgres.PoolConfig{MaxConns: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Pool.Exec(ctx, `ALTER DATABASE `+name+` RESET default_transaction_read_only`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `SELECT 1`); err != nil {
		t.Fatalf("once the server takes writes again: %v", err)
	}
}
