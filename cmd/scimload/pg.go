package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rawTable is the scratch table of the raw phase; it is dropped at the end.
const rawTable = "scimload_raw_inserts"

// pgProbe is scimload's own connection to the server's PostgreSQL (--pg):
// it measures the raw durable INSERT rate of that PostgreSQL in the same
// run, and reads pg_stat_statements.
type pgProbe struct {
	pool *pgxpool.Pool
}

func openPG(ctx context.Context, dsn string, conns int) (*pgProbe, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("--pg: %w", err)
	}
	cfg.MaxConns = int32(max(conns, 2))
	cfg.ConnConfig.RuntimeParams["application_name"] = "scimload"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("--pg: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("--pg: %w", err)
	}
	return &pgProbe{pool: pool}, nil
}

func (p *pgProbe) close() {
	_, _ = p.pool.Exec(context.Background(), `DROP TABLE IF EXISTS `+rawTable)
	p.pool.Close()
}

// durabilitySettings are the server settings that decide what a durable
// commit costs; scimload's sessions and the server's see the same ones
// (neither sets them per session).
var durabilitySettings = []string{"server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes", "commit_delay", "shared_buffers"}

func (p *pgProbe) settings(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, name := range append(durabilitySettings, "data_directory") {
		var v string
		if err := p.pool.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&v); err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, nil
}

// rawRow is about the size of a user row: the raw rate is what the same
// PostgreSQL commits of comparable rows, one autocommit INSERT at a time.
var rawRow = strings.Repeat("x", 300)

// rawInserts runs autocommit single-row INSERTs on concurrency connections
// for d and records each one's latency as kind "raw-insert".
func (p *pgProbe) rawInserts(ctx context.Context, rec *recorder, concurrency int, d time.Duration) (time.Duration, int64, error) {
	if _, err := p.pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+rawTable+` (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), payload text NOT NULL)`); err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				_, err := p.pool.Exec(ctx, `INSERT INTO `+rawTable+` (payload) VALUES ($1)`, rawRow)
				switch {
				case err != nil && ctx.Err() != nil:
					return
				case err != nil:
					rec.fail("raw-insert", 0, "INSERT INTO "+rawTable, err.Error())
				default:
					rec.ok("raw-insert", time.Since(t0))
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), n.Load(), nil
}

// errNoStatements says the server was started without the library.
var errNoStatements = errors.New("pg_stat_statements is not loaded in the server: start it with SCIMBRIDGE_PG_SETTINGS='shared_preload_libraries=pg_stat_statements pg_stat_statements.track=all'")

// resetStatements creates the extension if needed and resets its counters,
// so the report covers this run only.
func (p *pgProbe) resetStatements(ctx context.Context) error {
	if _, err := p.pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55000" { // object_not_in_prerequisite_state
		return errNoStatements
	}
	return err
}

// stmtStat is one line of pg_stat_statements.
type stmtStat struct {
	Calls    int64   `json:"calls"`
	TotalMS  float64 `json:"total_ms"`
	MeanMS   float64 `json:"mean_ms"`
	Rows     int64   `json:"rows"`
	TopLevel bool    `json:"top_level"`
	Query    string  `json:"query"`
}

// topStatements returns the n statements of the run with the most total
// execution time; nested ones (a trigger's) appear with track=all.
func (p *pgProbe) topStatements(ctx context.Context, n int) ([]stmtStat, error) {
	rows, err := p.pool.Query(ctx, `SELECT calls, total_exec_time, mean_exec_time, rows, toplevel, query
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND query NOT LIKE '%'||$2||'%' -- the raw phase's own
			AND query NOT LIKE '%pg_stat_statements%'
		ORDER BY total_exec_time DESC LIMIT $1`, n, rawTable)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (stmtStat, error) {
		var s stmtStat
		err := r.Scan(&s.Calls, &s.TotalMS, &s.MeanMS, &s.Rows, &s.TopLevel, &s.Query)
		return s, err
	})
}
