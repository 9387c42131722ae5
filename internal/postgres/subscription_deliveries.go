package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// The delivery queue and log of outbound webhooks
// (migrations/00032_subscriptions.sql). Every time is the caller's clock
// (now), never the database's, so that the worker's tests move time
// instead of sleeping through backoffs and leases.

// FanOutEvents enqueues, for every enabled subscription, the numbered
// events of its organization past its cursor that it asks for, at most
// max per subscription, and advances the cursor in the same transaction.
// A subscription another replica is fanning out is skipped. It reports
// how many deliveries it enqueued and whether a subscription has more
// events waiting.
func (db *DB) FanOutEvents(ctx context.Context, now time.Time, max int) (enqueued int, more bool, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT s.org_id::text, s.id::text, s.cursor_seq, s.event_types FROM subscriptions s
			CROSS JOIN LATERAL (SELECT 1 FROM events e WHERE e.org_id = s.org_id AND e.seq > s.cursor_seq ORDER BY e.seq LIMIT 1) ev
			WHERE s.enabled
			FOR UPDATE OF s SKIP LOCKED`)
		if err != nil {
			return err
		}
		type due struct {
			org, id string
			cursor  int64
			types   []string
		}
		subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
			var d due
			err := r.Scan(&d.org, &d.id, &d.cursor, &d.types)
			return d, err
		})
		if err != nil {
			return err
		}
		for _, s := range subs {
			var seen, added int
			if err := tx.QueryRow(ctx, `WITH ev AS (
					SELECT id, seq, type, resource_type, resource_id FROM events
					WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3),
				ins AS (
					INSERT INTO subscription_deliveries (org_id, subscription_id, event_id, seq, resource_key, next_attempt_at, created_at)
					SELECT $1, $4, id, seq, resource_type || '/' || resource_id, $6, $6 FROM ev
					WHERE coalesce(cardinality($5::text[]), 0) = 0 OR type = ANY($5)
					ORDER BY seq
					RETURNING 1),
				cur AS (
					UPDATE subscriptions SET cursor_seq = (SELECT max(seq) FROM ev)
					WHERE org_id = $1 AND id = $4 AND EXISTS (SELECT 1 FROM ev)
					RETURNING 1)
				SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM ins), (SELECT count(*) FROM cur)`,
				s.org, s.cursor, max, s.id, s.types, now).Scan(&seen, &added, new(int)); err != nil {
				return err
			}
			enqueued += added
			more = more || seen == max
		}
		return nil
	})
	return enqueued, more, err
}

// ClaimRequest asks for due deliveries.
type ClaimRequest struct {
	Now time.Time
	// Lease is how long the claimed deliveries are the claimant's: longer
	// than a send can take, so that only a dead worker's lease runs out.
	Lease time.Duration
	// Token marks the claim; only its holder records the outcome.
	Token string
	// PerSubscription bounds the deliveries of one subscription in
	// flight at once, across every replica.
	PerSubscription int
	// Max bounds the deliveries claimed in all.
	Max int
}

// ClaimedDelivery is a delivery to send now, with what sending needs.
type ClaimedDelivery struct {
	OrgID          string
	ID             int64
	SubscriptionID string
	URL            string
	// Sealed are the signing secrets: the current one, then the one it
	// replaced while that overlaps.
	Sealed    [][]byte
	Attempts  int // before this one
	CreatedAt time.Time
	Token     string
	Event     directory.Event
}

// ClaimDeliveries leases due deliveries of enabled subscriptions: the
// oldest of each resource whose earlier deliveries are done, in feed
// order, as many per subscription as PerSubscription leaves room for
// beside the leases held (by this worker or another), at most Max in
// all. Subscriptions another replica is claiming for are skipped. Rows
// are locked FOR UPDATE SKIP LOCKED and leased in one transaction, so
// two replicas never claim one delivery while its lease runs.
func (db *DB) ClaimDeliveries(ctx context.Context, q ClaimRequest) ([]ClaimedDelivery, error) {
	if q.Max <= 0 || q.PerSubscription <= 0 {
		return nil, nil
	}
	var out []ClaimedDelivery
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := queueSettings(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT s.org_id::text, s.id::text, s.url, s.sealed,
				CASE WHEN s.previous_until > $1 THEN s.previous_sealed END,
				(SELECT count(*) FROM subscription_deliveries d WHERE d.org_id = s.org_id AND d.subscription_id = s.id
					AND d.state = 'pending' AND d.lease_until IS NOT NULL AND d.lease_until > $1)
			-- A LATERAL probe with LIMIT, per subscription, on the queue's
			-- index: written as EXISTS it was pulled up into a semi-join
			-- and planned as a hash of every pending row (150 ms at
			-- 100,000).
			FROM subscriptions s CROSS JOIN LATERAL (SELECT 1 FROM subscription_deliveries d
				WHERE d.org_id = s.org_id AND d.subscription_id = s.id AND d.state = 'pending'
				AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1)
				ORDER BY d.seq LIMIT 1) due
			WHERE s.enabled
			ORDER BY random() LIMIT 100
			FOR UPDATE OF s SKIP LOCKED`, q.Now)
		if err != nil {
			return err
		}
		type sub struct {
			org, id, url string
			cur, prev    []byte
			inFlight     int
		}
		subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sub, error) {
			var s sub
			err := r.Scan(&s.org, &s.id, &s.url, &s.cur, &s.prev, &s.inFlight)
			return s, err
		})
		if err != nil {
			return err
		}
		budget := q.Max
		for _, s := range subs {
			room := min(q.PerSubscription-s.inFlight, budget)
			if room <= 0 {
				continue
			}
			sealed := [][]byte{s.cur}
			if s.prev != nil {
				sealed = append(sealed, s.prev)
			}
			rows, err := tx.Query(ctx, `WITH c AS (
					SELECT d.org_id, d.id FROM subscription_deliveries d
					WHERE d.org_id = $1 AND d.subscription_id = $2 AND d.state = 'pending'
					AND d.next_attempt_at <= $3 AND (d.lease_until IS NULL OR d.lease_until <= $3)
					-- The first pending delivery of its resource. A scalar
					-- subquery, run per candidate on the resource index in
					-- the order of the scan, until LIMIT rows qualify: as an
					-- anti-join it would be planned over every pending row.
					AND d.id = (SELECT p.id FROM subscription_deliveries p
						WHERE p.org_id = d.org_id AND p.subscription_id = d.subscription_id
						AND p.resource_key = d.resource_key AND p.state = 'pending'
						ORDER BY p.seq, p.id LIMIT 1)
					ORDER BY d.seq, d.id LIMIT $4
					FOR UPDATE OF d SKIP LOCKED)
				-- By key, not as a join, which the planner may hash over
				-- the whole queue.
				UPDATE subscription_deliveries d SET lease_until = $3 + $5::interval, lease_token = $6
				WHERE d.org_id = $1 AND d.id = ANY(ARRAY(SELECT id FROM c))
				RETURNING d.id, d.attempts, d.created_at, d.event_id`,
				s.org, s.id, q.Now, room, q.Lease, q.Token)
			if err != nil {
				return err
			}
			var eventIDs []int64
			claimed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ClaimedDelivery, error) {
				c := ClaimedDelivery{OrgID: s.org, SubscriptionID: s.id, URL: s.url, Sealed: sealed, Token: q.Token}
				var eventID int64
				err := r.Scan(&c.ID, &c.Attempts, &c.CreatedAt, &eventID)
				c.Event.Seq = eventID // the event's id until it is read below
				eventIDs = append(eventIDs, eventID)
				return c, err
			})
			if err != nil {
				return err
			}
			if len(claimed) == 0 {
				continue
			}
			// The events by their primary key: joined in the UPDATE, the
			// planner may hash the whole events table for a few rows.
			rows, err = tx.Query(ctx, `SELECT id, seq, type, occurred_at, actor_kind, actor_name, resource_type, resource_id, data
				FROM events WHERE org_id = $1 AND id = ANY($2)`, s.org, eventIDs)
			if err != nil {
				return err
			}
			events := make(map[int64]directory.Event, len(eventIDs))
			if _, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
				e := directory.Event{OrgID: s.org}
				var id int64
				var data []byte
				err := r.Scan(&id, &e.Seq, &e.Type, &e.OccurredAt, &e.Actor.Kind, &e.Actor.Name, &e.ResourceType, &e.ResourceID, &data)
				e.Data = data
				events[id] = e
				return struct{}{}, err
			}); err != nil {
				return err
			}
			for i := range claimed {
				// A missing event (removed by retention) leaves a zero
				// Event, which the worker records as failed.
				claimed[i].Event = events[claimed[i].Event.Seq]
			}
			out = append(out, claimed...)
			budget -= len(claimed)
			if budget <= 0 {
				break
			}
		}
		return nil
	})
	return out, err
}

