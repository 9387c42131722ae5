package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Member returns any user of the organization (every source, removed
// ones too). ErrNotFound: none.
func (db *DB) Member(ctx context.Context, orgID, id string) (directory.User, error) {
	if !isUUID(id) {
		return directory.User{}, directory.NotFoundf("user %q not found", id)
	}
	u, err := scanUser(db.Pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.org_id = $1 AND u.id = $2`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, directory.NotFoundf("user %q not found", id)
	}
	return u, err
}

// FindMember finds a user by id, userName (case-insensitively) or email.
// ErrNotFound: none; ErrConflict: an email that several users have.
func (db *DB) FindMember(ctx context.Context, orgID, ref string) (directory.User, error) {
	if isUUID(ref) {
		if u, err := db.Member(ctx, orgID, ref); err == nil {
			return u, nil
		}
	}
	rows, err := db.Pool.Query(ctx, `SELECT `+userColumns+` FROM users u WHERE u.org_id = $1
		AND (ascii_lower(u.user_name) = ascii_lower($2) OR u.emails @> ARRAY[$3]) ORDER BY (ascii_lower(u.user_name) = ascii_lower($2)) DESC LIMIT 2`,
		orgID, ref, directory.FoldASCII(ref))
	if err != nil {
		return directory.User{}, err
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.User, error) { return scanUser(r) })
	switch {
	case err != nil:
		return directory.User{}, err
	case len(found) == 0:
		return directory.User{}, directory.NotFoundf("no user %q", ref)
	case len(found) == 2 && directory.FoldASCII(found[0].UserName) != directory.FoldASCII(ref):
		return directory.User{}, directory.Conflictf("%q is the email of more than one user; name the user by id or userName", ref)
	}
	return found[0], nil
}

// MemberQuery selects users for the admin API.
type MemberQuery struct {
	Search string // in userName, displayName, emails
	Status string // active, deactivated, removed (and invited for Listing); "" for all
	Source string // "" for all
	Offset int
	Limit  int
}

// Members lists users of every source, with the total that match.
func (db *DB) Members(ctx context.Context, orgID string, q MemberQuery) ([]directory.User, int, error) {
	args := &sqlArgs{}
	args.add(orgID)
	where := "u.org_id = $1"
	if q.Search != "" {
		// ASCII case only, as identities compare (directory.FoldASCII).
		p := args.add("%" + likeEscape(directory.FoldASCII(q.Search)) + "%")
		where += " AND (ascii_lower(u.user_name) LIKE " + p + " OR ascii_lower(coalesce(u.display_name, '')) LIKE " + p +
			" OR EXISTS (SELECT 1 FROM unnest(u.emails) e WHERE e LIKE " + p + "))"
	}
	switch q.Status {
	case "":
	case directory.StatusActive:
		where += " AND u.removed_at IS NULL AND u.active"
	case directory.StatusDeactivated:
		where += " AND u.removed_at IS NULL AND NOT u.active"
	case directory.StatusRemoved:
		where += " AND u.removed_at IS NOT NULL"
	default:
		return nil, 0, directory.Invalidf("status %q: want invited, active, deactivated or removed", q.Status)
	}
	if q.Source != "" {
		where += " AND u.source = " + args.add(q.Source)
	}
	limit := pageLimit(q.Limit)
	st := listStmt{table: "users", alias: "u", where: where, order: "u.seq", columns: userColumns}
	return listPage(ctx, db, st, args, directory.ListQuery{StartIndex: q.Offset + 1, Count: limit}, scanUser)
}

// Listed is one entry of the Org → Users list: a user, or a pending
// invitation shown as a user of status invited (User then carries only
// the invited address as userName and email).
type Listed struct {
	User       directory.User
	Invitation *directory.Invitation
}

// Status is the entry's status, invited included.
func (l Listed) Status() string {
	if l.Invitation != nil {
		return directory.StatusInvited
	}
	return l.User.Status()
}

// Listing is the Org → Users list that the admin API and the CLI show:
// the pending invitations (newest first, as status invited, source
// invitation), then the users (as Members). q.Status may be "invited";
// offset and limit page through the two as one list, and the total counts
// both. ErrInvalid: a bad status.
func (db *DB) Listing(ctx context.Context, orgID string, q MemberQuery) ([]Listed, int, error) {
	limit := pageLimit(q.Limit)
	var invited []Listed
	if (q.Status == "" || q.Status == directory.StatusInvited) && (q.Source == "" || q.Source == directory.SourceInvitation) {
		invs, err := db.Invitations(ctx, orgID, true)
		if err != nil {
			return nil, 0, err
		}
		search := directory.FoldASCII(q.Search)
		for _, inv := range invs {
			if strings.Contains(directory.FoldASCII(inv.Email), search) {
				u := directory.User{OrgID: orgID, UserName: inv.Email, Emails: []string{directory.FoldASCII(inv.Email)},
					Kind: directory.KindHuman, Source: directory.SourceInvitation, CreatedAt: inv.CreatedAt, UpdatedAt: inv.CreatedAt}
				invited = append(invited, Listed{User: u, Invitation: &inv})
			}
		}
	}
	out := []Listed{}
	if q.Offset < len(invited) {
		out = append(out, invited[q.Offset:min(len(invited), q.Offset+limit)]...)
	}
	if q.Status == directory.StatusInvited {
		return out, len(invited), nil
	}
	// The users' part of the page: what the invitations left of it (at
	// least one row is read, for the users' total).
	mq := q
	mq.Offset = max(0, q.Offset-len(invited))
	room := limit - len(out)
	mq.Limit = max(1, room)
	users, total, err := db.Members(ctx, orgID, mq)
	if err != nil {
		return nil, 0, err
	}
	for _, u := range users[:min(len(users), room)] {
		out = append(out, Listed{User: u})
	}
	return out, len(invited) + total, nil
}

// RemoveMember removes a user that no identity provider manages from the
// organization: the user stays (past attribution keeps the name) but is
// marked removed, its API tokens and sessions are revoked and its direct
// bindings go,
// in one transaction with an audit event. ErrConflict: the user is
// IdP-managed (remove it in the IdP) or the break-glass owner.
func (db *DB) RemoveMember(ctx context.Context, actor directory.Actor, orgID, id string) (directory.User, error) {
	if !isUUID(id) {
		return directory.User{}, directory.NotFoundf("user %q not found", id)
	}
	var out directory.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccess(ctx, tx, orgID, false); err != nil {
			return err
		}
		cur, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.org_id = $1 AND u.id = $2 FOR UPDATE`, orgID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.NotFoundf("user %q not found", id)
		}
		if err != nil {
			return err
		}
		switch {
		case cur.Source == directory.SourceBreakGlass:
			return directory.Conflictf("%s is the organization's break-glass owner, which can never be removed", cur.UserName)
		case cur.IdPManaged():
			return directory.Conflictf("%s is managed by the identity provider over SCIM: remove or unassign the user there", cur.UserName)
		case cur.RemovedAt != nil:
			out = cur
			return nil
		}
		roles, err := trackRoles(ctx, tx, orgID, []string{id})
		if err != nil {
			return err
		}
		tokens, err := revokeUserAccess(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		bindings, err := tx.Exec(ctx, `DELETE FROM role_bindings WHERE org_id = $1 AND user_id = $2`, orgID, id)
		if err != nil {
			return err
		}
		// Its logins go too: should the address be invited back, the
		// new member's login is linked afresh, and a former person's IdP
		// account cannot sign in as them.
		if _, err := tx.Exec(ctx, `DELETE FROM user_links WHERE org_id = $1 AND user_id = $2`, orgID, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM login_groups WHERE org_id = $1 AND user_id = $2`, orgID, id); err != nil {
			return err
		}
		// Git identities are released; past attribution keeps the name
		// each identity carries.
		rows, err := tx.Query(ctx, `UPDATE git_identities SET user_id = NULL, mapped_by = $3, mapped_at = now()
			WHERE org_id = $1 AND user_id = $2 RETURNING id::text`, orgID, id, actor.String())
		if err != nil {
			return err
		}
		released, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		out, err = scanUser(tx.QueryRow(ctx, `UPDATE users u SET removed_at = now(), active = false, version = u.version + 1, updated_at = now()
			WHERE u.org_id = $1 AND u.id = $2 RETURNING `+userColumns, orgID, id))
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, "user.remove", "User", id, auditUser(cur),
			map[string]any{"apiTokensRevoked": tokens, "bindingsRemoved": bindings.RowsAffected(), "gitIdentitiesReleased": len(released)}); err != nil {
			return err
		}
		evs, err := roles.events(ctx, tx)
		if err != nil {
			return err
		}
		unmapped, err := gitIdentityEvents(ctx, tx, orgID, directory.EventGitIdentityUnmapped, released)
		if err != nil {
			return err
		}
		removed, err := userEvent(ctx, tx, userRemoved, out)
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, orgID, actor, append(append(evs, unmapped...), removed))
	})
	return out, err
}

// AuditQuery selects audit events; empty fields select all.
type AuditQuery struct {
	Actor, Action, ResourceType, ResourceID string
	Since, Until                            *time.Time
	Offset, Limit                           int
}

// QueryAudit lists audit events, newest first, and how many match.
func (db *DB) QueryAudit(ctx context.Context, orgID string, q AuditQuery) ([]AuditEvent, int, error) {
	limit := pageLimit(q.Limit)
	const where = `org_id = $1 AND ($2 = '' OR actor = $2) AND ($3 = '' OR action = $3) AND ($4 = '' OR resource_type = $4)
		AND ($5 = '' OR resource_id = $5) AND ($6::timestamptz IS NULL OR occurred_at >= $6) AND ($7::timestamptz IS NULL OR occurred_at < $7)`
	args := []any{orgID, q.Actor, q.Action, q.ResourceType, q.ResourceID, q.Since, q.Until}
	var total int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.Pool.Query(ctx, `SELECT id, occurred_at, actor, action, resource_type, resource_id, before, after
		FROM audit_events WHERE `+where+` ORDER BY id DESC LIMIT $8 OFFSET $9`, append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, err
	}
	events, err := pgx.CollectRows(rows, scanAuditEvent)
	return events, total, err
}
