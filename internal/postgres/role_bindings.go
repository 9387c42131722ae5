package postgres

import (
	"context"
	"errors"
	"fmt"

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
		roles, err := trackBinding(ctx, tx, b)
		if err != nil {
			return err
		}
		var match any
		if b.GroupMatch != "" {
			match = string(b.GroupMatch)
		}
		out, err = scanBinding(tx.QueryRow(ctx, `INSERT INTO role_bindings AS b (org_id, role, workspace_id, user_id, group_match, group_value, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+bindingColumns,
			b.OrgID, b.Role.String(), nullUUID(b.WorkspaceID), nullUUID(b.UserID), match, nullIfEmpty(b.GroupValue), actor.String()))
		if err != nil {
			return mapErr(err, "role binding")
		}
		if err := audit(ctx, tx, b.OrgID, actor, "binding.create", "RoleBinding", out.ID, nil, out); err != nil {
			return err
		}
		return appendRoleEvents(ctx, tx, b.OrgID, actor, roles)
	})
	return out, err
}

// trackBinding takes the access lock for a change of binding b, and
// tracks the roles of the users it can apply to: exclusively for a group
// binding, whose users are found under the lock.
func trackBinding(ctx context.Context, tx pgx.Tx, b directory.Binding) (*roleTracker, error) {
	if err := lockAccess(ctx, tx, b.OrgID, b.UserID == ""); err != nil {
		return nil, err
	}
	users, err := bindingSubjects(ctx, tx, b.OrgID, []directory.Binding{b})
	if err != nil {
		return nil, err
	}
	return trackRoles(ctx, tx, b.OrgID, users)
}

// appendRoleEvents appends the role events of what roles tracked.
func appendRoleEvents(ctx context.Context, tx pgx.Tx, orgID string, actor directory.Actor, roles *roleTracker) error {
	evs, err := roles.events(ctx, tx)
	if err != nil {
		return err
	}
	return appendEvents(ctx, tx, orgID, actor, evs)
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

// DeleteBinding deletes a binding; with groupsOnly, only a group binding
// (an SSO mapping). ErrNotFound: none such. ErrConflict: the break-glass
// owner's org-admin binding, which is never deleted: it is what keeps the
// organization reachable when its IdP is not.
func (db *DB) DeleteBinding(ctx context.Context, actor directory.Actor, orgID, id string, groupsOnly bool) error {
	notFound := directory.NotFoundf("role binding %q not found", id)
	if groupsOnly {
		notFound = directory.NotFoundf("mapping %q not found", id)
	}
	if !isUUID(id) {
		return notFound
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		// Read first (a binding never changes, it only goes), to know
		// which lock its deletion takes and whose roles it may lower.
		b, err := scanBinding(tx.QueryRow(ctx, `SELECT `+bindingColumns+` FROM role_bindings b WHERE b.org_id = $1 AND b.id = $2
			AND (NOT $3 OR b.group_value IS NOT NULL)`, orgID, id, groupsOnly))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound
		}
		if err != nil {
			return err
		}
		roles, err := trackBinding(ctx, tx, b)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM role_bindings WHERE org_id = $1 AND id = $2`, orgID, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound // deleted meanwhile
		}
		if b.Role == directory.RoleOrgAdmin && b.UserID != "" {
			var source, userName string
			if err := tx.QueryRow(ctx, `SELECT source, user_name FROM users WHERE org_id = $1 AND id = $2`, orgID, b.UserID).Scan(&source, &userName); err != nil {
				return err
			}
			if source == directory.SourceBreakGlass {
				return directory.Conflictf("%s is the organization's break-glass owner: its org-admin binding can never be removed", userName)
			}
		}
		if err := audit(ctx, tx, orgID, actor, "binding.delete", "RoleBinding", id, b, nil); err != nil {
			return err
		}
		return appendRoleEvents(ctx, tx, orgID, actor, roles)
	})
}

