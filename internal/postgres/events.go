package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// The change feed's SQL. migrations/00026_events.sql explains the two
// numbers that order it: id (taken under the resource's row lock, so per
// resource in commit order) and seq (given after commit by the one
// sequencer, so a reader never sees a later event before an earlier one).

// appendEvent writes an event in the transaction of its change. Call it
// after the statement that changed (and row-locked) the resource, so that
// the event's id follows the resource's commit order.
func appendEvent(ctx context.Context, tx pgx.Tx, orgID string, actor directory.Actor, typ, resourceType, resourceID string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO events (org_id, type, resource_type, resource_id, actor_kind, actor_name, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, orgID, typ, resourceType, resourceID, actor.Kind, actor.Name, b)
	return err
}

// pendingEvent is an event a transaction is about to append.
type pendingEvent struct {
	typ, resourceType, resourceID string
	data                          any
}

// appendEvents appends events in the transaction of their change, in
// order, in one statement: a change of a thousand memberships costs one
// round trip, not a thousand. Call it, as appendEvent, after the
// statements that changed (and row-locked) the resources.
func appendEvents(ctx context.Context, tx pgx.Tx, orgID string, actor directory.Actor, evs []pendingEvent) error {
	switch len(evs) {
	case 0:
		return nil
	case 1:
		e := evs[0]
		return appendEvent(ctx, tx, orgID, actor, e.typ, e.resourceType, e.resourceID, e.data)
	}
	types, rtypes, rids, data := make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs)), make([]string, len(evs))
	for i, e := range evs {
		b, err := json.Marshal(e.data)
		if err != nil {
			return err
		}
		types[i], rtypes[i], rids[i], data[i] = e.typ, e.resourceType, e.resourceID, string(b)
	}
	// ORDER BY n: the identity is taken in the order rows are inserted,
	// which is the order the events were made in.
	_, err := tx.Exec(ctx, `INSERT INTO events (org_id, type, resource_type, resource_id, actor_kind, actor_name, data)
		SELECT $1, t, rt, ri, $6, $7, d::jsonb FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS x(t, rt, ri, d, n)
		ORDER BY n`, orgID, types, rtypes, rids, data, actor.Kind, actor.Name)
	return err
}

// sqlRFC3339 is an SQL expression rendering the timestamptz expression t
// as encoding/json renders a time.Time in UTC (RFC 3339 with the fraction
// of a second trimmed of trailing zeros), so that data rendered by SQL
// (insertUser's event) equals what internal/resource renders in Go.
func sqlRFC3339(t string) string {
	return `(to_char(` + t + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || rtrim(rtrim(to_char(` + t +
		` AT TIME ZONE 'UTC', '.US'), '0'), '.') || 'Z')`
}

// SequenceEvents numbers up to max committed events that have no feed
// position yet, in id order, and reports how many it numbered. It is the
// feed's single writer: a call that finds another replica's pass in
// progress returns 0 at once rather than queue behind it.
func (db *DB) SequenceEvents(ctx context.Context, max int) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var last int64
		err := tx.QueryRow(ctx, `SELECT last_seq FROM event_sequencer FOR UPDATE SKIP LOCKED`).Scan(&last)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // another pass holds it
		}
		if err != nil {
			return err
		}
		// A statement of its own, so that its snapshot is taken after the
		// lock: it sees every pass before this one committed.
		tag, err := tx.Exec(ctx, `WITH pending AS (
				SELECT org_id, id, row_number() OVER (ORDER BY id) AS n
				FROM events WHERE seq IS NULL ORDER BY id LIMIT $2)
			UPDATE events e SET seq = $1 + p.n FROM pending p
			WHERE e.org_id = p.org_id AND e.id = p.id`, last, max)
		if err != nil {
			return err
		}
		n = int(tag.RowsAffected())
		if n == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE event_sequencer SET last_seq = $1`, last+int64(n))
		return err
	})
	return n, err
}

