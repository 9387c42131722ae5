package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scimbridge/internal/pgcluster"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/secretbox"
)

// embeddedDB is the database name inside the embedded cluster.
const embeddedDB = "scimbridge"

// database is an open store and, on the embedded default, its cluster.
type database struct {
	*postgres.DB
	cluster  *pgcluster.Cluster
	embedded bool
}

type openOptions struct {
	maxConns int32
	// migrate applies migrations; otherwise the schema must be current.
	migrate bool
	// statementTimeout bounds every statement of the pool (serve's
	// request work); migrations run on a pool of their own without it.
	statementTimeout time.Duration
}

// openDatabase connects to DATABASE_URL or, when it is unset, to the
// embedded cluster under the data dir (starting it when it is not running).
func openDatabase(ctx context.Context, e env, c *common, log *slog.Logger, o openOptions) (*database, error) {
	dsn := e.getenv("DATABASE_URL")
	d := &database{}
	if dsn == "" {
		if envBool(e, "SCIMBRIDGE_REQUIRE_DATABASE_URL") {
			return nil, errors.New("DATABASE_URL is required (this build has no embedded PostgreSQL)")
		}
		settings, err := pgSettings(e.getenv("SCIMBRIDGE_PG_SETTINGS"))
		if err != nil {
			return nil, err
		}
		cl, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: c.dataDir, Settings: settings, Logger: log, Getenv: e.getenv})
		if err != nil {
			return nil, err
		}
		if len(settings) > 0 && !cl.Started() {
			log.Warn("SCIMBRIDGE_PG_SETTINGS not applied: the embedded PostgreSQL was already running", "dir", cl.Dir())
		}
		d.cluster, d.embedded = cl, true
		if err := ensureDatabase(ctx, cl.DSN("postgres"), embeddedDB); err != nil {
			_ = cl.Release(ctx)
			return nil, err
		}
		dsn = cl.DSN(embeddedDB)
		o.migrate = true // the embedded default keeps itself current
	}
	if o.migrate && o.statementTimeout > 0 {
		// An index build on a large table may take longer than any
		// request: migrate on a pool without the statement timeout.
		mdb, err := postgres.Open(ctx, dsn, postgres.PoolConfig{MaxConns: 2}, log)
		if err != nil {
			d.release(ctx)
			return nil, err
		}
		err = postgres.Migrate(ctx, mdb.Pool, log)
		mdb.Close()
		if err != nil {
			d.release(ctx)
			return nil, err
		}
		o.migrate = false
	}
	db, err := postgres.Open(ctx, dsn, postgres.PoolConfig{MaxConns: o.maxConns, StatementTimeout: o.statementTimeout}, log)
	if err != nil {
		d.release(ctx)
		return nil, err
	}
	d.DB = db
	if o.migrate {
		err = postgres.Migrate(ctx, db.Pool, log)
	} else if rerr := db.Ready(ctx); rerr != nil {
		err = fmt.Errorf("%v; run 'scimbridge migrate' first", rerr)
	}
	if err != nil {
		d.Close(ctx)
		return nil, err
	}
	return d, nil
}

// Close closes the pool, then stops the embedded cluster if this command
// started it and no serve uses it.
func (d *database) Close(ctx context.Context) {
	if d.DB != nil {
		d.DB.Close()
	}
	d.release(ctx)
}

func (d *database) release(ctx context.Context) {
	if d.cluster != nil {
		_ = d.cluster.Release(context.WithoutCancel(ctx))
	}
}

// pgSettings parses SCIMBRIDGE_PG_SETTINGS, space-separated NAME=VALUE
// server settings of the embedded cluster (diagnostics such as
// shared_preload_libraries=pg_stat_statements for a benchmark).
func pgSettings(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, usagef("SCIMBRIDGE_PG_SETTINGS: %q is not NAME=VALUE", f)
		}
		out[k] = v
	}
	return out, nil
}

func ensureDatabase(ctx context.Context, adminDSN, name string) error {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("connect to embedded PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile by another command
		return nil
	}
	return err
}

// secretKey returns the key that seals readable secrets (webhook and IdP
// client secrets): SCIMBRIDGE_SECRET_KEY, or on the embedded default a key
// file kept in the data dir. With DATABASE_URL and no key: secretbox.ErrNoKey.
func secretKey(e env, c *common, d *database) ([]byte, error) {
	if s := e.getenv("SCIMBRIDGE_SECRET_KEY"); s != "" {
		return secretbox.ParseKey(s)
	}
	if d == nil || !d.embedded {
		return nil, secretbox.ErrNoKey
	}
	return secretbox.LoadOrCreateKeyFile(filepath.Join(c.dataDir, "secret.key"))
}

// secretBox returns the box for secretKey.
func secretBox(e env, c *common, d *database) (*secretbox.Box, error) {
	key, err := secretKey(e, c, d)
	if err != nil {
		return nil, err
	}
	return secretbox.New(key)
}

// cookieKey derives the key that signs login cookies from the secret key,
// so that every replica with the same secret key accepts the same cookies.
func cookieKey(secret []byte) []byte {
	sum := sha256.Sum256(append([]byte("scimbridge login cookies v1\x00"), secret...))
	return sum[:]
}