// accessJoins joins, to a row that has the user's organization and id as
// the SQL expressions org and user, what directory.Effective needs: the
// user's groups (mg: SCIM memberships, and the groups of the last sign-in
// of a user no SCIM client manages) and the bindings that can apply to
// them (mb). Reading
// them with the rows that need them saves a round trip, and reading them
// on every decision means there is no cache to go stale: a SCIM membership
// change counts at once. Only the bindings that can apply are read, the
// user's own and the group bindings that name one of their groups;
// Effective decides again, this only keeps the rows few. scope, when not
// "", is a further condition on the bindings b.
//
// Each is one array of fixed-size rows (n×3 and n×6) rather than an array
// a column: one sort, one array to decode, and the columns cannot fall out
// of line.
func accessJoins(org, user, scope string) string {
	if scope != "" {
		scope = ` AND (` + scope + `)`
	}
	return `
	LEFT JOIN LATERAL (SELECT array_agg(ARRAY[x.id, x.external_id, x.display_name] ORDER BY x.display_name, x.id) AS groups FROM (
			SELECT g.id::text AS id, coalesce(g.external_id, '') AS external_id, g.display_name
			FROM group_members m JOIN groups g ON g.org_id = m.org_id AND g.id = m.group_id
			WHERE m.org_id = ` + org + ` AND m.user_id = ` + user + `
			UNION ALL
			SELECT '', lg.value, lg.value FROM login_groups lg WHERE lg.org_id = ` + org + ` AND lg.user_id = ` + user + `) x) mg ON true
	LEFT JOIN LATERAL (SELECT array_agg(ARRAY[b.id::text, b.role, coalesce(b.workspace_id::text, ''), coalesce(b.user_id::text, ''),
			coalesce(b.group_match, ''), coalesce(b.group_value, '')] ORDER BY b.created_at, b.id) AS bindings
		FROM role_bindings b WHERE b.org_id = ` + org + ` AND (b.user_id = ` + user + `
			OR (b.group_match = 'id' AND b.group_value = ANY (mg.groups[:][1:1]))
			OR (b.group_match = 'externalId' AND b.group_value = ANY (mg.groups[:][2:2]))
			OR (b.group_match = 'displayName' AND b.group_value = ANY (mg.groups[:][3:3])))` + scope + `) mb ON true`
}

// accessColumns are the columns of accessJoins, scanned by accessRow.
const accessColumns = `mg.groups, mb.bindings`

// accessRow receives accessColumns; pgx reads the n×k arrays flat.
type accessRow struct{ groups, bindings []string }

func (a *accessRow) dest() []any { return []any{&a.groups, &a.bindings} }

func (a *accessRow) access(orgID, userID string) (directory.Access, error) {
	if len(a.groups)%3 != 0 || len(a.bindings)%6 != 0 {
		return directory.Access{}, fmt.Errorf("access: %d group and %d binding fields", len(a.groups), len(a.bindings))
	}
	groups := make([]directory.Membership, 0, len(a.groups)/3)
	for g := a.groups; len(g) > 0; g = g[3:] {
		groups = append(groups, directory.Membership{GroupID: g[0], ExternalID: g[1], DisplayName: g[2]})
	}
	bindings := make([]directory.Binding, 0, len(a.bindings)/6)
	for b := a.bindings; len(b) > 0; b = b[6:] {
		role, err := directory.ParseRole(b[1])
		if err != nil {
			return directory.Access{}, err
		}
		bindings = append(bindings, directory.Binding{ID: b[0], OrgID: orgID, Role: role, WorkspaceID: b[2], UserID: b[3],
			GroupMatch: directory.GroupMatch(b[4]), GroupValue: b[5]})
	}
	return directory.Effective(userID, groups, bindings), nil
}

// Access computes a user's effective permissions from the bindings that
// can apply to them, read in one statement with their memberships.
func (db *DB) Access(ctx context.Context, orgID, userID string) (directory.Access, error) {
	if !isUUID(userID) {
		return directory.Access{}, directory.NotFoundf("user %q not found", userID)
	}
	var a accessRow
	if err := db.Pool.QueryRow(ctx, accessSQL, orgID, userID).Scan(a.dest()...); err != nil {
		return directory.Access{}, err
	}
	return a.access(orgID, userID)
}

var accessSQL = `SELECT ` + accessColumns + ` FROM (SELECT $1::uuid AS org_id, $2::uuid AS id) u` + accessJoins("u.org_id", "u.id", "")

// AuthorizeQuery is what authorize asks about: a user (id, userName or
// email) and a workspace (id or name) or a target; neither for an
// org-level action.
type AuthorizeQuery struct {
	User      string
	Workspace string
	Target    directory.Target
}

// AuthorizeSubject is what authorize decides on.
type AuthorizeSubject struct {
	// User has only what a decision needs: ID, OrgID, UserName, Active
	// and RemovedAt.
	User directory.User
	// Access is the user's effective permissions (whatever their status)
	// as far as they can decide on Workspace: the org-wide grants, and
	// the grants on Workspace. The others are not read.
	Access directory.Access
	// WorkspaceRef is the workspace id or name asked about, or the id of
	// the workspace that holds the target; "" when neither was asked
	// about, or no workspace holds the target (TargetUnknown).
	WorkspaceRef  string
	TargetUnknown bool
	// Workspace is the one WorkspaceRef names (ID and Name only); nil if
	// none does.
	Workspace *directory.Workspace
}

