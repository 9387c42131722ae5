package postgres

import (
	"context"
	"errors"
	"strings"

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
		AND (lower(u.user_name) = lower($2) OR u.emails @> ARRAY[$3]) ORDER BY (lower(u.user_name) = lower($2)) DESC LIMIT 2`,
		orgID, ref, strings.ToLower(ref))
	if err != nil {
		return directory.User{}, err
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.User, error) { return scanUser(r) })
	switch {
	case err != nil:
		return directory.User{}, err
	case len(found) == 0:
		return directory.User{}, directory.NotFoundf("no user %q", ref)
	case len(found) == 2 && !strings.EqualFold(found[0].UserName, ref):
		return directory.User{}, directory.Conflictf("%q is the email of more than one user; name the user by id or userName", ref)
	}
	return found[0], nil
}

// MemberQuery selects users for the admin API.
type MemberQuery struct {
	Search string // in userName, displayName, emails
	Status string // active, deactivated, removed; "" for all
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
		p := args.add("%" + likeEscape(strings.ToLower(q.Search)) + "%")
		where += " AND (lower(u.user_name) LIKE " + p + " OR lower(coalesce(u.display_name, '')) LIKE " + p +
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
		return nil, 0, directory.Invalidf("status %q: want active, deactivated or removed", q.Status)
	}
	if q.Source != "" {
		where += " AND u.source = " + args.add(q.Source)
	}
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return listPage(ctx, db, "users", "u", where, "u.seq", "", userColumns, args,
		directory.ListQuery{StartIndex: q.Offset + 1, Count: limit}, scanUser)
}