// queueSettings sets what the claims and outcomes of the delivery queue
// run with, many times a second:
//
//   - synchronous_commit off: a claim or an outcome commits without
//     waiting for its WAL flush. A crash of the database can lose the last
//     of them, which at least once allows: a lost claim or outcome leaves
//     the delivery pending, and it is sent again with the same event id.
//     Waiting for each flush would bound delivery by the disk.
//   - jit off: the claim's per-row subquery makes its estimated cost pass
//     jit_above_cost on a large queue, and compiling it took 60 ms of a
//     claim that runs in under one.
func queueSettings(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off; SET LOCAL jit = off`)
	return err
}

// DeliveryResult is the outcome of one attempt.
type DeliveryResult struct {
	OrgID string
	ID    int64
	Token string // the claim's
	// State: DeliveryDelivered, DeliveryFailed (given up), or
	// DeliveryPending (to retry at NextAttemptAt).
	State         string
	NextAttemptAt time.Time
	StatusCode    int
	Latency       time.Duration
	Error         string
	// Released gives the delivery back untried (the worker is stopping
	// before it sent it): no attempt is counted.
	Released bool
}

// Auto-disable: a subscription whose every attempt has failed for this
// long is disabled.
const SubscriptionFailingLimit = 24 * time.Hour

// RecordDeliveries records the outcome of attempts, all in one
// transaction: the log fields, the next attempt or the end, the release
// of the lease. An outcome whose claim is no longer the delivery's (its
// lease ran out and another worker took it) is dropped. A success clears
// its subscription's failure record; a failure starts it, and a
// subscription failing for SubscriptionFailingLimit is disabled, audited
// as the system's act. It returns the subscriptions it disabled.
func (db *DB) RecordDeliveries(ctx context.Context, now time.Time, results []DeliveryResult) ([]directory.Subscription, error) {
	if len(results) == 0 {
		return nil, nil
	}
	n := len(results)
	var (
		orgs, tokens, states, errs = make([]string, n), make([]string, n), make([]string, n), make([]*string, n)
		ids                        = make([]int64, n)
		codes, latencies           = make([]*int32, n), make([]int32, n)
		nexts                      = make([]time.Time, n)
		released                   = make([]bool, n)
	)
	for i, r := range results {
		orgs[i], ids[i], tokens[i], states[i], nexts[i], released[i] = r.OrgID, r.ID, r.Token, r.State, r.NextAttemptAt, r.Released
		if r.StatusCode != 0 {
			c := int32(r.StatusCode)
			codes[i] = &c
		}
		latencies[i] = int32(min(r.Latency.Milliseconds(), 1<<30))
		if r.Error != "" {
			e := r.Error
			if len(e) > 500 {
				e = e[:500]
			}
			errs[i] = &e
		}
	}
	var disabled []directory.Subscription
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := queueSettings(ctx, tx); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `WITH r AS (
				SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::int[], $7::int[], $8::text[], $9::bool[])
					AS r(org_id, id, token, state, next_at, code, latency, err, released)),
			u AS (
				UPDATE subscription_deliveries d SET
					state = CASE WHEN r.released THEN 'pending' ELSE r.state END,
					attempts = d.attempts + CASE WHEN r.released THEN 0 ELSE 1 END,
					last_attempt_at = CASE WHEN r.released THEN d.last_attempt_at ELSE $10 END,
					next_attempt_at = CASE WHEN r.released THEN d.next_attempt_at WHEN r.state = 'pending' THEN r.next_at ELSE d.next_attempt_at END,
					finished_at = CASE WHEN NOT r.released AND r.state <> 'pending' THEN $10 END,
					status_code = CASE WHEN r.released THEN d.status_code ELSE r.code END,
					latency_ms = CASE WHEN r.released THEN d.latency_ms ELSE r.latency END,
					last_error = CASE WHEN r.released THEN d.last_error ELSE r.err END,
					lease_until = NULL, lease_token = NULL
				FROM r
				WHERE d.org_id = r.org_id AND d.id = r.id AND d.lease_token = r.token AND d.state = 'pending'
				RETURNING d.org_id, d.subscription_id, r.released, r.state)
			SELECT org_id::text, subscription_id::text, bool_or(state = 'delivered'), bool_or(NOT released AND state <> 'delivered')
			FROM u GROUP BY org_id, subscription_id ORDER BY org_id, subscription_id`,
			orgs, ids, tokens, states, nexts, codes, latencies, errs, released, now)
		if err != nil {
			return err
		}
		type touched struct {
			org, id         string
			succeeded, fail bool
		}
		subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (touched, error) {
			var t touched
			err := r.Scan(&t.org, &t.id, &t.succeeded, &t.fail)
			return t, err
		})
		if err != nil {
			return err
		}
		for _, t := range subs {
			switch {
			case t.succeeded:
				_, err = tx.Exec(ctx, `UPDATE subscriptions SET failing_since = NULL
					WHERE org_id = $1 AND id = $2 AND failing_since IS NOT NULL`, t.org, t.id)
			case t.fail:
				var s directory.Subscription
				s, err = scanSubscription(tx.QueryRow(ctx, `WITH s AS (
						UPDATE subscriptions SET failing_since = coalesce(failing_since, $3),
							enabled = enabled AND NOT coalesce(failing_since <= $3 - $4::interval, false),
							disabled_reason = CASE WHEN enabled AND failing_since <= $3 - $4::interval THEN 'failing' ELSE disabled_reason END,
							disabled_at = CASE WHEN enabled AND failing_since <= $3 - $4::interval THEN $3 ELSE disabled_at END
						WHERE org_id = $1 AND id = $2 RETURNING *)
					SELECT `+subscriptionColumns+` FROM s WHERE s.disabled_reason = 'failing' AND s.disabled_at = $3`,
					t.org, t.id, now, SubscriptionFailingLimit))
				if errors.Is(err, pgx.ErrNoRows) {
					err = nil
					break
				}
				if err != nil {
					break
				}
				disabled = append(disabled, s)
				err = audit(ctx, tx, t.org, directory.Actor{Kind: "system", Name: "webhooks"}, "subscription.disable", "Subscription", t.id,
					nil, map[string]any{"reason": directory.SubscriptionFailing, "failingSince": s.FailingSince, "url": s.URL})
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return disabled, err
}

const deliveryColumns = `d.id, d.subscription_id::text, d.seq, coalesce(e.type, ''), coalesce(e.resource_type, ''),
	coalesce(e.resource_id, split_part(d.resource_key, '/', 2)), d.state, d.attempts,
	coalesce(d.status_code, 0), coalesce(d.latency_ms, 0), coalesce(d.last_error, ''), d.created_at, d.last_attempt_at,
	CASE WHEN d.state = 'pending' THEN d.next_attempt_at END, d.finished_at, coalesce(d.redelivery_of, 0)`

func scanDelivery(r pgx.Row) (directory.Delivery, error) {
	var d directory.Delivery
	err := r.Scan(&d.ID, &d.SubscriptionID, &d.Seq, &d.EventType, &d.ResourceType, &d.ResourceID, &d.State, &d.Attempts,
		&d.StatusCode, &d.LatencyMS, &d.LastError, &d.CreatedAt, &d.LastAttemptAt, &d.NextAttemptAt, &d.FinishedAt, &d.RedeliveryOf)
	return d, err
}

// DeliveryQuery pages a subscription's delivery log.
type DeliveryQuery struct {
	State  string // "" for every state
	Offset int
	Limit  int // 1 to 500; default 100
}

// Deliveries lists a subscription's delivery log, newest first, with the
// total. ErrNotFound: no such subscription; ErrInvalid: a bad state.
func (db *DB) Deliveries(ctx context.Context, orgID, subID string, q DeliveryQuery) ([]directory.Delivery, int, error) {
	switch q.State {
	case "", directory.DeliveryPending, directory.DeliveryDelivered, directory.DeliveryFailed:
	default:
		return nil, 0, directory.Invalidf("state %q: want pending, delivered or failed", q.State)
	}
	if _, err := db.Subscription(ctx, orgID, subID); err != nil {
		return nil, 0, err
	}
	limit := pageLimit(q.Limit)
	var total int
	var out []directory.Delivery
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM subscription_deliveries
			WHERE org_id = $1 AND subscription_id = $2 AND ($3 = '' OR state = $3)`, orgID, subID, q.State).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+deliveryColumns+` FROM subscription_deliveries d
			LEFT JOIN events e ON e.org_id = d.org_id AND e.id = d.event_id
			WHERE d.org_id = $1 AND d.subscription_id = $2 AND ($3 = '' OR d.state = $3)
			ORDER BY d.id DESC OFFSET $4 LIMIT $5`, orgID, subID, q.State, max(q.Offset, 0), limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Delivery, error) { return scanDelivery(r) })
		return err
	})
	return out, total, err
}

