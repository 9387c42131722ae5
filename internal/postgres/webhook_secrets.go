package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// SetWebhookSecret stores (replacing) the sealed webhook secret of a
// provider. The caller seals it; the store never sees it in the clear.
func (db *DB) SetWebhookSecret(ctx context.Context, actor directory.Actor, orgID, provider string, sealed []byte) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_secrets (org_id, provider, sealed) VALUES ($1, $2, $3)
			ON CONFLICT (org_id, provider) DO UPDATE SET sealed = EXCLUDED.sealed, created_at = now()`, orgID, provider, sealed); err != nil {
			return mapErr(err, "webhook secret")
		}
		return audit(ctx, tx, orgID, actor, "webhook.secret", "Webhook", provider, nil, map[string]any{"provider": provider})
	})
}

// WebhookSecret returns an organization's id and its sealed secret for a
// provider. ErrNotFound: no such organization or no secret set.
func (db *DB) WebhookSecret(ctx context.Context, orgSlug, provider string) (string, []byte, error) {
	var orgID string
	var sealed []byte
	err := db.Pool.QueryRow(ctx, `SELECT o.id, w.sealed FROM organizations o JOIN webhook_secrets w ON w.org_id = o.id
		WHERE o.slug = $1 AND w.provider = $2`, orgSlug, provider).Scan(&orgID, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, directory.NotFoundf("no %s webhook secret for %q", provider, orgSlug)
	}
	return orgID, sealed, err
}
