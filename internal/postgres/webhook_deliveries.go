package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// WebhookDelivery is one push delivery of a Git host.
type WebhookDelivery struct {
	Provider string // directory.GitProviderGitHub or GitProviderGitLab
	ID       string // the host's delivery id (X-GitHub-Delivery, X-Gitlab-Event-UUID)
	Body     []byte // the raw body, as verified
}

// MaxDeliveryID bounds a delivery id: the hosts send a UUID.
const MaxDeliveryID = 128

var errDuplicateDelivery = errors.New("duplicate delivery")

// IngestWebhookDelivery ingests a push delivery's observations
// (IngestGitObservations) once: the delivery is recorded in the same
// transaction, and a delivery already recorded, by its id or by its body,
// stores nothing and reports duplicate. The record is an insert that does
// nothing on a conflict, so of concurrent copies exactly one ingests (the
// others wait for its commit, then find the row). The rows stay until the
// reconciler prunes them (PruneWebhookDeliveries).
func (db *DB) IngestWebhookDelivery(ctx context.Context, orgID string, d WebhookDelivery, obs []directory.GitObservation) (res IngestResult, duplicate bool, err error) {
	if d.ID == "" || len(d.ID) > MaxDeliveryID {
		return IngestResult{}, false, directory.Invalidf("a delivery id of 1 to %d characters is required", MaxDeliveryID)
	}
	sum := sha256.Sum256(d.Body)
	res, err = db.ingestGitObservations(ctx, orgID, obs, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (org_id, provider, delivery_id, payload_sha256)
			VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, orgID, d.Provider, d.ID, sum[:])
		if err != nil {
			return mapErr(err, "webhook delivery")
		}
		if tag.RowsAffected() == 0 {
			return errDuplicateDelivery
		}
		return nil
	})
	if errors.Is(err, errDuplicateDelivery) {
		return IngestResult{Observations: len(obs)}, true, nil
	}
	return res, false, err
}

// PruneWebhookDeliveries deletes the organization's delivery records
// received before cutoff: a copy of one of them that arrives later is
// ingested again (which the ingest's idempotence by commit keeps
// harmless). It returns how many it deleted.
func (s *ReconcileSession) PruneWebhookDeliveries(ctx context.Context, orgID string, cutoff time.Time) (int, error) {
	tag, err := s.conn.Exec(ctx, `DELETE FROM webhook_deliveries WHERE org_id = $1 AND received_at < $2`, orgID, cutoff)
	return int(tag.RowsAffected()), err
}