// Redeliver queues the event of a delivery again for its subscription, as
// a new delivery due now, whatever became of the first (its event keeps
// its id: the receiver may tell the repeat by it). ErrNotFound.
func (db *DB) Redeliver(ctx context.Context, actor directory.Actor, orgID, subID string, deliveryID int64, now time.Time) (directory.Delivery, error) {
	if !isUUID(subID) {
		return directory.Delivery{}, directory.NotFoundf("subscription %q not found", subID)
	}
	var out directory.Delivery
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO subscription_deliveries
				(org_id, subscription_id, event_id, seq, resource_key, next_attempt_at, created_at, redelivery_of)
			SELECT org_id, subscription_id, event_id, seq, resource_key, $4, $4, id FROM subscription_deliveries
			WHERE org_id = $1 AND subscription_id = $2 AND id = $3
			RETURNING id`, orgID, subID, deliveryID, now).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.NotFoundf("delivery %d not found", deliveryID)
		}
		if err != nil {
			return err
		}
		out, err = scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM subscription_deliveries d
			LEFT JOIN events e ON e.org_id = d.org_id AND e.id = d.event_id WHERE d.org_id = $1 AND d.id = $2`, orgID, id))
		if err != nil {
			return err
		}
		return audit(ctx, tx, orgID, actor, "subscription.redeliver", "Subscription", subID, nil,
			map[string]any{"delivery": deliveryID, "redelivery": id, "event": out.EventID()})
	})
	return out, err
}

