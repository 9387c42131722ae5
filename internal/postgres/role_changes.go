package postgres

import (
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/resource"
)

// Role events: role.granted and role.revoked tell a platform how a user's
// effective role on a workspace (or org-admin on the organization)
// changed, as directory.Effective computes it (bindings add up, the
// highest role wins), so that the platform never recomputes provenance.
// A change of a binding, a group's members or attributes, a user's own
// bindings or the groups of their last sign-in can change it. Each such
// transaction reads the effective roles of the users it may affect before
// and after its change, and appends an event per (user, scope) whose role
// differs.
//
// Two locks keep those before/after pairs a chain in commit order, so
// that each event's previousRole is the role of the event before it:
//
//   - The organization's access lock (lockAccess), taken first in the
//     transaction: shared by changes that affect users they can name
//     before changing anything (a group's members, a user's own bindings,
//     login groups), exclusive for changes that may affect anyone (a group
//     binding, a workspace's deletion), which then find their users with
//     no membership changing under them.
//   - The row locks of the users (trackRoles, in id order, FOR NO KEY
//     UPDATE, which an FK check's KEY SHARE does not wait for), taken
//     before the change and before the first read: two changes of one
//     user's roles take turns, and the second reads what the first
//     committed. Role events are about the user (resource user or
//     service_account), so the row lock also orders them with the user's
//     other events, as appendEvent asks.
//
// Lock order is access lock, then group rows, then user rows by id, in
// every writer, so they cannot deadlock on one another.

// accessLockClass is the first key of the access locks (the second is the
// organization's hash): "role" in ASCII. The two-key advisory locks do not
// share a key space with the one-key locks the reconciler and goose take.
const accessLockClass int32 = 0x726f6c65

// lockAccess takes the organization's access lock until the end of the
// transaction: exclusive when the change may affect the roles of users it
// cannot name beforehand. It must come before the transaction's row locks.
func lockAccess(ctx context.Context, tx pgx.Tx, orgID string, exclusive bool) error {
	fn := "pg_advisory_xact_lock_shared"
	if exclusive {
		fn = "pg_advisory_xact_lock"
	}
	_, err := tx.Exec(ctx, `SELECT `+fn+`($1, hashtext($2))`, accessLockClass, orgID)
	return err
}

// roleScope is where a role holds: "" for the organization (org-admin),
// else a workspace id.
type roleScope = string

// userRoles is one user's effective roles.
type userRoles struct {
	userName, kind string
	roles          map[roleScope]directory.Role
}

// roleTracker holds the effective roles of some users before a change.
type roleTracker struct {
	orgID   string
	ids     []string
	before  map[string]userRoles
	wsNames map[string]string
}

// trackRoles locks the users (those of ids that exist; others are
// ignored) and reads their effective roles before a change. Call it
// after lockAccess and before changing anything those roles depend on.
func trackRoles(ctx context.Context, tx pgx.Tx, orgID string, ids []string) (*roleTracker, error) {
	t := &roleTracker{orgID: orgID, wsNames: map[string]string{}}
	seen := map[string]bool{}
	for _, id := range ids {
		if id = strings.ToLower(id); isUUID(id) && !seen[id] {
			seen[id] = true
			t.ids = append(t.ids, id)
		}
	}
	slices.Sort(t.ids)
	if len(t.ids) == 0 {
		return t, nil
	}
	// A statement of its own: the read below must take its snapshot
	// after the locks, to see what a change that held them committed.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE org_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR NO KEY UPDATE`,
		orgID, t.ids); err != nil {
		return nil, err
	}
	var err error
	t.before, err = t.read(ctx, tx)
	return t, err
}

// rolesSQL reads the effective-role inputs of users $2 of organization $1.
var rolesSQL = `SELECT u.id::text, u.user_name, u.kind, ` + accessColumns + ` FROM users u` +
	accessJoins("u.org_id", "u.id", "") + ` WHERE u.org_id = $1 AND u.id = ANY($2::uuid[])`

// read computes the tracked users' effective roles now, and learns the
// names of their workspaces.
func (t *roleTracker) read(ctx context.Context, tx pgx.Tx) (map[string]userRoles, error) {
	rows, err := tx.Query(ctx, rolesSQL, t.orgID, t.ids)
	if err != nil {
		return nil, err
	}
	out := map[string]userRoles{}
	var unnamed []string
	var id string
	var ur userRoles
	var a accessRow
	_, err = pgx.ForEachRow(rows, append([]any{&id, &ur.userName, &ur.kind}, a.dest()...), func() error {
		acc, err := a.access(t.orgID, id)
		if err != nil {
			return err
		}
		r := userRoles{userName: ur.userName, kind: ur.kind, roles: map[roleScope]directory.Role{}}
		if len(acc.OrgAdmin) > 0 {
			r.roles[""] = directory.RoleOrgAdmin
		}
		for ws, w := range acc.Workspaces {
			r.roles[ws] = w.Role
			if _, ok := t.wsNames[ws]; !ok {
				t.wsNames[ws] = ""
				unnamed = append(unnamed, ws)
			}
		}
		out[id] = r
		return nil
	})
	if err != nil || len(unnamed) == 0 {
		return out, err
	}
	rows, err = tx.Query(ctx, `SELECT id::text, name FROM workspaces WHERE org_id = $1 AND id = ANY($2::uuid[])`, t.orgID, unnamed)
	if err != nil {
		return nil, err
	}
	var name string
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		t.wsNames[id] = name
		return nil
	})
	return out, err
}

