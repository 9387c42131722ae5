package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Session is a browser session; its id is never stored, only its digest.
type Session struct {
	OrgID      string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// CreateSession starts a session of an active user that lasts at most ttl,
// and returns its id (shown once, to be set as a cookie). A login always
// gets a new id, so that an id planted before the login is worthless.
func (db *DB) CreateSession(ctx context.Context, orgID, userID string, ttl time.Duration) (string, error) {
	if !isUUID(userID) || ttl <= 0 {
		return "", directory.Invalidf("a session needs a user and a positive lifetime")
	}
	id := directory.NewSecret(directory.SessionPrefix)
	tag, err := db.Pool.Exec(ctx, `INSERT INTO sessions (org_id, id_hash, user_id, expires_at)
		SELECT $1, $2, u.id, now() + $4::interval FROM users u WHERE u.org_id = $1 AND u.id = $3 AND u.active AND u.removed_at IS NULL`,
		orgID, directory.HashSecret(id), userID, ttl)
	if err != nil {
		return "", mapErr(err, "session")
	}
	if tag.RowsAffected() == 0 {
		return "", directory.Forbiddenf("the account is not active in this organization")
	}
	return id, nil
}

// SessionUser returns the session with this id in the organization named
// by orgSlug, and its user. The session must be unrevoked, not past its
// absolute expiry, seen within idle (0: no idle timeout), and its user
// active and not removed. Every failure is ErrUnauthorized: a session of
// another organization is as unknown as a made-up one. Last use is
// recorded at most once a minute, so that reads stay reads.
func (db *DB) SessionUser(ctx context.Context, orgSlug, id string, idle time.Duration) (Session, directory.User, error) {
	var s Session
	if !directory.LooksLikeSecret(directory.SessionPrefix, id) {
		return s, directory.User{}, directory.ErrUnauthorized
	}
	hash := directory.HashSecret(id)
	var stale bool
	var u directory.User
	// Times are compared with the database's clock, which every replica
	// shares.
	err := db.Pool.QueryRow(ctx, `SELECT s.org_id, s.user_id, s.created_at, s.last_seen_at, s.expires_at,
			s.last_seen_at < now() - interval '1 minute', `+userColumns+`
		FROM organizations o JOIN sessions s ON s.org_id = o.id JOIN users u ON u.org_id = s.org_id AND u.id = s.user_id
		WHERE o.slug = $1 AND s.id_hash = $2 AND s.revoked_at IS NULL AND s.expires_at > now()
			AND ($3::interval IS NULL OR s.last_seen_at > now() - $3::interval)
			AND u.active AND u.removed_at IS NULL AND u.kind = 'human'`,
		orgSlug, hash, idleInterval(idle)).
		Scan(append([]any{&s.OrgID, &s.UserID, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt, &stale}, userDest(&u)...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, directory.User{}, directory.ErrUnauthorized
	}
	if err != nil {
		return s, directory.User{}, err
	}
	if stale {
		if _, err := db.Pool.Exec(ctx, `UPDATE sessions SET last_seen_at = now() WHERE org_id = $1 AND id_hash = $2`, s.OrgID, hash); err != nil {
			db.log.Warn("record session use", "err", err)
		}
	}
	return s, u, nil
}

func idleInterval(idle time.Duration) *time.Duration {
	if idle <= 0 {
		return nil
	}
	return &idle
}

// RevokeSession ends the session with this id in the organization named by
// orgSlug (logout). An unknown or ended session is not an error.
func (db *DB) RevokeSession(ctx context.Context, orgSlug, id string) error {
	if !directory.LooksLikeSecret(directory.SessionPrefix, id) {
		return nil
	}
	_, err := db.Pool.Exec(ctx, `UPDATE sessions s SET revoked_at = now() FROM organizations o
		WHERE o.slug = $1 AND s.org_id = o.id AND s.id_hash = $2 AND s.revoked_at IS NULL`, orgSlug, directory.HashSecret(id))
	return err
}

// RevokeUserSessions ends every live session of a user, and returns how
// many it ended. Deactivating or removing a user calls it (SessionUser
// also refuses the sessions of an inactive user, so a missed call cannot
// leave one alive; revoking makes the end explicit and permanent, should
// the user be reactivated).
func (db *DB) RevokeUserSessions(ctx context.Context, orgID, userID string) (int64, error) {
	return revokeUserSessions(ctx, db.Pool, orgID, userID)
}

// revokeUserSessions is RevokeUserSessions inside the caller's transaction
// (pass the pgx.Tx that deactivates or removes the user).
func revokeUserSessions(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, orgID, userID string) (int64, error) {
	tag, err := q.Exec(ctx, `UPDATE sessions SET revoked_at = now() WHERE org_id = $1 AND user_id = $2 AND revoked_at IS NULL`, orgID, userID)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// revokeUserAccess ends, in the caller's transaction, everything that lets
// a user act: its API tokens and its login sessions (deactivation and
// removal). It returns how many tokens it revoked.
func revokeUserAccess(ctx context.Context, tx pgx.Tx, orgID, userID string) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE org_id = $1 AND owner_id = $2 AND revoked_at IS NULL`, orgID, userID)
	if err != nil {
		return 0, err
	}
	if _, err := revokeUserSessions(ctx, tx, orgID, userID); err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
