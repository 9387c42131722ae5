package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// WebhookOverlap is how long a replaced webhook secret keeps verifying:
// time to paste the new one into the Git host without losing deliveries.
const WebhookOverlap = 24 * time.Hour

// SetWebhookSecret stores the sealed webhook secret of a provider. The
// one it replaces keeps verifying for WebhookOverlap, unless
// revokePrevious (a leaked secret must stop at once). A rotation while
// the current secret has verified nothing yet keeps the previous one,
// which is then still the Git host's. The caller seals the secret; the
// store never sees it in the clear.
func (db *DB) SetWebhookSecret(ctx context.Context, actor directory.Actor, orgID, provider string, sealed []byte, revokePrevious bool) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_secrets AS w (org_id, provider, sealed) VALUES ($1, $2, $3)
			ON CONFLICT (org_id, provider) DO UPDATE SET
				previous_sealed = CASE WHEN $5 THEN NULL
					WHEN w.current_verified_at IS NULL AND w.previous_until > now() THEN w.previous_sealed ELSE w.sealed END,
				previous_until = CASE WHEN $5 THEN NULL
					WHEN w.current_verified_at IS NULL AND w.previous_until > now() THEN w.previous_until ELSE now() + $4::interval END,
				sealed = EXCLUDED.sealed, current_verified_at = NULL, created_at = now()`,
			orgID, provider, sealed, WebhookOverlap, revokePrevious); err != nil {
			return mapErr(err, "webhook secret")
		}
		return audit(ctx, tx, orgID, actor, "webhook.secret", "Webhook", provider, nil,
			map[string]any{"provider": provider, "previousRevoked": revokePrevious})
	})
}

// WebhookSecretVerified records that the current secret verified a
// delivery (the Git host has switched over). The caller calls it once.
func (db *DB) WebhookSecretVerified(ctx context.Context, orgID, provider string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE webhook_secrets SET current_verified_at = now()
		WHERE org_id = $1 AND provider = $2 AND current_verified_at IS NULL`, orgID, provider)
	return err
}

// WebhookSecrets returns the secrets that verify a provider's deliveries
// to an organization. ErrNotFound: no such organization or no secret set.
func (db *DB) WebhookSecrets(ctx context.Context, orgSlug, provider string) (WebhookKeys, error) {
	var k WebhookKeys
	var cur, prev []byte
	err := db.Pool.QueryRow(ctx, `SELECT o.id, w.sealed, CASE WHEN w.previous_until > now() THEN w.previous_sealed END,
			w.current_verified_at IS NOT NULL
		FROM organizations o JOIN webhook_secrets w ON w.org_id = o.id
		WHERE o.slug = $1 AND w.provider = $2`, orgSlug, provider).Scan(&k.OrgID, &cur, &prev, &k.CurrentVerified)
	if errors.Is(err, pgx.ErrNoRows) {
		return k, directory.NotFoundf("no %s webhook secret for %q", provider, orgSlug)
	}
	if err != nil {
		return k, err
	}
	k.Sealed = [][]byte{cur}
	if prev != nil {
		k.Sealed = append(k.Sealed, prev)
	}
	return k, nil
}

// WebhookKeys are the sealed secrets that verify a provider's deliveries.
type WebhookKeys struct {
	OrgID string
	// Sealed is the current secret, then the one it replaced while that
	// overlaps.
	Sealed [][]byte
	// CurrentVerified: the current secret has verified a delivery.
	CurrentVerified bool
}
