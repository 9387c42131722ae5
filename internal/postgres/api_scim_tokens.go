package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// CreateSCIMTokenBy creates a token for the organization and returns it
// with its plain secret, which is not stored and cannot be shown again.
// Every token expires: ttl 0 means the default lifetime. The token and
// the audit event that names actor commit together. ErrInvalid: a bad
// name, a lifetime above the maximum. ErrConflict: a live token has this
// name.
func (db *DB) CreateSCIMTokenBy(ctx context.Context, actor directory.Actor, orgID, name string, ttl time.Duration) (directory.SCIMToken, string, error) {
	if err := directory.ValidateTokenName(name); err != nil {
		return directory.SCIMToken{}, "", err
	}
	expires, err := db.tokenExpiry(ttl)
	if err != nil {
		return directory.SCIMToken{}, "", err
	}
	secret := directory.NewSecret(directory.SCIMTokenPrefix)
	var t directory.SCIMToken
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = insertSCIMToken(ctx, tx, actor, orgID, name, secret, expires)
		return err
	})
	if err != nil {
		return directory.SCIMToken{}, "", err
	}
	return t, secret, nil
}

// insertSCIMToken stores a SCIM token with its audit event in tx; name and
// expires are checked already.
func insertSCIMToken(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID, name, secret string, expires time.Time) (directory.SCIMToken, error) {
	t, err := scanSCIMToken(tx.QueryRow(ctx, `INSERT INTO scim_tokens (org_id, name, token_hash, expires_at)
		VALUES ($1, $2, $3, $4) RETURNING `+scimTokenColumns, orgID, name, directory.HashSecret(secret), expires))
	if err != nil {
		return t, mapErr(err, fmt.Sprintf("a live token named %q", name))
	}
	return t, audit(ctx, tx, orgID, actor, "scimtoken.create", "SCIMToken", t.ID, nil, map[string]any{"name": name, "expires": expires})
}

// RevokeSCIMTokenBy revokes the live token with this name, with an audit
// event that names actor in the same transaction. ErrNotFound: no live
// token has the name.
func (db *DB) RevokeSCIMTokenBy(ctx context.Context, actor directory.Actor, orgID, name string) (directory.SCIMToken, error) {
	var t directory.SCIMToken
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanSCIMToken(tx.QueryRow(ctx, `UPDATE scim_tokens SET revoked_at = now()
			WHERE org_id = $1 AND name = $2 AND revoked_at IS NULL RETURNING `+scimTokenColumns, orgID, name))
		if err != nil {
			return mapErr(err, fmt.Sprintf("live token %q", name))
		}
		return audit(ctx, tx, orgID, actor, "scimtoken.revoke", "SCIMToken", t.ID, nil, map[string]any{"name": t.Name})
	})
	return t, err
}
