package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// CreateBreakGlassLink mints a one-time login link for the organization's
// break-glass owner and returns its secret (shown once) and expiry. The
// issuance is audited.
func (db *DB) CreateBreakGlassLink(ctx context.Context, actor directory.Actor, orgID string) (string, time.Time, error) {
	var secret string
	var expires time.Time
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		secret, expires, err = insertBreakGlassLink(ctx, tx, actor, orgID)
		return err
	})
	return secret, expires, err
}

// insertBreakGlassLink mints a break-glass link with its audit event in
// tx, and returns its secret and expiry.
func insertBreakGlassLink(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID string) (string, time.Time, error) {
	secret := directory.NewSecret(directory.BreakGlassPrefix)
	var id string
	var expires time.Time
	err := tx.QueryRow(ctx, `INSERT INTO breakglass_links (org_id, token_hash, created_by, expires_at)
		VALUES ($1, $2, $3, now() + $4::interval) RETURNING id, expires_at`,
		orgID, directory.HashSecret(secret), actor.String(), directory.BreakGlassLinkTTL).Scan(&id, &expires)
	if err != nil {
		return "", time.Time{}, mapErr(err, "break-glass link")
	}
	return secret, expires, audit(ctx, tx, orgID, actor, "breakglass.link", "BreakGlassLink", id, nil, map[string]any{"expiresAt": expires})
}

// errBreakGlassRefused is every refusal of a break-glass link, whatever
// its cause: an anonymous caller must not learn from it whether the
// organization exists, nor how many attempts it has seen.
var errBreakGlassRefused = &directory.Error{Kind: directory.ErrUnauthorized,
	Msg: "this break-glass link is not valid: it is unknown, used already or expired; print a new one with scimbridge breakglass"}

// BreakGlassLinkOrganization returns the organization named by orgSlug
// when secret is one of its live links (unused, unexpired), without
// spending it: the anonymous page that asks to confirm a link shows the
// organization only to the holder of a valid link. Every failure (no
// such organization, a malformed, unknown, used or expired link) is the
// same ErrUnauthorized, found by one statement either way.
func (db *DB) BreakGlassLinkOrganization(ctx context.Context, orgSlug, secret string) (directory.Organization, error) {
	if !directory.LooksLikeSecret(directory.BreakGlassPrefix, secret) {
		return directory.Organization{}, errBreakGlassRefused
	}
	o, err := scanOrganization(db.Pool.QueryRow(ctx, `SELECT o.id, o.slug, o.name, o.created_at
		FROM breakglass_links l JOIN organizations o ON o.id = l.org_id
		WHERE o.slug = $1 AND l.token_hash = $2 AND l.used_at IS NULL AND l.expires_at > now()`,
		orgSlug, directory.HashSecret(secret)))
	if errors.Is(err, pgx.ErrNoRows) {
		return directory.Organization{}, errBreakGlassRefused
	}
	return o, err
}

// UseBreakGlassLink spends a break-glass link of the organization named by
// orgSlug and returns the organization and its break-glass owner. A valid
// link always works. Errors: ErrUnauthorized (no such organization, or an
// unknown, used or expired link, recorded as a failed attempt when the
// organization exists), ErrRateLimited (such a link after too many failed
// attempts lately, no longer recorded), ErrForbidden (the owner is not
// active). The caller answers the first two alike (see
// errBreakGlassRefused); ErrRateLimited is for its log. Every outcome but
// an unknown organization and ErrRateLimited is audited.
func (db *DB) UseBreakGlassLink(ctx context.Context, orgSlug, secret, from string) (directory.Organization, directory.User, error) {
	o, err := db.Organization(ctx, orgSlug)
	if errors.Is(err, directory.ErrNotFound) {
		return o, directory.User{}, errBreakGlassRefused
	}
	if err != nil {
		return o, directory.User{}, err
	}
	var owner directory.User
	denied := false
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		// A valid link always works: its 256 random bits cannot be
		// guessed, so the limit is on failures only, and junk requests
		// cannot lock the owner out.
		var linkID string
		err := tx.QueryRow(ctx, `UPDATE breakglass_links SET used_at = now()
			WHERE org_id = $1 AND token_hash = $2 AND used_at IS NULL AND expires_at > now() RETURNING id`,
			o.ID, directory.HashSecret(secret)).Scan(&linkID)
		if errors.Is(err, pgx.ErrNoRows) {
			// Failures are counted from the audit trail, which every
			// replica shares: a limit kept in memory would multiply by
			// the replicas. Past the limit nothing more is written.
			var failures int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM audit_events
				WHERE org_id = $1 AND occurred_at > now() - $2::interval AND action = 'breakglass.denied'`,
				o.ID, directory.BreakGlassWindow).Scan(&failures); err != nil {
				return err
			}
			if failures >= directory.BreakGlassMaxFailures {
				return &directory.Error{Kind: directory.ErrRateLimited,
					Msg: "too many failed break-glass attempts for this organization; wait a quarter of an hour, or use a valid link"}
			}
			denied = true
			return audit(ctx, tx, o.ID, directory.Actor{Kind: "anonymous", Name: from}, "breakglass.denied", "Organization", o.ID, nil, nil)
		}
		if err != nil {
			return err
		}
		owner, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u
			WHERE u.org_id = $1 AND u.source = 'breakglass' AND u.removed_at IS NULL`, o.ID))
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !owner.Active) {
			return directory.Forbiddenf("the break-glass owner of %s is not active", o.Slug)
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, o.ID, directory.Actor{Kind: "breakglass", Name: owner.UserName}, "breakglass.login", "User", owner.ID,
			nil, map[string]any{"link": linkID, "from": from})
	})
	if err == nil && denied {
		err = errBreakGlassRefused
	}
	return o, owner, err
}