// Bounds of the delivery log.
const (
	// DeliveryLogAge: finished deliveries older than this are pruned.
	DeliveryLogAge = 7 * 24 * time.Hour
	// DeliveryLogPerSubscription: the finished deliveries kept per
	// subscription, newest first.
	DeliveryLogPerSubscription = 10000
)

// PruneDeliveries deletes finished deliveries older than DeliveryLogAge
// and, per subscription, those past the newest
// DeliveryLogPerSubscription, at most max rows in all. It reports how
// many it deleted.
func (db *DB) PruneDeliveries(ctx context.Context, now time.Time, max int) (int, error) {
	var n int64
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM subscription_deliveries WHERE (org_id, id) IN (
				SELECT org_id, id FROM subscription_deliveries
				WHERE state <> 'pending' AND finished_at < $1 LIMIT $2)`, now.Add(-DeliveryLogAge), max)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `DELETE FROM subscription_deliveries d USING (
				SELECT s.org_id, s.id, (SELECT x.id FROM subscription_deliveries x
					WHERE x.org_id = s.org_id AND x.subscription_id = s.id
					ORDER BY x.id DESC OFFSET $1 LIMIT 1) AS below
				FROM subscriptions s) c
			WHERE c.below IS NOT NULL AND d.org_id = c.org_id AND d.subscription_id = c.id
			AND d.id <= c.below AND d.state <> 'pending'`, DeliveryLogPerSubscription)
		if err != nil {
			return err
		}
		n += tag.RowsAffected()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	return int(n), nil
}