// subjectSQL is the statement of AuthorizeSubject in the organization org
// (an SQL expression), with subjectArgs from $2 on. cand is FindMember's
// two lookups: by id (rank 0), then by userName or email, userName first
// (rank 1), two at most, as FindMember reads them to tell an email several
// users share. Only the bindings that can decide on the workspace are read.
func subjectSQL(org string) string {
	return `WITH cand AS (
			SELECT u.org_id, u.id, u.user_name, u.active, u.removed_at, 0 AS rank FROM users u WHERE u.org_id = ` + org + ` AND u.id = $2
			UNION ALL
			(SELECT u.org_id, u.id, u.user_name, u.active, u.removed_at, CASE WHEN ascii_lower(u.user_name) = ascii_lower($3) THEN 1 ELSE 2 END
			   FROM users u WHERE u.org_id = ` + org + ` AND (ascii_lower(u.user_name) = ascii_lower($3) OR u.emails @> ARRAY[$4::text])
			  ORDER BY 6 LIMIT 2))
		SELECT u.id, u.org_id, u.user_name, u.active, u.removed_at, u.rank = 0, (SELECT count(*) FROM cand WHERE rank > 0),
			ws.ref, ws.id::text, ws.name, ` + accessColumns + `
		FROM (SELECT * FROM cand ORDER BY rank LIMIT 1) u
		LEFT JOIN LATERAL (SELECT r.ref, w.id, w.name
			FROM (SELECT CASE WHEN $5 <> '' THEN $5 WHEN $6 <> '' THEN (SELECT t.workspace_id::text FROM workspace_targets t
				WHERE t.org_id = u.org_id AND t.cluster = $6 AND t.namespace = $7) END AS ref) r
			LEFT JOIN LATERAL (SELECT w.id, w.name FROM workspaces w WHERE w.org_id = u.org_id AND (w.id::text = r.ref OR lower(w.name) = lower(r.ref))
				ORDER BY (w.id::text = r.ref) DESC LIMIT 1) w ON true) ws ON true` +
		accessJoins("u.org_id", "u.id", "b.workspace_id IS NULL OR b.workspace_id = ws.id")
}

// subjectArgs are the arguments $2 to $7 of subjectSQL.
func subjectArgs(q AuthorizeQuery) []any {
	var id any // FindMember tries the id first, only for an id
	if isUUID(q.User) {
		id = q.User
	}
	return []any{id, q.User, directory.FoldASCII(q.User), q.Workspace, q.Target.Cluster, q.Target.Namespace}
}

// subjectRow receives a row of subjectSQL.
type subjectRow struct {
	s                 AuthorizeSubject
	byID              bool
	found             int
	ref, wsID, wsName *string
	a                 accessRow
}

func (r *subjectRow) dest() []any {
	u := &r.s.User
	return append([]any{&u.ID, &u.OrgID, &u.UserName, &u.Active, &u.RemovedAt, &r.byID, &r.found, &r.ref, &r.wsID, &r.wsName}, r.a.dest()...)
}

// result is the subject, given the error of scanning the row; errors as
// FindMember's.
func (r *subjectRow) result(q AuthorizeQuery, err error) (AuthorizeSubject, error) {
	s, u := r.s, r.s.User
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return AuthorizeSubject{}, directory.NotFoundf("no user %q", q.User)
	case err != nil:
		return AuthorizeSubject{}, err
	case !r.byID && r.found == 2 && directory.FoldASCII(u.UserName) != directory.FoldASCII(q.User):
		return AuthorizeSubject{}, directory.Conflictf("%q is the email of more than one user; name the user by id or userName", q.User)
	}
	if s.Access, err = r.a.access(u.OrgID, u.ID); err != nil {
		return AuthorizeSubject{}, err
	}
	switch {
	case r.ref != nil:
		s.WorkspaceRef = *r.ref
	case q.Workspace == "" && q.Target.Cluster != "":
		s.TargetUnknown = true
	}
	if r.wsID != nil {
		s.Workspace = &directory.Workspace{ID: *r.wsID, OrgID: u.OrgID, Name: *r.wsName}
	}
	return s, nil
}

// AuthorizeSubject finds the user authorize asks about, exactly as
// FindMember does, with their effective permissions, and the workspace
// asked about as Workspace and WorkspaceOf do. It is one statement, so one
// round trip and one snapshot: authorize is on the platform's hot path.
// ErrNotFound: no such user; ErrConflict: an email several users share.
func (db *DB) AuthorizeSubject(ctx context.Context, orgID string, q AuthorizeQuery) (AuthorizeSubject, error) {
	var r subjectRow
	err := db.Pool.QueryRow(ctx, subjectByOrgSQL, append([]any{orgID}, subjectArgs(q)...)...).Scan(r.dest()...)
	return r.result(q, err)
}

// subjectByOrgSQL is AuthorizeSubject's statement in the organization $1.
var subjectByOrgSQL = subjectSQL("$1::uuid")
