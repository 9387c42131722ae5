package postgres

import (
	"context"
	"crypto/subtle"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

const scimTokenColumns = `id, org_id, name, created_at, expires_at, last_used_at, revoked_at`

func scanSCIMToken(row pgx.Row) (directory.SCIMToken, error) {
	var t directory.SCIMToken
	err := row.Scan(&t.ID, &t.OrgID, &t.Name, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
	return t, err
}

// CreateSCIMToken creates a token for the organization and returns it with
// its plain secret, which is not stored and cannot be shown again. ttl 0
// means the default lifetime. The audit event names the service itself; changes that
// someone makes go through CreateSCIMTokenBy. ErrConflict: a live token
// has this name.
func (db *DB) CreateSCIMToken(ctx context.Context, orgID, name string, ttl time.Duration) (directory.SCIMToken, string, error) {
	return db.CreateSCIMTokenBy(ctx, directory.Actor{Kind: "system", Name: "scimbridge"}, orgID, name, ttl)
}

// SCIMTokens lists the organization's tokens, revoked ones included, newest first.
func (db *DB) SCIMTokens(ctx context.Context, orgID string) ([]directory.SCIMToken, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+scimTokenColumns+` FROM scim_tokens
		WHERE org_id = $1 ORDER BY created_at DESC, name`, orgID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.SCIMToken, error) { return scanSCIMToken(r) })
}

// RevokeSCIMToken revokes the live token with this name, audited as the
// service's own change (see RevokeSCIMTokenBy). ErrNotFound: there is none.
func (db *DB) RevokeSCIMToken(ctx context.Context, orgID, name string) (directory.SCIMToken, error) {
	return db.RevokeSCIMTokenBy(ctx, directory.Actor{Kind: "system", Name: "scimbridge"}, orgID, name)
}

// AuthenticateSCIM checks a bearer secret against the organization with
// this slug. Any failure (unknown organization, unknown, revoked or
// expired token, a token of another organization) is ErrUnauthorized, so
// that a caller learns nothing about which part was wrong.
func (db *DB) AuthenticateSCIM(ctx context.Context, orgSlug, secret string) (directory.Organization, directory.SCIMToken, error) {
	var (
		o    directory.Organization
		t    directory.SCIMToken
		hash []byte
	)
	if !directory.LooksLikeSecret(directory.SCIMTokenPrefix, secret) {
		return o, t, directory.ErrUnauthorized
	}
	want := directory.HashSecret(secret)
	err := db.Pool.QueryRow(ctx, `SELECT o.id, o.slug, o.name, o.created_at,
			t.id, t.org_id, t.name, t.created_at, t.expires_at, t.last_used_at, t.revoked_at, t.token_hash
		FROM organizations o JOIN scim_tokens t ON t.org_id = o.id
		WHERE o.slug = $1 AND t.token_hash = $2`, orgSlug, want).
		Scan(&o.ID, &o.Slug, &o.Name, &o.CreatedAt,
			&t.ID, &t.OrgID, &t.Name, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt, &hash)
	if err != nil {
		if err == pgx.ErrNoRows {
			return o, t, directory.ErrUnauthorized
		}
		return o, t, err
	}
	// The index found the row by digest; compare again in constant time so
	// that correctness never rests on the lookup alone.
	if subtle.ConstantTimeCompare(hash, want) != 1 || t.Status(db.now()) != directory.TokenActive {
		return o, t, directory.ErrUnauthorized
	}
	return o, t, nil
}

// TokenUsage records when tokens were last used without writing a row per
// request: uses are kept in memory and flushed in one statement per
// interval (and at shutdown). last_used_at is thus at most one interval old.
type TokenUsage struct {
	db *DB
	mu sync.Mutex
	// seen maps a token to its latest use since the last flush.
	seen map[[2]string]time.Time
}

// NewTokenUsage returns a recorder for db.
func (db *DB) NewTokenUsage() *TokenUsage {
	return &TokenUsage{db: db, seen: make(map[[2]string]time.Time)}
}

// Touch notes a use of the token now.
func (u *TokenUsage) Touch(orgID, tokenID string) {
	now := u.db.now()
	u.mu.Lock()
	u.seen[[2]string{orgID, tokenID}] = now
	u.mu.Unlock()
}

// Flush writes the uses noted since the last flush.
func (u *TokenUsage) Flush(ctx context.Context) error {
	u.mu.Lock()
	seen := u.seen
	u.seen = make(map[[2]string]time.Time)
	u.mu.Unlock()
	if len(seen) == 0 {
		return nil
	}
	orgs := make([]string, 0, len(seen))
	ids := make([]string, 0, len(seen))
	ats := make([]time.Time, 0, len(seen))
	for k, at := range seen {
		orgs, ids, ats = append(orgs, k[0]), append(ids, k[1]), append(ats, at)
	}
	_, err := u.db.Pool.Exec(ctx, `UPDATE scim_tokens t SET last_used_at = greatest(t.last_used_at, u.at)
		FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS u(org_id, id, at)
		WHERE t.org_id = u.org_id AND t.id = u.id`, orgs, ids, ats)
	return err
}

// Run flushes every interval until ctx ends, then once more.
func (u *TokenUsage) Run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := u.Flush(fctx); err != nil {
				u.db.log.Warn("flush token last-used times", "err", err)
			}
			cancel()
			return
		case <-tick.C:
			if err := u.Flush(ctx); err != nil {
				u.db.log.Warn("flush token last-used times", "err", err)
			}
		}
	}
}
