package postgres

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/resource"
)

const gitIdentityColumns = `i.id, i.org_id, i.provider, i.email, i.login, i.name, i.first_seen, i.last_seen, i.commits,
	coalesce(i.user_id::text, ''), coalesce(i.mapped_by, ''), i.mapped_at,
	(SELECT coalesce(array_agg(r.repo ORDER BY r.last_seen DESC), '{}') FROM git_identity_repos r WHERE r.org_id = i.org_id AND r.identity_id = i.id)`

func scanGitIdentity(row pgx.Row) (directory.GitIdentity, error) { return scanGitIdentityAnd(row) }

// scanGitIdentityAnd scans gitIdentityColumns, then extra.
func scanGitIdentityAnd(row pgx.Row, extra ...any) (directory.GitIdentity, error) {
	var g directory.GitIdentity
	err := row.Scan(append([]any{&g.ID, &g.OrgID, &g.Provider, &g.Email, &g.Login, &g.Name, &g.FirstSeen, &g.LastSeen, &g.Commits,
		&g.UserID, &g.MappedBy, &g.MappedAt, &g.Repos}, extra...)...)
	return g, err
}

// gitIdentityEvents are events of type typ about the identities ids, in
// that order, each rendered as it is now with the user it is mapped to.
// Call it after the statement that changed them.
func gitIdentityEvents(ctx context.Context, tx pgx.Tx, orgID, typ string, ids []string) ([]pendingEvent, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `SELECT `+gitIdentityColumns+`, coalesce(u.user_name, ''), coalesce(u.display_name, ''),
			coalesce(u.kind, ''), coalesce(u.active, false), u.removed_at
		FROM git_identities i LEFT JOIN users u ON u.org_id = i.org_id AND u.id = i.user_id
		WHERE i.org_id = $1 AND i.id = ANY($2::uuid[]) ORDER BY array_position($2::uuid[], i.id)`, orgID, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (pendingEvent, error) {
		var u directory.User
		g, err := scanGitIdentityAnd(r, &u.UserName, &u.DisplayName, &u.Kind, &u.Active, &u.RemovedAt)
		if err != nil {
			return pendingEvent{}, err
		}
		return gitIdentityEvent(typ, g, u), nil
	})
}

// gitIdentityEvent is an event about g, mapped to u when g.UserID is set.
func gitIdentityEvent(typ string, g directory.GitIdentity, u directory.User) pendingEvent {
	var to *resource.MemberRef
	if g.UserID != "" {
		u.ID = g.UserID
		ref := resource.RenderMemberRef(u)
		to = &ref
	}
	return pendingEvent{typ: typ, resourceType: directory.ResourceGitIdentity, resourceID: g.ID, data: resource.RenderGitIdentity(g, to)}
}

// IngestResult counts what an ingest changed.
type IngestResult struct {
	Observations int // received
	NewCommits   int // (repo, sha, role, identity) not seen before
	Identities   int // distinct identities touched
}

// IngestGitObservations records commit authors (and pushers) in one
// transaction. It is idempotent by (repo, sha): a commit seen again
// refreshes last-seen times but is not counted twice. Observations are
// validated first; one bad observation refuses the batch (ErrInvalid,
// naming its index) and nothing is stored.
func (db *DB) IngestGitObservations(ctx context.Context, orgID string, obs []directory.GitObservation) (IngestResult, error) {
	return db.ingestGitObservations(ctx, orgID, obs, nil)
}