// events reads the tracked users' roles after the change and returns an
// event per (user, scope) whose role changed: role.granted when it rose
// (from nothing, or from a lower role), role.revoked when it fell (to a
// lower role, or to nothing). One event per change, never a revoke and a
// grant for one step down: its data carries both roles.
func (t *roleTracker) events(ctx context.Context, tx pgx.Tx) ([]pendingEvent, error) {
	if len(t.ids) == 0 {
		return nil, nil
	}
	after, err := t.read(ctx, tx)
	if err != nil {
		return nil, err
	}
	var evs []pendingEvent
	for _, id := range t.ids {
		b, bok := t.before[id]
		a, aok := after[id]
		if !bok && !aok {
			continue
		}
		who := a
		if !aok {
			who = b // deleted by the change
		}
		var scopes []roleScope
		for s := range b.roles {
			scopes = append(scopes, s)
		}
		for s := range a.roles {
			if _, ok := b.roles[s]; !ok {
				scopes = append(scopes, s)
			}
		}
		// The organization first, then workspaces by name.
		slices.SortFunc(scopes, func(x, y roleScope) int {
			if (x == "") != (y == "") {
				if x == "" {
					return -1
				}
				return 1
			}
			if c := strings.Compare(t.wsNames[x], t.wsNames[y]); c != 0 {
				return c
			}
			return strings.Compare(x, y)
		})
		rtype := directory.ResourceUser
		if who.kind == directory.KindService {
			rtype = directory.ResourceServiceAccount
		}
		for _, s := range scopes {
			from, to := b.roles[s], a.roles[s]
			if from == to {
				continue
			}
			var ws *resource.WorkspaceRef
			if s != "" {
				ws = &resource.WorkspaceRef{ID: s, Name: t.wsNames[s]}
			}
			typ := directory.EventRoleGranted
			if to < from {
				typ = directory.EventRoleRevoked
			}
			evs = append(evs, pendingEvent{typ: typ, resourceType: rtype, resourceID: id,
				data: resource.RenderRoleChange(resource.UserRef{ID: id, UserName: who.userName}, who.kind, ws, from, to)})
		}
	}
	return evs, nil
}

// bindingSubjects lists the users the bindings bs can apply to: their
// users, and the members of the groups they name (SCIM memberships and
// the groups of a last sign-in). Call it under the exclusive access lock
// for group bindings, so that no membership changes meanwhile.
func bindingSubjects(ctx context.Context, tx pgx.Tx, orgID string, bs []directory.Binding) ([]string, error) {
	users, matches, values := make([]string, len(bs)), make([]string, len(bs)), make([]string, len(bs))
	for i, b := range bs {
		users[i], matches[i], values[i] = b.UserID, string(b.GroupMatch), b.GroupValue
	}
	rows, err := tx.Query(ctx, `WITH b AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[]) AS b(user_id, match, value))
		SELECT b.user_id FROM b WHERE b.user_id <> ''
		UNION
		SELECT m.user_id::text FROM b JOIN groups g ON g.org_id = $1
			AND ((b.match = 'id' AND g.id::text = b.value) OR (b.match = 'externalId' AND g.external_id = b.value)
				OR (b.match = 'displayName' AND g.display_name = b.value))
			JOIN group_members m ON m.org_id = $1 AND m.group_id = g.id
		UNION
		SELECT lg.user_id::text FROM b JOIN login_groups lg ON lg.org_id = $1 AND b.match IN ('externalId', 'displayName') AND lg.value = b.value`,
		orgID, users, matches, values)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// groupsMapped tells whether a group binding names one of the groups by
// any of its attributes: only then can a change of their members or
// attributes change anyone's roles. Under the shared access lock no
// binding changes meanwhile.
func groupsMapped(ctx context.Context, tx pgx.Tx, orgID string, gs ...directory.Group) (bool, error) {
	var ids, externals, names []string
	for _, g := range gs {
		ids = append(ids, g.ID)
		if g.ExternalID != "" {
			externals = append(externals, g.ExternalID)
		}
		names = append(names, g.DisplayName)
	}
	return valuesMapped(ctx, tx, orgID, ids, externals, names)
}

// valuesMapped tells whether a group binding names a group by one of
// these ids, externalIds or displayNames.
func valuesMapped(ctx context.Context, tx pgx.Tx, orgID string, ids, externals, names []string) (bool, error) {
	var mapped bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM role_bindings b WHERE b.org_id = $1 AND b.group_value IS NOT NULL
		AND ((b.group_match = 'id' AND b.group_value = ANY($2::text[])) OR (b.group_match = 'externalId' AND b.group_value = ANY($3::text[]))
			OR (b.group_match = 'displayName' AND b.group_value = ANY($4::text[]))))`,
		orgID, ids, externals, names).Scan(&mapped)
	return mapped, err
}
