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

// SetWebhookSecret stores the sealed webhook secret of a provider; the
// one it replaces keeps verifying for WebhookOverlap. The caller seals
// it; the store never sees it in the clear.
func (db *DB) SetWebhookSecret(ctx context.Context, actor directory.Actor, orgID, provider string, sealed []byte) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_secrets AS w (org_id, provider, sealed) VALUES ($1, $2, $3)
			ON CONFLICT (org_id, provider) DO UPDATE SET previous_sealed = w.sealed, previous_until = now() + $4::interval,
				sealed = EXCLUDED.sealed, created_at = now()`, orgID, provider, sealed, WebhookOverlap); err != nil {
			return mapErr(err, "webhook secret")
		}
		return audit(ctx, tx, orgID, actor, "webhook.secret", "Webhook", provider, nil,
			map[string]any{"provider": provider, "previousValidFor": WebhookOverlap.String()})
	})
}

// WebhookSecrets returns an organization's id and the sealed secrets that
// verify a provider's deliveries: the current one, then the one it
// replaced while that overlaps. ErrNotFound: no such organization or no
// secret set.
func (db *DB) WebhookSecrets(ctx context.Context, orgSlug, provider string) (string, [][]byte, error) {
	var orgID string
	var cur, prev []byte
	err := db.Pool.QueryRow(ctx, `SELECT o.id, w.sealed, CASE WHEN w.previous_until > now() THEN w.previous_sealed END
		FROM organizations o JOIN webhook_secrets w ON w.org_id = o.id
		WHERE o.slug = $1 AND w.provider = $2`, orgSlug, provider).Scan(&orgID, &cur, &prev)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, directory.NotFoundf("no %s webhook secret for %q", provider, orgSlug)
	}
	if err != nil {
		return "", nil, err
	}
	out := [][]byte{cur}
	if prev != nil {
		out = append(out, prev)
	}
	return orgID, out, nil
}
