package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Outbound webhook subscriptions (migrations/00032_subscriptions.sql). The
// store never sees a signing secret in the clear: the caller seals it
// (internal/webhooks) and the delivery worker opens it.

// SubscriptionOverlap is how long the secret a rotation replaces keeps
// signing beside the new one: time for the receiver to switch over.
const SubscriptionOverlap = 24 * time.Hour

const subscriptionColumns = `s.id::text, s.org_id::text, s.url, s.event_types, s.description, s.enabled,
	coalesce(s.disabled_reason, ''), s.disabled_at, s.failing_since,
	CASE WHEN s.previous_sealed IS NOT NULL AND s.previous_until > now() THEN s.previous_until END,
	s.created_at, s.updated_at`

func scanSubscription(r pgx.Row) (directory.Subscription, error) {
	var s directory.Subscription
	err := r.Scan(&s.ID, &s.OrgID, &s.URL, &s.EventTypes, &s.Description, &s.Enabled,
		&s.DisabledReason, &s.DisabledAt, &s.FailingSince, &s.PreviousSecretUntil, &s.CreatedAt, &s.UpdatedAt)
	if s.EventTypes == nil {
		s.EventTypes = []string{}
	}
	return s, err
}

func auditSubscription(s directory.Subscription) map[string]any {
	return map[string]any{"url": s.URL, "eventTypes": s.EventTypes, "description": s.Description, "enabled": s.Enabled}
}

// CreateSubscription stores a new subscription of s.OrgID. seal is given
// the new subscription's id and returns its sealed signing secret. The
// subscription receives the events numbered from now on. ErrInvalid: more
// than MaxSubscriptionsPerOrg, or a bad field.
func (db *DB) CreateSubscription(ctx context.Context, actor directory.Actor, s directory.Subscription, seal func(id string) []byte) (directory.Subscription, error) {
	if s.EventTypes == nil {
		s.EventTypes = []string{}
	}
	// Number the events committed so far, so that the cursor below starts
	// after them: the subscription gets what is committed from now on.
	if _, err := db.SequenceEvents(ctx, 1000000); err != nil {
		return directory.Subscription{}, err
	}
	var out directory.Subscription
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// The organization's row serialises creations, so that the bound
		// holds under concurrent requests.
		var n int
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM subscriptions WHERE org_id = o.id)
			FROM organizations o WHERE o.id = $1 FOR UPDATE`, s.OrgID).Scan(&n); err != nil {
			return mapErr(err, "organization")
		}
		if n >= directory.MaxSubscriptionsPerOrg {
			return directory.Invalidf("an organization has at most %d subscriptions; delete one first", directory.MaxSubscriptionsPerOrg)
		}
		var id string
		if err := tx.QueryRow(ctx, `SELECT gen_random_uuid()::text`).Scan(&id); err != nil {
			return err
		}
		var err error
		out, err = scanSubscription(tx.QueryRow(ctx, `WITH s AS (
				INSERT INTO subscriptions (org_id, id, url, event_types, description, enabled, sealed, cursor_seq)
				VALUES ($1, $2, $3, $4, $5, $6, $7,
					(SELECT coalesce(max(seq), 0) FROM events WHERE org_id = $1 AND seq IS NOT NULL))
				RETURNING *)
			SELECT `+subscriptionColumns+` FROM s`,
			s.OrgID, id, s.URL, s.EventTypes, s.Description, s.Enabled, seal(id)))
		if err != nil {
			return mapErr(err, "subscription")
		}
		return audit(ctx, tx, s.OrgID, actor, "subscription.create", "Subscription", id, nil, auditSubscription(out))
	})
	return out, err
}

// Subscriptions lists an organization's subscriptions, oldest first.
func (db *DB) Subscriptions(ctx context.Context, orgID string) ([]directory.Subscription, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions s WHERE s.org_id = $1 ORDER BY s.created_at, s.id`, orgID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Subscription, error) { return scanSubscription(r) })
}