// ingestGitObservations is IngestGitObservations with first, when not
// nil, run first in the transaction: an error from it stores nothing.
func (db *DB) ingestGitObservations(ctx context.Context, orgID string, obs []directory.GitObservation, first func(pgx.Tx) error) (IngestResult, error) {
	res := IngestResult{Observations: len(obs)}
	for i, o := range obs {
		if err := o.Validate(); err != nil {
			return res, directory.Invalidf("observation %d: %v", i+1, err)
		}
	}
	type key struct{ provider, email, login string }
	byKey := map[key][]int{}
	var keys []key
	for i, o := range obs {
		p, e, l := directory.GitKey(o)
		k := key{p, e, l}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	res.Identities = len(keys)
	// A stable order keeps concurrent ingests from deadlocking on rows.
	sort.Slice(keys, func(a, b int) bool {
		return keys[a].provider+"\x00"+keys[a].email+"\x00"+keys[a].login < keys[b].provider+"\x00"+keys[b].email+"\x00"+keys[b].login
	})
	now := db.now()
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if first != nil {
			if err := first(tx); err != nil {
				return err
			}
		}
		for _, k := range keys {
			idx := byKey[k]
			first, last, name := now, time.Time{}, ""
			for _, i := range idx {
				at := obs[i].At
				if at.IsZero() {
					at = now
				}
				first = minTime(first, at)
				if !at.Before(last) {
					last, name = at, obs[i].Name
				}
			}
			var id string
			if err := tx.QueryRow(ctx, `INSERT INTO git_identities AS g (org_id, provider, email, login, name, first_seen, last_seen)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (org_id, provider, email, login) DO UPDATE SET
					name = CASE WHEN EXCLUDED.last_seen >= g.last_seen AND EXCLUDED.name <> '' THEN EXCLUDED.name ELSE g.name END,
					first_seen = least(g.first_seen, EXCLUDED.first_seen), last_seen = greatest(g.last_seen, EXCLUDED.last_seen)
				RETURNING id`, orgID, k.provider, k.email, k.login, name, first, last).Scan(&id); err != nil {
				return mapErr(err, "git identity")
			}
			newCommits := int64(0)
			for _, i := range idx {
				o := obs[i]
				at := o.At
				if at.IsZero() {
					at = now
				}
				counted := int64(0)
				if o.SHA != "" {
					tag, err := tx.Exec(ctx, `INSERT INTO git_commits (org_id, repo, sha, role, identity_id, at) VALUES ($1, $2, $3, $4, $5, $6)
						ON CONFLICT DO NOTHING`, orgID, o.Repo, strings.ToLower(o.SHA), o.Role, id, at)
					if err != nil {
						return err
					}
					counted = tag.RowsAffected()
					res.NewCommits += int(counted)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO git_identity_repos AS r (org_id, identity_id, repo, first_seen, last_seen, commits)
					VALUES ($1, $2, $3, $4, $4, $5)
					ON CONFLICT (org_id, identity_id, repo) DO UPDATE SET first_seen = least(r.first_seen, EXCLUDED.first_seen),
						last_seen = greatest(r.last_seen, EXCLUDED.last_seen), commits = r.commits + EXCLUDED.commits`,
					orgID, id, o.Repo, at, counted); err != nil {
					return err
				}
				newCommits += counted
			}
			// One write of the identity's count for the whole batch, not
			// one row version per new commit.
			if newCommits > 0 {
				if _, err := tx.Exec(ctx, `UPDATE git_identities SET commits = commits + $3 WHERE org_id = $1 AND id = $2`, orgID, id, newCommits); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return res, err
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// GitIdentity returns one identity. ErrNotFound: none.
func (db *DB) GitIdentity(ctx context.Context, orgID, id string) (directory.GitIdentity, error) {
	if !isUUID(id) {
		return directory.GitIdentity{}, directory.NotFoundf("git identity %q not found", id)
	}
	g, err := scanGitIdentity(db.Pool.QueryRow(ctx, `SELECT `+gitIdentityColumns+` FROM git_identities i WHERE i.org_id = $1 AND i.id = $2`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return g, directory.NotFoundf("git identity %q not found", id)
	}
	return g, err
}

// FindGitIdentity finds the identity of (provider, email) — or of
// (provider, login) when email is empty. ErrNotFound: none.
func (db *DB) FindGitIdentity(ctx context.Context, orgID, provider, email, login string) (directory.GitIdentity, error) {
	g, err := scanGitIdentity(db.Pool.QueryRow(ctx, `SELECT `+gitIdentityColumns+` FROM git_identities i
		WHERE i.org_id = $1 AND i.provider = $2 AND (($3 <> '' AND i.email = $3 AND ($4 = '' OR i.login = $4)) OR ($3 = '' AND i.login = $4))
		ORDER BY (i.login = $4) DESC, i.last_seen DESC LIMIT 1`,
		orgID, directory.FoldASCII(provider), directory.NormalizeEmail(email), directory.FoldASCII(login)))
	if errors.Is(err, pgx.ErrNoRows) {
		return g, directory.NotFoundf("no %s git identity %s", provider, strings.TrimSpace(email+" "+login))
	}
	return g, err
}

// GitIdentityQuery selects identities.
type GitIdentityQuery struct {
	Since         time.Time // seen at or after; zero for all
	UnmappedFirst bool
	UserID        string // only those mapped to this user
	Offset, Limit int
}

// GitIdentities lists identities, most recently seen first (unmapped
// ones first when asked), with the total that match.
func (db *DB) GitIdentities(ctx context.Context, orgID string, q GitIdentityQuery) ([]directory.GitIdentity, int, error) {
	limit := pageLimit(q.Limit)
	const where = `i.org_id = $1 AND i.last_seen >= $2 AND ($3 = '' OR i.user_id::text = $3)`
	args := []any{orgID, q.Since, q.UserID}
	var total int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM git_identities i WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	order := "i.last_seen DESC, i.id"
	if q.UnmappedFirst {
		order = "(i.user_id IS NOT NULL), " + order
	}
	rows, err := db.Pool.Query(ctx, `SELECT `+gitIdentityColumns+` FROM git_identities i WHERE `+where+
		` ORDER BY `+order+` LIMIT $4 OFFSET $5`, append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.GitIdentity, error) { return scanGitIdentity(r) })
	return list, total, err
}

// MapGitIdentity maps an identity to a user or service account. It is
// idempotent for the same user. ErrConflict: the identity belongs to
// someone else (the error names them); ErrInvalid: the user is removed or
// unknown; ErrNotFound: no such identity.
func (db *DB) MapGitIdentity(ctx context.Context, actor directory.Actor, orgID, identityID, userID string) (directory.GitIdentity, error) {
	if !isUUID(identityID) {
		return directory.GitIdentity{}, directory.NotFoundf("git identity %q not found", identityID)
	}
	var out directory.GitIdentity
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// The share lock holds off a removal until the mapping is in:
		// RemoveMember locks the user, then releases its identities, so a
		// mapping written after its release would point at a removed
		// user. Read under the lock, a removal that came first is seen.
		// Both lock the user before the identity: no deadlock.
		target, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.org_id = $1 AND u.id = $2 FOR SHARE`, orgID, nullUUID(userID)))
		if err != nil || target.RemovedAt != nil {
			return directory.Invalidf("%q is not a current user or service account of this organization", userID)
		}
		// The conditional update is the rule: it claims an identity that
		// is free (or already this user's), and concurrent claims serialise
		// on the row.
		var already bool // mapped to this user before: no event
		out, err = scanGitIdentityAnd(tx.QueryRow(ctx, `UPDATE git_identities i SET user_id = $3, mapped_by = $4, mapped_at = now()
			FROM git_identities old WHERE old.org_id = i.org_id AND old.id = i.id
			AND i.org_id = $1 AND i.id = $2 AND (i.user_id IS NULL OR i.user_id = $3) RETURNING `+gitIdentityColumns+`, old.user_id IS NOT NULL`,
			orgID, identityID, userID, actor.String()), &already)
		if errors.Is(err, pgx.ErrNoRows) {
			var owner string
			if err := tx.QueryRow(ctx, `SELECT u.user_name FROM git_identities i JOIN users u ON u.org_id = i.org_id AND u.id = i.user_id
				WHERE i.org_id = $1 AND i.id = $2`, orgID, identityID).Scan(&owner); err != nil {
				return directory.NotFoundf("git identity %q not found", identityID)
			}
			return directory.Conflictf("the git identity is mapped to %s already; unmap it first", owner)
		}
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, "git.map", "GitIdentity", identityID, nil,
			map[string]any{"provider": out.Provider, "email": out.Email, "login": out.Login, "user": target.UserName}); err != nil {
			return err
		}
		if already {
			return nil
		}
		return appendEvent(ctx, tx, orgID, actor, directory.EventGitIdentityMapped, directory.ResourceGitIdentity, out.ID,
			gitIdentityEvent("", out, target).data)
	})
	return out, err
}

