package postgres

import (
	"context"
	"time"
)

// ReplicaTTL is how long a replica counts as live after its last
// heartbeat; heartbeats come at a third of it.
const ReplicaTTL = 30 * time.Second

// Heartbeat records that replica id is live and returns how many replicas
// are (itself included). It also forgets replicas silent for ten times
// the TTL (one that crashed without RemoveReplica). The table is not
// per-organization: replicas serve every tenant.
func (db *DB) Heartbeat(ctx context.Context, id string) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `WITH beat AS (
			INSERT INTO replicas AS r (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET seen_at = now() RETURNING id
		), gone AS (
			DELETE FROM replicas WHERE seen_at < now() - 10 * $2::interval
		)
		SELECT 1 + count(*) FROM replicas WHERE seen_at > now() - $2::interval AND id <> (SELECT id FROM beat)`,
		id, ReplicaTTL).Scan(&n)
	return n, err
}

// RemoveReplica forgets a replica that stops, so that the others take
// over its share at their next heartbeat.
func (db *DB) RemoveReplica(ctx context.Context, id string) error {
	_, err := db.Pool.Exec(ctx, `DELETE FROM replicas WHERE id = $1`, id)
	return err
}
