package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

const bindingColumns = `b.id, b.org_id, b.role, coalesce(b.workspace_id::text, ''), coalesce(b.user_id::text, ''),
	coalesce(b.group_match, ''), coalesce(b.group_value, '')`

func scanBinding(row pgx.Row) (directory.Binding, error) {
	var b directory.Binding
	var role, match string
	err := row.Scan(&b.ID, &b.OrgID, &role, &b.WorkspaceID, &b.UserID, &match, &b.GroupValue)
	if err != nil {
		return b, err
	}
	b.Role, err = directory.ParseRole(role)
	b.GroupMatch = directory.GroupMatch(match)
	return b, err
}

func nullUUID(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateBinding stores a role binding. ErrInvalid: a bad shape, or a
// workspace or user that is not the organization's. ErrConflict: the same
// binding exists.
func (db *DB) CreateBinding(ctx context.Context, actor directory.Actor, b directory.Binding) (directory.Binding, error) {
	if err := b.Validate(); err != nil {
		return b, err
	}
	for _, id := range []string{b.WorkspaceID, b.UserID} {
		if id != "" && !isUUID(id) {
			return b, directory.Invalidf("%q is not an id", id)
		}
	}
	var out directory.Binding
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var match any
		if b.GroupMatch != "" {
			match = string(b.GroupMatch)
		}
		var err error
		out, err = scanBinding(tx.QueryRow(ctx, `INSERT INTO role_bindings AS b (org_id, role, workspace_id, user_id, group_match, group_value, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+bindingColumns,
			b.OrgID, b.Role.String(), nullUUID(b.WorkspaceID), nullUUID(b.UserID), match, nullIfEmpty(b.GroupValue), actor.String()))
		if err != nil {
			return mapErr(err, "role binding")
		}
		return audit(ctx, tx, b.OrgID, actor, "binding.create", "RoleBinding", out.ID, nil, out)
	})
	return out, err
}

// BindingFilter selects bindings; empty fields select all.
type BindingFilter struct {
	UserID      string
	WorkspaceID string
	Groups      bool // only group bindings ("SSO mappings")
}

// Bindings lists the organization's bindings.
func (db *DB) Bindings(ctx context.Context, orgID string, f BindingFilter) ([]directory.Binding, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+bindingColumns+` FROM role_bindings b WHERE b.org_id = $1
		AND ($2 = '' OR b.user_id::text = $2) AND ($3 = '' OR b.workspace_id::text = $3) AND (NOT $4 OR b.group_value IS NOT NULL)
		ORDER BY b.created_at, b.id`, orgID, f.UserID, f.WorkspaceID, f.Groups)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Binding, error) { return scanBinding(r) })
}

// DeleteBinding deletes a binding. ErrNotFound: none such. ErrConflict:
// the break-glass owner's org-admin binding, which is never deleted.
func (db *DB) DeleteBinding(ctx context.Context, actor directory.Actor, orgID, id string) error {
	if !isUUID(id) {
		return directory.NotFoundf("role binding %q not found", id)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		b, err := scanBinding(tx.QueryRow(ctx, `DELETE FROM role_bindings b WHERE b.org_id = $1 AND b.id = $2 RETURNING `+bindingColumns, orgID, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.NotFoundf("role binding %q not found", id)
		}
		if err != nil {
			return err
		}
		if b.Role == directory.RoleOrgAdmin && b.UserID != "" {
			var source string
			if err := tx.QueryRow(ctx, `SELECT source FROM users WHERE org_id = $1 AND id = $2`, orgID, b.UserID).Scan(&source); err != nil {
				return err
			}
			if source == directory.SourceBreakGlass {
				return directory.Conflictf("the break-glass owner keeps its org-admin role: it is how the organization stays reachable without its IdP")
			}
		}
		return audit(ctx, tx, orgID, actor, "binding.delete", "RoleBinding", id, b, nil)
	})
}

// Access computes a user's effective permissions from the bindings that
// can apply to them, read in one statement with their memberships: there
// is no cache to go stale, so a SCIM membership change counts at once.
func (db *DB) Access(ctx context.Context, orgID, userID string) (directory.Access, error) {
	if !isUUID(userID) {
		return directory.Access{}, directory.NotFoundf("user %q not found", userID)
	}
	b := &pgx.Batch{}
	var groups []directory.Membership
	var bindings []directory.Binding
	b.Queue(`SELECT g.id, coalesce(g.external_id, ''), g.display_name FROM group_members m
		JOIN groups g ON g.org_id = m.org_id AND g.id = m.group_id WHERE m.org_id = $1 AND m.user_id = $2`, orgID, userID).
		Query(func(rows pgx.Rows) error {
			var err error
			groups, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Membership, error) {
				var m directory.Membership
				err := r.Scan(&m.GroupID, &m.ExternalID, &m.DisplayName)
				return m, err
			})
			return err
		})
	// Only the bindings that can apply are read: the user's own, and group
	// bindings that name one of the user's groups (directory.Effective
	// decides again; this only keeps the rows few).
	b.Queue(`WITH mine AS (SELECT g.id::text AS id, g.external_id, g.display_name FROM group_members m
			JOIN groups g ON g.org_id = m.org_id AND g.id = m.group_id WHERE m.org_id = $1 AND m.user_id = $2)
		SELECT `+bindingColumns+` FROM role_bindings b WHERE b.org_id = $1 AND (b.user_id = $2
			OR (b.group_match = 'id' AND b.group_value IN (SELECT id FROM mine))
			OR (b.group_match = 'externalId' AND b.group_value IN (SELECT external_id FROM mine))
			OR (b.group_match = 'displayName' AND b.group_value IN (SELECT display_name FROM mine)))`, orgID, userID).
		Query(func(rows pgx.Rows) error {
			var err error
			bindings, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Binding, error) { return scanBinding(r) })
			return err
		})
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return directory.Access{}, err
	}
	return directory.Effective(userID, groups, bindings), nil
}
