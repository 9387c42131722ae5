package postgres

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// APIToken is an admin API token; the plain secret is never stored.
type APIToken struct {
	directory.SCIMToken
	OwnerID string
}

const apiTokenColumns = `t.id, t.org_id, t.name, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.owner_id`

func scanAPIToken(row pgx.Row) (APIToken, error) {
	var t APIToken
	err := row.Scan(&t.ID, &t.OrgID, &t.Name, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt, &t.OwnerID)
	return t, err
}

// CreateAPIToken creates an admin API token owned by a user or service
// account of the organization, and returns its secret (shown once).
// ErrInvalid: bad name or unknown owner. ErrConflict: a live token has the
// name.
func (db *DB) CreateAPIToken(ctx context.Context, actor directory.Actor, orgID, ownerID, name string, ttl time.Duration) (APIToken, string, error) {
	if err := directory.ValidateTokenName(name); err != nil {
		return APIToken{}, "", err
	}
	if !isUUID(ownerID) {
		return APIToken{}, "", directory.Invalidf("owner %q is not a user id", ownerID)
	}
	secret := directory.NewSecret(directory.APITokenPrefix)
	var expires *time.Time
	if ttl > 0 {
		e := db.now().Add(ttl)
		expires = &e
	}
	var t APIToken
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanAPIToken(tx.QueryRow(ctx, `INSERT INTO api_tokens AS t (org_id, name, owner_id, token_hash, expires_at)
			SELECT $1, $2, u.id, $4, $5 FROM users u WHERE u.org_id = $1 AND u.id = $3 AND u.removed_at IS NULL AND u.active
			RETURNING `+apiTokenColumns, orgID, name, ownerID, directory.HashSecret(secret), expires))
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.Invalidf("owner %q is not an active user or service account of this organization", ownerID)
		}
		if err != nil {
			return mapErr(err, fmt.Sprintf("a live API token named %q", name))
		}
		return audit(ctx, tx, orgID, actor, "apitoken.create", "APIToken", t.ID, nil, map[string]any{"name": name, "owner": ownerID, "expires": expires})
	})
	return t, secret, err
}

// APITokens lists the organization's API tokens, newest first.
func (db *DB) APITokens(ctx context.Context, orgID string) ([]APIToken, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens t WHERE t.org_id = $1 ORDER BY t.created_at DESC, t.name`, orgID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIToken, error) { return scanAPIToken(r) })
}

// RevokeAPIToken revokes a live token by id or name. ErrNotFound: none.
func (db *DB) RevokeAPIToken(ctx context.Context, actor directory.Actor, orgID, idOrName string) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		t, err := scanAPIToken(tx.QueryRow(ctx, `UPDATE api_tokens t SET revoked_at = now()
			WHERE t.org_id = $1 AND (t.name = $2 OR t.id::text = $2) AND t.revoked_at IS NULL RETURNING `+apiTokenColumns, orgID, idOrName))
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.NotFoundf("live API token %q not found", idOrName)
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, orgID, actor, "apitoken.revoke", "APIToken", t.ID, nil, map[string]any{"name": t.Name})
	})
}

// AuthenticateAPI checks an admin API token and returns its organization
// and its owner, who must be an active user. The organization is the
// token's own: the caller compares it with the one a URL names. Every
// failure is ErrUnauthorized.
func (db *DB) AuthenticateAPI(ctx context.Context, secret string) (directory.Organization, APIToken, directory.User, error) {
	var (
		o    directory.Organization
		t    APIToken
		hash []byte
	)
	if !directory.LooksLikeSecret(directory.APITokenPrefix, secret) {
		return o, t, directory.User{}, directory.ErrUnauthorized
	}
	want := directory.HashSecret(secret)
	// One statement finds the token, its organization and its owner.
	var owner directory.User
	var groups []directory.GroupRef
	err := db.Pool.QueryRow(ctx, `SELECT o.id, o.slug, o.name, o.created_at,
			t.id, t.org_id, t.name, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.owner_id, t.token_hash, `+userColumns+`
		FROM api_tokens t JOIN organizations o ON o.id = t.org_id JOIN users u ON u.org_id = t.org_id AND u.id = t.owner_id
		WHERE t.token_hash = $1`, want).
		Scan(&o.ID, &o.Slug, &o.Name, &o.CreatedAt, &t.ID, &t.OrgID, &t.Name, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt, &t.OwnerID, &hash,
			&owner.ID, &owner.OrgID, &owner.UserName, &owner.ExternalID, &owner.Active, &owner.DisplayName, &owner.GivenName, &owner.FamilyName,
			&owner.Emails, &owner.Attributes, &owner.Version, &owner.CreatedAt, &owner.UpdatedAt, &owner.Kind, &owner.Source, &owner.RemovedAt, &groups)
	owner.Groups = groups
	if errors.Is(err, pgx.ErrNoRows) {
		return o, t, directory.User{}, directory.ErrUnauthorized
	}
	if err != nil {
		return o, t, directory.User{}, err
	}
	if subtle.ConstantTimeCompare(hash, want) != 1 || t.Status(db.now()) != directory.TokenActive || owner.Status() != directory.StatusActive {
		return o, t, owner, directory.ErrUnauthorized
	}
	// Last use is recorded at most once a minute per token, and only then
	// does authentication write.
	if t.LastUsedAt == nil || db.now().Sub(*t.LastUsedAt) > time.Minute {
		if _, err := db.Pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE org_id = $1 AND id = $2`, o.ID, t.ID); err != nil {
			db.log.Warn("record API token use", "err", err)
		}
	}
	return o, t, owner, nil
}
