// Package postgres is scimbridge's store: the one package that holds SQL.
// It uses pgx v5 with a pgxpool, one file per table, and one transaction per
// request. Errors are the domain errors of internal/directory, wrapped.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// DB is the store.
type DB struct {
	Pool *pgxpool.Pool
	log  *slog.Logger
	now  func() time.Time
	// maxTokenTTL bounds the lifetime of new SCIM and admin API tokens
	// (0: directory.DefaultMaxTokenTTL).
	maxTokenTTL time.Duration
	// ssoLoginEvents: sign-ins through the IdP are events (sso.login).
	ssoLoginEvents bool
}

// SetSSOLoginEvents makes every sign-in through an organization's
// identity provider an sso.login event (off by default: sign-ins are
// many, and most platforms need only the changes). Call it before the
// store is used.
func (db *DB) SetSSOLoginEvents(on bool) { db.ssoLoginEvents = on }

// SetMaxTokenTTL sets the longest lifetime a new SCIM or admin API token
// may have (0: directory.DefaultMaxTokenTTL). Call it before the store
// is used.
func (db *DB) SetMaxTokenTTL(max time.Duration) { db.maxTokenTTL = max }

// tokenExpiry is when a token created now with the lifetime ttl (0: the
// default) expires. ErrInvalid: ttl is above the maximum.
func (db *DB) tokenExpiry(ttl time.Duration) (time.Time, error) {
	ttl, err := directory.TokenTTL(ttl, db.maxTokenTTL)
	if err != nil {
		return time.Time{}, err
	}
	return db.now().Add(ttl), nil
}

// PoolConfig bounds the connection pool.
type PoolConfig struct {
	MaxConns int32
	// StatementTimeout is the server-side statement_timeout of every
	// connection: a statement that runs longer is cancelled by PostgreSQL
	// itself, even when the client that asked is stuck. 0 leaves the
	// server's setting. Migrations need none: run them on a pool without.
	StatementTimeout time.Duration
}

// Open connects to dsn (a libpq URL or keyword/value string) and checks
// that the server answers.
func Open(ctx context.Context, dsn string, pc PoolConfig, log *slog.Logger) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can echo the password; say only what failed.
		return nil, errors.New("DATABASE_URL: not a valid PostgreSQL connection string")
	}
	if pc.MaxConns > 0 {
		cfg.MaxConns = pc.MaxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.ConnConfig.RuntimeParams["application_name"] = "scimbridge"
	if pc.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(pc.StatementTimeout.Milliseconds(), 10)
	}
	// A server that does not answer (paused, a dropped network) must not
	// hold a connection attempt for the kernel's TCP timeout.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 10*time.Second {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	// target_session_attrs=read-write (libpq's multi-host form, as HA
	// setups use it) refuses every host that is not a primary; during a
	// switchover none is, for a moment. That is the store unavailable
	// (503, retried by IdPs), not an error of the request. A preferred
	// mode's NotPreferredError passes as it is: pgconn matches its type.
	if validate := cfg.ConnConfig.ValidateConnect; validate != nil {
		cfg.ConnConfig.ValidateConnect = func(ctx context.Context, c *pgconn.PgConn) error {
			err := validate(ctx, c)
			var np *pgconn.NotPreferredError
			if err == nil || errors.As(err, &np) {
				return err
			}
			return fmt.Errorf("%w: %w", directory.ErrUnavailable, err)
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w", describe(cfg.ConnConfig), err)
	}
	return New(pool, log), nil
}

// New wraps an existing pool.
func New(pool *pgxpool.Pool, log *slog.Logger) *DB {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DB{Pool: pool, log: log, now: time.Now}
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

func describe(c *pgx.ConnConfig) string {
	return fmt.Sprintf("host=%s port=%d dbname=%s", c.Host, c.Port, c.Database)
}

// inTx runs fn in one transaction: committed when fn returns nil, rolled
// back otherwise.
func (db *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.Pool, fn)
}

// Ready reports whether the database answers and carries every migration
// this binary knows.
func (db *DB) Ready(ctx context.Context) error {
	var version int64
	err := db.Pool.QueryRow(ctx,
		`SELECT coalesce(max(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&version)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return errors.New("database is not migrated")
		}
		return err
	}
	want, err := LatestVersion()
	if err != nil {
		return err
	}
	if version < want {
		return fmt.Errorf("database schema is at version %d, want %d", version, want)
	}
	return nil
}

// mapErr turns constraint violations into domain errors; what remains is
// an internal error.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return directory.NotFoundf("%s not found", what)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return directory.Conflictf("%s already exists", what)
		case "23503": // foreign_key_violation
			return directory.Invalidf("%s refers to something that does not exist", what)
		case "23514", "22001", "22P02": // check, string too long, bad text representation
			return directory.Invalidf("%s is not valid", what)
		}
	}
	return err
}

// pageLimit is a listing's page size: 1 to 500, 100 when unset or out of
// range.
func pageLimit(n int) int {
	if n <= 0 || n > 500 {
		return 100
	}
	return n
}
