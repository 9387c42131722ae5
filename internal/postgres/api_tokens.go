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
// account of the organization, and returns its secret (shown once). Every
// token expires: ttl 0 means the default lifetime. Whether actor may mint
// for this owner is the caller's rule (directory.CheckAPITokenOwner for
// the admin API); the audit event names actor as the one who minted it
// and the owner apart, since the token will act, and be audited, as the
// owner. ErrInvalid: bad name, unknown owner, a lifetime above the
// maximum. ErrConflict: a live token has the name.
func (db *DB) CreateAPIToken(ctx context.Context, actor directory.Actor, orgID, ownerID, name string, ttl time.Duration) (APIToken, string, error) {
	if err := directory.ValidateTokenName(name); err != nil {
		return APIToken{}, "", err
	}
	if !isUUID(ownerID) {
		return APIToken{}, "", directory.Invalidf("owner %q is not a user id", ownerID)
	}
	expires, err := db.tokenExpiry(ttl)
	if err != nil {
		return APIToken{}, "", err
	}
	secret := directory.NewSecret(directory.APITokenPrefix)
	var t APIToken
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var ownerName string
		err := tx.QueryRow(ctx, `WITH owner AS (SELECT u.id, u.user_name FROM users u
				WHERE u.org_id = $1 AND u.id = $3 AND u.removed_at IS NULL AND u.active),
			t AS (INSERT INTO api_tokens (org_id, name, owner_id, token_hash, expires_at)
				SELECT $1, $2, owner.id, $4, $5 FROM owner RETURNING *)
			SELECT `+apiTokenColumns+`, owner.user_name FROM t, owner`, orgID, name, ownerID, directory.HashSecret(secret), expires).
			Scan(&t.ID, &t.OrgID, &t.Name, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt, &t.OwnerID, &ownerName)
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.Invalidf("owner %q is not an active user or service account of this organization", ownerID)
		}
		if err != nil {
			return mapErr(err, fmt.Sprintf("a live API token named %q", name))
		}
		return audit(ctx, tx, orgID, actor, "apitoken.create", "APIToken", t.ID, nil,
			map[string]any{"name": name, "owner": ownerID, "ownerUserName": ownerName, "expires": expires})
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

// APIAuth is what an admin API token authenticates.
type APIAuth struct {
	// Org is the token's own organization: the caller compares it with
	// the one a URL names.
	Org   directory.Organization
	Token APIToken
	// Owner is an active user or service account.
	Owner directory.User
	// Access is the owner's effective permissions.
	Access directory.Access
}

// apiAuthSQL finds a token by the digest $1 with its organization, its
// owner and the owner's permissions in one statement: nearly every route
// needs them, and a round trip costs more than reading them.
var apiAuthSQL = `SELECT o.id, o.slug, o.name, o.created_at,
		t.id, t.org_id, t.name, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.owner_id, t.token_hash, ` + userColumns + `, ` + accessColumns + `
	FROM api_tokens t JOIN organizations o ON o.id = t.org_id JOIN users u ON u.org_id = t.org_id AND u.id = t.owner_id` +
	accessJoins("u.org_id", "u.id", "") + `
	WHERE t.token_hash = $1`

// apiAuthRow receives a row of apiAuthSQL.
type apiAuthRow struct {
	auth APIAuth
	hash []byte
	a    accessRow
}

func (r *apiAuthRow) dest() []any {
	o, t := &r.auth.Org, &r.auth.Token
	d := append([]any{&o.ID, &o.Slug, &o.Name, &o.CreatedAt, &t.ID, &t.OrgID, &t.Name, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt, &t.OwnerID, &r.hash},
		userDest(&r.auth.Owner)...)
	return append(d, r.a.dest()...)
}

// apiAuthResult checks the token of a row of apiAuthSQL, given the error
// of scanning it, and records its use.
func (db *DB) apiAuthResult(ctx context.Context, r *apiAuthRow, want []byte, err error) (APIAuth, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return APIAuth{}, directory.ErrUnauthorized
	}
	if err != nil {
		return APIAuth{}, err
	}
	auth := r.auth
	if subtle.ConstantTimeCompare(r.hash, want) != 1 || auth.Token.Status(db.now()) != directory.TokenActive || auth.Owner.Status() != directory.StatusActive {
		return APIAuth{}, directory.ErrUnauthorized
	}
	if auth.Access, err = r.a.access(auth.Org.ID, auth.Owner.ID); err != nil {
		return APIAuth{}, err
	}
	// Last use is recorded at most once a minute per token, and only then
	// does authentication write.
	if t := auth.Token; t.LastUsedAt == nil || db.now().Sub(*t.LastUsedAt) > time.Minute {
		if _, err := db.Pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE org_id = $1 AND id = $2`, auth.Org.ID, t.ID); err != nil {
			db.log.Warn("record API token use", "err", err)
		}
	}
	return auth, nil
}

// AuthenticateAPI checks an admin API token. Every failure is
// ErrUnauthorized.
func (db *DB) AuthenticateAPI(ctx context.Context, secret string) (APIAuth, error) {
	if !directory.LooksLikeSecret(directory.APITokenPrefix, secret) {
		return APIAuth{}, directory.ErrUnauthorized
	}
	want := directory.HashSecret(secret)
	var r apiAuthRow
	err := db.Pool.QueryRow(ctx, apiAuthSQL, want).Scan(r.dest()...)
	return db.apiAuthResult(ctx, &r, want, err)
}

// subjectByTokenSQL is AuthorizeSubject's statement in the organization
// of the token whose digest is $1.
var subjectByTokenSQL = subjectSQL(`(SELECT t.org_id FROM api_tokens t WHERE t.token_hash = $1 LIMIT 1)`)

// AuthenticateAPIAndSubject is AuthenticateAPI and then AuthorizeSubject
// in the token's organization, in one round trip: authorize is on the
// platform's hot path. err is AuthenticateAPI's; subjErr is
// AuthorizeSubject's, and means something only when err is nil. The
// subject is read before the token is checked, but returned only if it
// passes.
func (db *DB) AuthenticateAPIAndSubject(ctx context.Context, secret string, q AuthorizeQuery) (auth APIAuth, s AuthorizeSubject, subjErr, err error) {
	if !directory.LooksLikeSecret(directory.APITokenPrefix, secret) {
		return APIAuth{}, s, nil, directory.ErrUnauthorized
	}
	want := directory.HashSecret(secret)
	var (
		ar               apiAuthRow
		sr               subjectRow
		authErr, scanErr error
	)
	b := &pgx.Batch{}
	// The scan errors are kept apart, not returned: a callback's error
	// would stop the batch.
	b.Queue(apiAuthSQL, want).QueryRow(func(row pgx.Row) error { authErr = row.Scan(ar.dest()...); return nil })
	b.Queue(subjectByTokenSQL, append([]any{want}, subjectArgs(q)...)...).
		QueryRow(func(row pgx.Row) error { scanErr = row.Scan(sr.dest()...); return nil })
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return APIAuth{}, s, nil, err
	}
	if auth, err = db.apiAuthResult(ctx, &ar, want, authErr); err != nil {
		return APIAuth{}, s, nil, err
	}
	s, subjErr = sr.result(q, scanErr)
	return auth, s, subjErr, nil
}
