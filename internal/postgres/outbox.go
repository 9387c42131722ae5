package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// MaxMailAttempts is how often a mail is tried before it is given up.
const MaxMailAttempts = 8

// mailBackoff is the wait before attempt n+1: 30 s, doubling, at most an hour.
func mailBackoff(attempts int) time.Duration {
	d := 30 * time.Second << min(attempts, 7)
	return min(d, time.Hour)
}

// DeliverNext takes the next due mail of the outbox and hands it to
// deliver with a freshly minted invitation secret. When deliver succeeds,
// the secret's digest becomes the invitation's token and the mail is
// marked sent; when it fails, the mail is retried later with backoff, and
// given up after MaxMailAttempts. The row stays locked (FOR UPDATE SKIP
// LOCKED) while deliver runs, so replicas never send one mail twice. It
// reports whether there was a mail to deliver.
func (db *DB) DeliverNext(ctx context.Context, deliver func(ctx context.Context, inv directory.Invitation, secret string) error) (bool, error) {
	found := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var orgID, id, refID string
		var attempts int
		err := tx.QueryRow(ctx, `SELECT org_id, id::text, ref_id::text, attempts FROM outbox
			WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
			ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED`).Scan(&orgID, &id, &refID, &attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		inv, err := scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationColumns+` FROM invitations i WHERE i.org_id = $1 AND i.id = $2 FOR UPDATE`, orgID, refID))
		if err != nil {
			return err
		}
		if inv.State(db.now()) != "pending" {
			// Revoked or accepted meanwhile: nothing to send.
			_, err := tx.Exec(ctx, `UPDATE outbox SET sent_at = now(), last_error = 'not sent: invitation no longer pending' WHERE org_id = $1 AND id = $2`, orgID, id)
			return err
		}
		secret := directory.NewSecret(directory.InvitationTokenPrefix)
		dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		derr := deliver(dctx, inv, secret)
		cancel()
		if derr != nil {
			attempts++
			msg := derr.Error()
			if len(msg) > 500 {
				msg = msg[:500]
			}
			if attempts >= MaxMailAttempts {
				_, err = tx.Exec(ctx, `UPDATE outbox SET attempts = $3, failed_at = now(), last_error = $4 WHERE org_id = $1 AND id = $2`, orgID, id, attempts, msg)
				db.log.Error("mail given up", "kind", "invitation", "invitation", inv.ID, "attempts", attempts, "err", msg)
			} else {
				_, err = tx.Exec(ctx, `UPDATE outbox SET attempts = $3, next_attempt_at = now() + $4::interval, last_error = $5 WHERE org_id = $1 AND id = $2`,
					orgID, id, attempts, fmt.Sprintf("%d seconds", int64(mailBackoff(attempts).Seconds())), msg)
				db.log.Warn("mail failed; will retry", "kind", "invitation", "invitation", inv.ID, "attempts", attempts, "err", msg)
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET token_hash = $3, sent_at = now() WHERE org_id = $1 AND id = $2`,
			orgID, inv.ID, directory.HashSecret(secret)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1, sent_at = now(), last_error = NULL WHERE org_id = $1 AND id = $2`, orgID, id)
		return err
	})
	return found, err
}

// OutboxMail is one outbox row, for operators and tests.
type OutboxMail struct {
	ID        int64
	RefID     string
	Attempts  int
	SentAt    *time.Time
	FailedAt  *time.Time
	LastError string
}

// Outbox lists an organization's outbox, oldest first.
func (db *DB) Outbox(ctx context.Context, orgID string) ([]OutboxMail, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, ref_id::text, attempts, sent_at, failed_at, coalesce(last_error, '') FROM outbox WHERE org_id = $1 ORDER BY id`, orgID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxMail, error) {
		var m OutboxMail
		err := r.Scan(&m.ID, &m.RefID, &m.Attempts, &m.SentAt, &m.FailedAt, &m.LastError)
		return m, err
	})
}

// RetryMailNow makes every pending mail of the organization due at once
// (operators, after fixing SMTP; tests).
func (db *DB) RetryMailNow(ctx context.Context, orgID string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE outbox SET next_attempt_at = now() WHERE org_id = $1 AND sent_at IS NULL AND failed_at IS NULL`, orgID)
	return err
}