// Subscription returns one subscription. ErrNotFound.
func (db *DB) Subscription(ctx context.Context, orgID, id string) (directory.Subscription, error) {
	if !isUUID(id) {
		return directory.Subscription{}, directory.NotFoundf("subscription %q not found", id)
	}
	s, err := scanSubscription(db.Pool.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions s WHERE s.org_id = $1 AND s.id = $2`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, directory.NotFoundf("subscription %q not found", id)
	}
	return s, err
}

// SubscriptionPatch changes a subscription; nil fields stay.
type SubscriptionPatch struct {
	URL         *string
	EventTypes  *[]string
	Description *string
	Enabled     *bool
}

// UpdateSubscription changes a subscription. Enabling one clears its
// failure record: it is given a fresh 24 hours before it is disabled
// again. ErrNotFound; ErrInvalid: a bad field.
func (db *DB) UpdateSubscription(ctx context.Context, actor directory.Actor, orgID, id string, p SubscriptionPatch) (directory.Subscription, error) {
	if !isUUID(id) {
		return directory.Subscription{}, directory.NotFoundf("subscription %q not found", id)
	}
	var types []string
	if p.EventTypes != nil {
		types = *p.EventTypes
		if types == nil {
			types = []string{}
		}
	}
	var out directory.Subscription
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		before, err := scanSubscription(tx.QueryRow(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions s WHERE s.org_id = $1 AND s.id = $2 FOR UPDATE`, orgID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.NotFoundf("subscription %q not found", id)
		}
		if err != nil {
			return err
		}
		out, err = scanSubscription(tx.QueryRow(ctx, `WITH s AS (
				UPDATE subscriptions SET
					url = coalesce($3, url),
					event_types = CASE WHEN $4 THEN $5::text[] ELSE event_types END,
					description = coalesce($6, description),
					enabled = coalesce($7, enabled),
					failing_since = CASE WHEN $7 AND NOT enabled THEN NULL ELSE failing_since END,
					disabled_reason = CASE WHEN $7 IS NOT NULL THEN NULL ELSE disabled_reason END,
					disabled_at = CASE WHEN $7 = false AND enabled THEN now() WHEN $7 THEN NULL ELSE disabled_at END,
					updated_at = now()
				WHERE org_id = $1 AND id = $2 RETURNING *)
			SELECT `+subscriptionColumns+` FROM s`,
			orgID, id, p.URL, p.EventTypes != nil, types, p.Description, p.Enabled))
		if err != nil {
			return mapErr(err, "subscription")
		}
		return audit(ctx, tx, orgID, actor, "subscription.update", "Subscription", id, auditSubscription(before), auditSubscription(out))
	})
	return out, err
}

// DeleteSubscription deletes a subscription with its delivery log; what
// was pending is not sent. ErrNotFound.
func (db *DB) DeleteSubscription(ctx context.Context, actor directory.Actor, orgID, id string) error {
	if !isUUID(id) {
		return directory.NotFoundf("subscription %q not found", id)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		s, err := scanSubscription(tx.QueryRow(ctx, `WITH s AS (DELETE FROM subscriptions WHERE org_id = $1 AND id = $2 RETURNING *)
			SELECT `+subscriptionColumns+` FROM s`, orgID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.NotFoundf("subscription %q not found", id)
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, orgID, actor, "subscription.delete", "Subscription", id, auditSubscription(s), nil)
	})
}

// RotateSubscriptionSecret replaces the signing secret with sealed. The
// one it replaces keeps signing beside it for SubscriptionOverlap (the
// signature then carries two v1 values), unless revokePrevious (a leaked
// secret must stop at once). ErrNotFound.
func (db *DB) RotateSubscriptionSecret(ctx context.Context, actor directory.Actor, orgID, id string, sealed []byte, revokePrevious bool) (directory.Subscription, error) {
	if !isUUID(id) {
		return directory.Subscription{}, directory.NotFoundf("subscription %q not found", id)
	}
	var out directory.Subscription
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanSubscription(tx.QueryRow(ctx, `WITH s AS (
				UPDATE subscriptions SET
					previous_sealed = CASE WHEN $4 THEN NULL ELSE sealed END,
					previous_until = CASE WHEN $4 THEN NULL ELSE now() + $5::interval END,
					sealed = $3, updated_at = now()
				WHERE org_id = $1 AND id = $2 RETURNING *)
			SELECT `+subscriptionColumns+` FROM s`, orgID, id, sealed, revokePrevious, SubscriptionOverlap))
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.NotFoundf("subscription %q not found", id)
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, orgID, actor, "subscription.rotate", "Subscription", id, nil, map[string]any{"previousRevoked": revokePrevious})
	})
	return out, err
}
