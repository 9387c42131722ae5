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

const operatorTokenColumns = `id, name, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanOperatorToken(row pgx.Row) (directory.OperatorToken, error) {
	var t directory.OperatorToken
	err := row.Scan(&t.ID, &t.Name, &t.CreatedBy, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
	return t, err
}

// CreateOperatorToken mints an operator token and returns its secret,
// shown once. Its lifetime follows the rules of the SCIM and admin API
// tokens: ttl 0 is the default, never more than the maximum
// (SetMaxTokenTTL). The minting is on the operator's audit trail.
// ErrInvalid: a bad name, a lifetime above the maximum. ErrConflict: a
// live operator token has the name.
func (db *DB) CreateOperatorToken(ctx context.Context, actor directory.Actor, name string, ttl time.Duration) (directory.OperatorToken, string, error) {
	if err := directory.ValidateTokenName(name); err != nil {
		return directory.OperatorToken{}, "", err
	}
	expires, err := db.tokenExpiry(ttl)
	if err != nil {
		return directory.OperatorToken{}, "", err
	}
	secret := directory.NewSecret(directory.OperatorTokenPrefix)
	var t directory.OperatorToken
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanOperatorToken(tx.QueryRow(ctx, `INSERT INTO operator_tokens (name, token_hash, created_by, expires_at)
			VALUES ($1, $2, $3, $4) RETURNING `+operatorTokenColumns, name, directory.HashSecret(secret), actor.String(), expires))
		if err != nil {
			return mapErr(err, fmt.Sprintf("a live operator token named %q", name))
		}
		return operatorAudit(ctx, tx, actor, "operatortoken.create", "OperatorToken", t.ID, nil, nil,
			map[string]any{"name": name, "expires": expires})
	})
	if err != nil {
		return directory.OperatorToken{}, "", err
	}
	return t, secret, nil
}

// OperatorTokens lists the operator tokens, revoked and expired ones too,
// newest first.
func (db *DB) OperatorTokens(ctx context.Context) ([]directory.OperatorToken, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+operatorTokenColumns+` FROM operator_tokens ORDER BY created_at DESC, name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.OperatorToken, error) { return scanOperatorToken(r) })
}

// RevokeOperatorToken revokes a live operator token by id, or by name when
// no live token has that id. ErrNotFound: none.
func (db *DB) RevokeOperatorToken(ctx context.Context, actor directory.Actor, idOrName string) (directory.OperatorToken, error) {
	var t directory.OperatorToken
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := pgx.ErrNoRows
		if isUUID(idOrName) {
			t, err = scanOperatorToken(tx.QueryRow(ctx, `UPDATE operator_tokens SET revoked_at = now()
				WHERE id = $1 AND revoked_at IS NULL RETURNING `+operatorTokenColumns, idOrName))
		}
		if errors.Is(err, pgx.ErrNoRows) {
			t, err = scanOperatorToken(tx.QueryRow(ctx, `UPDATE operator_tokens SET revoked_at = now()
				WHERE name = $1 AND revoked_at IS NULL RETURNING `+operatorTokenColumns, idOrName))
		}
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.NotFoundf("live operator token %q not found", idOrName)
		}
		if err != nil {
			return err
		}
		return operatorAudit(ctx, tx, actor, "operatortoken.revoke", "OperatorToken", t.ID, nil, nil, map[string]any{"name": t.Name})
	})
	return t, err
}

// AuthenticateOperator checks an operator token: known by its digest
// (compared again in constant time after the indexed lookup), neither
// revoked nor expired by the store's clock. Every failure is
// ErrUnauthorized, whatever its cause. The last use is recorded at most
// once a minute.
func (db *DB) AuthenticateOperator(ctx context.Context, secret string) (directory.OperatorToken, error) {
	if !directory.LooksLikeSecret(directory.OperatorTokenPrefix, secret) {
		return directory.OperatorToken{}, directory.ErrUnauthorized
	}
	want := directory.HashSecret(secret)
	var (
		t    directory.OperatorToken
		hash []byte
	)
	err := db.Pool.QueryRow(ctx, `SELECT `+operatorTokenColumns+`, token_hash FROM operator_tokens WHERE token_hash = $1`, want).
		Scan(&t.ID, &t.Name, &t.CreatedBy, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return directory.OperatorToken{}, directory.ErrUnauthorized
	}
	if err != nil {
		return directory.OperatorToken{}, err
	}
	now := db.now()
	if subtle.ConstantTimeCompare(hash, want) != 1 || t.Status(now) != directory.TokenActive {
		return directory.OperatorToken{}, directory.ErrUnauthorized
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		if _, err := db.Pool.Exec(ctx, `UPDATE operator_tokens SET last_used_at = $2 WHERE id = $1`, t.ID, now); err != nil {
			db.log.Warn("record operator token use", "err", err)
		}
	}
	return t, nil
}