// UnmapGitIdentity releases an identity. ErrNotFound: no such identity.
func (db *DB) UnmapGitIdentity(ctx context.Context, actor directory.Actor, orgID, identityID string) error {
	if !isUUID(identityID) {
		return directory.NotFoundf("git identity %q not found", identityID)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var prev string
		err := tx.QueryRow(ctx, `UPDATE git_identities i SET user_id = NULL, mapped_by = $3, mapped_at = now()
			FROM git_identities old WHERE old.org_id = i.org_id AND old.id = i.id AND i.org_id = $1 AND i.id = $2
			RETURNING coalesce(old.user_id::text, '')`, orgID, identityID, actor.String()).Scan(&prev)
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.NotFoundf("git identity %q not found", identityID)
		}
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, "git.unmap", "GitIdentity", identityID, map[string]any{"user": prev}, nil); err != nil {
			return err
		}
		if prev == "" {
			return nil // it was not mapped
		}
		evs, err := gitIdentityEvents(ctx, tx, orgID, directory.EventGitIdentityUnmapped, []string{identityID})
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, orgID, actor, evs)
	})
}

// Attribution answers who a Git identity is.
type Attribution struct {
	Identity directory.GitIdentity
	User     directory.User
}

// ResolveGit answers who triggered a run: the user or service account the
// identity (provider, email, login) is mapped to, deactivated users
// included (the caller shows their status). GitHub's noreply addresses
// resolve by the login they carry. ErrNotFound: unknown or unmapped.
func (db *DB) ResolveGit(ctx context.Context, orgID, provider, email, login string) (Attribution, error) {
	provider, email, login = directory.GitKey(directory.GitObservation{Provider: provider, Email: email, Login: login})
	if provider == "" {
		provider = directory.GitProviderGitHub
	}
	if l, ok := directory.GitHubNoreplyLogin(email); ok && provider == directory.GitProviderGitHub {
		if login == "" {
			login = l
		}
		email = ""
	}
	if email == "" && login == "" {
		return Attribution{}, directory.Invalidf("resolve needs an email or a login")
	}
	// Exact key first, then the email alone, then the login alone.
	row := db.Pool.QueryRow(ctx, `SELECT `+gitIdentityColumns+`, `+userColumns+` FROM git_identities i
		JOIN users u ON u.org_id = i.org_id AND u.id = i.user_id
		WHERE i.org_id = $1 AND i.provider = $2 AND i.user_id IS NOT NULL
		  AND (($3 <> '' AND i.email = $3) OR ($4 <> '' AND i.login = $4))
		ORDER BY ($3 <> '' AND i.email = $3 AND i.login = $4) DESC, ($3 <> '' AND i.email = $3) DESC, i.last_seen DESC
		LIMIT 1`, orgID, provider, email, login)
	var a Attribution
	g := &a.Identity
	err := row.Scan(append([]any{&g.ID, &g.OrgID, &g.Provider, &g.Email, &g.Login, &g.Name, &g.FirstSeen, &g.LastSeen, &g.Commits,
		&g.UserID, &g.MappedBy, &g.MappedAt, &g.Repos}, userDest(&a.User)...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, directory.NotFoundf("no user is mapped to %s identity %s", provider, strings.TrimSpace(email+" "+login))
	}
	return a, err
}