// EventsLag is the age, by the database's clock, of the oldest committed
// event that has no feed position yet (0 when none waits): how far the
// sequencer is behind. The age counts from the start of the event's
// transaction (occurred_at).
func (db *DB) EventsLag(ctx context.Context) (time.Duration, error) {
	var secs float64
	err := db.Pool.QueryRow(ctx, `SELECT coalesce((SELECT extract(epoch FROM now() - occurred_at)::float8 FROM events
		WHERE seq IS NULL ORDER BY id LIMIT 1), 0)`).Scan(&secs)
	return time.Duration(max(secs, 0) * float64(time.Second)), err
}

// EventPage is one page of the feed.
type EventPage struct {
	Events []directory.Event
	// Next is the cursor to ask with next: after the last event of the
	// page, or the request's own cursor when the page is empty.
	Next int64
}

// Events reads an organization's feed after position after: at most
// limit events (1 to 1,000), of the given types (every type when empty),
// in feed order. A position below what retention removed is ErrGone.
func (db *DB) Events(ctx context.Context, orgID string, after int64, types []string, limit int) (EventPage, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	page := EventPage{Next: after}
	batch := &pgx.Batch{}
	batch.Queue(`SELECT coalesce((SELECT pruned_seq FROM event_retention WHERE org_id = $1), 0)`, orgID)
	batch.Queue(`SELECT seq, type, occurred_at, actor_kind, actor_name, resource_type, resource_id, data
		FROM events WHERE org_id = $1 AND seq > $2 AND seq IS NOT NULL
		AND (coalesce(cardinality($3::text[]), 0) = 0 OR type = ANY($3))
		ORDER BY seq LIMIT $4`, orgID, after, types, limit)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, batch)
		defer br.Close()
		var pruned int64
		if err := br.QueryRow().Scan(&pruned); err != nil {
			return err
		}
		if after < pruned {
			return directory.Gonef("events after this cursor are no longer kept (retention); list the resources again and follow the feed from its head")
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		page.Events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Event, error) {
			e := directory.Event{OrgID: orgID}
			var data []byte
			err := r.Scan(&e.Seq, &e.Type, &e.OccurredAt, &e.Actor.Kind, &e.Actor.Name, &e.ResourceType, &e.ResourceID, &data)
			e.Data = data
			return e, err
		})
		return err
	})
	if err != nil {
		return EventPage{}, err
	}
	if n := len(page.Events); n > 0 {
		page.Next = page.Events[n-1].Seq
	}
	return page, nil
}

// EventsHead is the feed position of an organization's newest numbered
// event: a consumer that has just listed every resource follows the feed
// from there. When retention removed every event, it is the position of
// the last one removed, which is not Gone.
func (db *DB) EventsHead(ctx context.Context, orgID string) (int64, error) {
	var seq int64
	err := db.Pool.QueryRow(ctx, `SELECT greatest(
			(SELECT max(seq) FROM events WHERE org_id = $1 AND seq IS NOT NULL),
			(SELECT pruned_seq FROM event_retention WHERE org_id = $1), 0)`, orgID).Scan(&seq)
	return seq, err
}

// PruneEvents deletes numbered events that occurred before cutoff, at most
// max of them, and records per organization the highest position removed
// so that a cursor below it is answered Gone. It reports how many it
// deleted.
func (db *DB) PruneEvents(ctx context.Context, cutoff time.Time, max int) (int, error) {
	n := 0
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH gone AS (
				DELETE FROM events WHERE (org_id, id) IN (
					SELECT org_id, id FROM events
					WHERE occurred_at < $1 AND seq IS NOT NULL
					ORDER BY occurred_at LIMIT $2)
				RETURNING org_id, seq)
			SELECT org_id, max(seq), count(*) FROM gone GROUP BY org_id`, cutoff, max)
		if err != nil {
			return err
		}
		type pruned struct {
			org   string
			seq   int64
			count int
		}
		ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pruned, error) {
			var p pruned
			err := r.Scan(&p.org, &p.seq, &p.count)
			return p, err
		})
		if err != nil {
			return err
		}
		for _, p := range ps {
			n += p.count
			if _, err := tx.Exec(ctx, `INSERT INTO event_retention (org_id, pruned_seq) VALUES ($1, $2)
				ON CONFLICT (org_id) DO UPDATE SET pruned_seq = greatest(event_retention.pruned_seq, excluded.pruned_seq)`,
				p.org, p.seq); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
