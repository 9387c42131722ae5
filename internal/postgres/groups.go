package postgres

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/resource"
)

const groupColumns = `g.id, g.org_id, g.display_name, coalesce(g.external_id, ''), g.attributes, g.version, g.created_at, g.updated_at`

func scanGroup(row pgx.Row) (directory.Group, error) {
	var g directory.Group
	err := row.Scan(&g.ID, &g.OrgID, &g.DisplayName, &g.ExternalID, &g.Attributes, &g.Version, &g.CreatedAt, &g.UpdatedAt)
	return g, err
}

func groupErr(err error, g directory.Group) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "groups_display_name_key":
			return directory.Conflictf("a group with displayName %q already exists", g.DisplayName)
		}
	}
	return mapErr(err, "group")
}

func validateGroup(g directory.Group) error {
	if strings.TrimSpace(g.DisplayName) == "" {
		return directory.Invalidf("displayName is required")
	}
	return nil
}

// CreateGroup stores a new group with the members added by members.
// ErrInvalid: no displayName, or a member that is not a user of the
// organization (then nothing is stored). ErrConflict: displayName or
// externalId taken.
func (db *DB) CreateGroup(ctx context.Context, actor directory.Actor, g directory.Group, members directory.MemberChange) (directory.Group, error) {
	if err := validateGroup(g); err != nil {
		return directory.Group{}, err
	}
	if g.Attributes == nil {
		g.Attributes = map[string]any{}
	}
	var out directory.Group
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if len(members.Add) > 0 {
			if err := lockAccess(ctx, tx, g.OrgID, false); err != nil {
				return err
			}
		}
		var err error
		out, err = scanGroup(tx.QueryRow(ctx, `INSERT INTO groups AS g (org_id, display_name, external_id, attributes)
			VALUES ($1, $2, $3, $4) RETURNING `+groupColumns, g.OrgID, g.DisplayName, nullIfEmpty(g.ExternalID), g.Attributes))
		if err != nil {
			return groupErr(err, g)
		}
		// A mapping may name the group before it exists (by displayName
		// or externalId): its first members may gain roles.
		roles := &roleTracker{}
		if len(members.Add) > 0 {
			if roles, err = trackGroupRoles(ctx, tx, out, out, func() ([]string, error) { return members.Add, nil }); err != nil {
				return err
			}
		}
		added, _, err := changeMembers(ctx, tx, g.OrgID, out.ID, directory.MemberChange{Add: members.Add, Display: members.Display})
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, g.OrgID, actor, "group.create", "Group", out.ID, nil, auditGroup(out, memberIDs(added), nil)); err != nil {
			return err
		}
		evs := append([]pendingEvent{{typ: directory.EventGroupCreated, resourceType: directory.ResourceGroup, resourceID: out.ID,
			data: resource.RenderGroup(out)}}, memberEvents(out, added, nil)...)
		more, err := roles.events(ctx, tx)
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, g.OrgID, actor, append(evs, more...))
	})
	return out, err
}

// trackGroupRoles tracks the roles of the users whose membership of a
// group may change (candidates), or of all its members and candidates
// when its attributes that mappings name change (from cur to next): if
// a mapping names the group by either. Otherwise no role can change and
// nothing is read or locked, which keeps an IdP's push of unmapped groups
// as cheap as it was. Call it under the shared access lock and the
// group's row lock.
func trackGroupRoles(ctx context.Context, tx pgx.Tx, cur, next directory.Group, candidates func() ([]string, error)) (*roleTracker, error) {
	mapped, err := groupsMapped(ctx, tx, cur.OrgID, cur, next)
	if err != nil || !mapped {
		return &roleTracker{}, err
	}
	ids, err := candidates()
	if err != nil {
		return nil, err
	}
	if cur.DisplayName != next.DisplayName || cur.ExternalID != next.ExternalID {
		members, err := groupMemberIDs(ctx, tx, cur.OrgID, cur.ID)
		if err != nil {
			return nil, err
		}
		ids = append(members, ids...)
	}
	return trackRoles(ctx, tx, cur.OrgID, ids)
}

// groupMemberIDs lists a group's members.
func groupMemberIDs(ctx context.Context, tx pgx.Tx, orgID, groupID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT user_id::text FROM group_members WHERE org_id = $1 AND group_id = $2`, orgID, groupID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// memberCandidates are the users whose membership mc may change: those it
// adds or removes, or, for a replacement (or a removal of all followed by
// additions), those in one of the current and the new members but not
// both.
func memberCandidates(ctx context.Context, tx pgx.Tx, orgID, groupID string, mc directory.MemberChange) ([]string, error) {
	if !mc.Replace && !mc.RemoveAll {
		return append(append([]string{}, mc.Add...), mc.Remove...), nil
	}
	cur, err := groupMemberIDs(ctx, tx, orgID, groupID)
	if err != nil {
		return nil, err
	}
	// Either way the members end as mc.Add.
	keep := map[string]bool{}
	for _, id := range mc.Add {
		keep[strings.ToLower(id)] = true
	}
	var out []string
	for _, id := range cur {
		if !keep[id] {
			out = append(out, id)
		}
		delete(keep, id)
	}
	for id := range keep {
		out = append(out, id)
	}
	return out, nil
}

// memberRef is a member added to or removed from a group.
type memberRef struct{ id, userName string }

func memberIDs(ms []memberRef) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.id
	}
	return out
}

// memberEvents are the events of members added to and removed from g:
// the net change, so that a member removed with every other and added
// back in one request (remove all, then add) is no event.
func memberEvents(g directory.Group, added, removed []memberRef) []pendingEvent {
	both := map[string]int{}
	for _, m := range added {
		both[m.id]++
	}
	for _, m := range removed {
		both[m.id]++
	}
	net := func(ms []memberRef) []memberRef {
		out := ms[:0:0]
		for _, m := range ms {
			if both[m.id] < 2 {
				out = append(out, m)
			}
		}
		return out
	}
	added, removed = net(added), net(removed)
	evs := make([]pendingEvent, 0, len(added)+len(removed))
	for _, c := range []struct {
		typ string
		ms  []memberRef
	}{{directory.EventGroupMemberRemoved, removed}, {directory.EventGroupMemberAdded, added}} {
		for _, m := range c.ms {
			evs = append(evs, pendingEvent{typ: c.typ, resourceType: directory.ResourceGroup, resourceID: g.ID,
				data: resource.GroupMember{Group: resource.GroupRef{ID: g.ID, DisplayName: g.DisplayName},
					User: resource.UserRef{ID: m.id, UserName: m.userName}}})
		}
	}
	return evs
}

func auditGroup(g directory.Group, added, removed []string) map[string]any {
	m := map[string]any{"displayName": g.DisplayName, "externalId": g.ExternalID, "attributes": g.Attributes}
	if len(added) > 0 {
		m["membersAdded"] = added
	}
	if len(removed) > 0 {
		m["membersRemoved"] = removed
	}
	return m
}

// Group returns one group, with its members when withMembers is set.
// ErrNotFound: no such group in the organization.
func (db *DB) Group(ctx context.Context, orgID, id string, withMembers bool) (directory.Group, error) {
	if !isUUID(id) {
		return directory.Group{}, directory.NotFoundf("group %q not found", id)
	}
	g, err := scanGroup(db.Pool.QueryRow(ctx, `SELECT `+groupColumns+` FROM groups g WHERE g.org_id = $1 AND g.id = $2`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return g, directory.NotFoundf("group %q not found", id)
	}
	if err != nil || !withMembers {
		return g, err
	}
	members, err := db.members(ctx, orgID, []string{id})
	g.Members = members[id]
	if g.Members == nil {
		g.Members = []directory.Member{}
	}
	return g, err
}

// members loads the members of several groups in one query.
func (db *DB) members(ctx context.Context, orgID string, groupIDs []string) (map[string][]directory.Member, error) {
	rows, err := db.Pool.Query(ctx, `SELECT m.group_id, m.user_id, coalesce(m.display, u.display_name, u.user_name)
		FROM group_members m JOIN users u ON u.org_id = m.org_id AND u.id = m.user_id
		WHERE m.org_id = $1 AND m.group_id = ANY($2::uuid[]) ORDER BY m.group_id, m.added_at, m.user_id`, orgID, groupIDs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string][]directory.Member, len(groupIDs))
	for rows.Next() {
		var gid string
		var m directory.Member
		if err := rows.Scan(&gid, &m.UserID, &m.Display); err != nil {
			return nil, err
		}
		out[gid] = append(out[gid], m)
	}
	return out, rows.Err()
}

// UpdateGroup changes one group in one transaction, like UpdateUser: change
// gets the current group (without members) and returns the new one and the
// change to its members. The members change costs what it changes.
// Errors: ErrNotFound, ErrPrecondition, ErrInvalid (unknown member ids:
// nothing is changed), ErrConflict.
func (db *DB) UpdateGroup(ctx context.Context, actor directory.Actor, orgID, id string, version int64,
	change func(cur directory.Group) (directory.Group, directory.MemberChange, error)) (directory.Group, error) {
	if !isUUID(id) {
		return directory.Group{}, directory.NotFoundf("group %q not found", id)
	}
	var out directory.Group
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccess(ctx, tx, orgID, false); err != nil {
			return err
		}
		cur, err := lockGroup(ctx, tx, orgID, id, version)
		if err != nil {
			return err
		}
		proposal := cur
		proposal.Attributes = directory.CloneDoc(cur.Attributes)
		next, mc, err := change(proposal)
		if err != nil {
			return err
		}
		if err := validateGroup(next); err != nil {
			return err
		}
		next.ID, next.OrgID = cur.ID, cur.OrgID
		roles, err := trackGroupRoles(ctx, tx, cur, next, func() ([]string, error) { return memberCandidates(ctx, tx, orgID, id, mc) })
		if err != nil {
			return err
		}
		added, removed, err := changeMembers(ctx, tx, orgID, id, mc)
		if err != nil {
			return err
		}
		same := next.DisplayName == cur.DisplayName && next.ExternalID == cur.ExternalID &&
			reflect.DeepEqual(directory.NormalJSON(next.Attributes), directory.NormalJSON(cur.Attributes))
		if same && len(added) == 0 && len(removed) == 0 {
			out = cur
			return nil
		}
		out, err = scanGroup(tx.QueryRow(ctx, `UPDATE groups g SET display_name = $3, external_id = $4, attributes = $5,
				version = g.version + 1, updated_at = now()
			WHERE g.org_id = $1 AND g.id = $2 RETURNING `+groupColumns,
			orgID, id, next.DisplayName, nullIfEmpty(next.ExternalID), next.Attributes))
		if err != nil {
			return groupErr(err, next)
		}
		if err := audit(ctx, tx, orgID, actor, "group.update", "Group", id, auditGroup(cur, nil, nil),
			auditGroup(out, memberIDs(added), memberIDs(removed))); err != nil {
			return err
		}
		var evs []pendingEvent
		if !sameData(resource.RenderGroup(cur), resource.RenderGroup(out)) {
			evs = append(evs, pendingEvent{typ: directory.EventGroupUpdated, resourceType: directory.ResourceGroup, resourceID: id,
				data: resource.RenderGroup(out)})
		}
		evs = append(evs, memberEvents(out, added, removed)...)
		more, err := roles.events(ctx, tx)
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, orgID, actor, append(evs, more...))
	})
	return out, err
}

// lockGroup locks a group for a change and checks its version (0 means
// any). Errors: ErrNotFound, ErrPrecondition.
func lockGroup(ctx context.Context, tx pgx.Tx, orgID, id string, version int64) (directory.Group, error) {
	cur, err := scanGroup(tx.QueryRow(ctx, `SELECT `+groupColumns+` FROM groups g WHERE g.org_id = $1 AND g.id = $2 FOR UPDATE`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return cur, directory.NotFoundf("group %q not found", id)
	}
	if err != nil {
		return cur, err
	}
	if version != 0 && version != cur.Version {
		return cur, &directory.Error{Kind: directory.ErrPrecondition, Msg: fmt.Sprintf("group %s is at version %d, not %d", id, cur.Version, version)}
	}
	return cur, nil
}

// changeMembers applies mc to a group and returns the user ids actually
// added and removed. Unknown user ids are refused before anything changes.
func changeMembers(ctx context.Context, tx pgx.Tx, orgID, groupID string, mc directory.MemberChange) (added, removed []memberRef, err error) {
	add := dedupe(mc.Add)
	if len(add) > 0 {
		var bad []string
		for _, id := range add {
			if !isUUID(id) {
				bad = append(bad, id)
			}
		}
		if len(bad) == 0 {
			rows, err := tx.Query(ctx, `SELECT x::text FROM unnest($2::uuid[]) AS x
				WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.org_id = $1 AND u.id = x AND u.source = 'scim')`, orgID, add)
			if err != nil {
				return nil, nil, err
			}
			bad, err = pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return nil, nil, err
			}
		}
		if len(bad) > 0 {
			if len(bad) > 10 {
				bad = append(bad[:10], fmt.Sprintf("and %d more", len(bad)-10))
			}
			return nil, nil, directory.Invalidf("members are not users this identity provider manages in the organization: %s", strings.Join(bad, ", "))
		}
	}
	// Each statement returns the members it added or removed with their
	// userNames, for their events.
	const returning = ` RETURNING user_id::text, (SELECT u.user_name FROM users u WHERE u.org_id = $1 AND u.id = user_id)`
	collect := func(sql string, args ...any) ([]memberRef, error) {
		rows, err := tx.Query(ctx, sql+returning, args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (memberRef, error) {
			var m memberRef
			err := r.Scan(&m.id, &m.userName)
			return m, err
		})
	}
	switch {
	case mc.Replace || mc.RemoveAll:
		keep := add
		if !mc.Replace {
			keep = nil
		}
		if keep == nil {
			keep = []string{}
		}
		// An anti-join, not user_id <> ALL($3): a generic plan compares
		// each member with every kept id (25,000 each way took 9 s).
		removed, err = collect(`DELETE FROM group_members m WHERE m.org_id = $1 AND m.group_id = $2
			AND NOT EXISTS (SELECT 1 FROM unnest($3::uuid[]) AS k(id) WHERE k.id = m.user_id)`, orgID, groupID, keep)
	case len(mc.Remove) > 0:
		var ids []string
		for _, id := range dedupe(mc.Remove) {
			if isUUID(id) { // anything else cannot be a member: removing it is a no-op
				ids = append(ids, id)
			}
		}
		if len(ids) > 0 {
			removed, err = collect(`DELETE FROM group_members WHERE org_id = $1 AND group_id = $2 AND user_id = ANY($3::uuid[])`,
				orgID, groupID, ids)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	if len(add) > 0 {
		// Adding a member that is already there is a no-op (RFC 7644 §3.5.2.1).
		displays := make([]*string, len(add))
		for i, id := range add {
			if d, ok := mc.Display[id]; ok && d != "" {
				displays[i] = &d
			}
		}
		added, err = collect(`INSERT INTO group_members (org_id, group_id, user_id, display)
			SELECT $1, $2, x, d FROM unnest($3::uuid[], $4::text[]) AS t(x, d) ON CONFLICT DO NOTHING`,
			orgID, groupID, add, displays)
	}
	return added, removed, err
}

func dedupe(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		k := strings.ToLower(id)
		if !seen[k] {
			seen[k] = true
			out = append(out, id)
		}
	}
	return out
}

// DeleteGroup deletes a group and its memberships. Errors: ErrNotFound,
// ErrPrecondition.
func (db *DB) DeleteGroup(ctx context.Context, actor directory.Actor, orgID, id string, version int64) error {
	if !isUUID(id) {
		return directory.NotFoundf("group %q not found", id)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccess(ctx, tx, orgID, false); err != nil {
			return err
		}
		cur, err := lockGroup(ctx, tx, orgID, id, version)
		if err != nil {
			return err
		}
		// Its members leave it: if a mapping names it, their roles may
		// fall. (No group.member_removed: group.deleted says it.)
		roles := &roleTracker{}
		if mapped, err := groupsMapped(ctx, tx, orgID, cur); err != nil {
			return err
		} else if mapped {
			members, err := groupMemberIDs(ctx, tx, orgID, id)
			if err != nil {
				return err
			}
			if roles, err = trackRoles(ctx, tx, orgID, members); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM groups WHERE org_id = $1 AND id = $2`, orgID, id); err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, "group.delete", "Group", id, auditGroup(cur, nil, nil), nil); err != nil {
			return err
		}
		evs, err := roles.events(ctx, tx)
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, orgID, actor, append([]pendingEvent{{typ: directory.EventGroupDeleted,
			resourceType: directory.ResourceGroup, resourceID: id, data: resource.RenderGroup(cur)}}, evs...))
	})
}

// ListGroups returns a page of the organization's groups matching q (with
// members when q.WithMembers), and how many match in all.
func (db *DB) ListGroups(ctx context.Context, orgID string, q directory.ListQuery) ([]directory.Group, int, error) {
	st, args, err := groupList(orgID, q)
	if err != nil {
		return nil, 0, err
	}
	groups, total, err := listPage(ctx, db, st, args, q, scanGroup)
	if err != nil || !q.WithMembers || len(groups) == 0 {
		return groups, total, err
	}
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
	}
	members, err := db.members(ctx, orgID, ids)
	if err != nil {
		return nil, 0, err
	}
	for i := range groups {
		groups[i].Members = members[groups[i].ID]
		if groups[i].Members == nil {
			groups[i].Members = []directory.Member{}
		}
	}
	return groups, total, nil
}

// groupList is the statement of ListGroups.
func groupList(orgID string, q directory.ListQuery) (listStmt, *sqlArgs, error) {
	args := &sqlArgs{}
	args.add(orgID)
	st := listStmt{table: "groups", alias: "g", where: "g.org_id = $1", columns: groupColumns}
	if q.Filter != nil {
		expr, err := groupFilterSQL(q.Filter, args)
		if err != nil {
			return st, nil, err
		}
		st.where += " AND (" + expr + ")"
		st.probe = groupProbeSQL(q.Filter, args)
	}
	var err error
	st.order, err = groupOrderSQL(q.SortBy, q.Descending)
	return st, args, err
}

// GroupKnown reports whether the organization has heard of a group that a
// mapping of match and value would apply to: a SCIM group, or a value of
// some member's last sign-in groups claim (which names groups by
// displayName or externalId, whichever the IdP sends). A mapping may be
// made before either; the admin API only warns.
func (db *DB) GroupKnown(ctx context.Context, orgID string, match directory.GroupMatch, value string) (bool, error) {
	var known bool
	err := db.Pool.QueryRow(ctx, `SELECT CASE $2
			WHEN 'id' THEN EXISTS (SELECT 1 FROM groups WHERE org_id = $1 AND id::text = $3)
			WHEN 'externalId' THEN EXISTS (SELECT 1 FROM groups WHERE org_id = $1 AND external_id = $3)
				OR EXISTS (SELECT 1 FROM login_groups WHERE org_id = $1 AND value = $3)
			ELSE EXISTS (SELECT 1 FROM groups WHERE org_id = $1 AND display_name = $3)
				OR EXISTS (SELECT 1 FROM login_groups WHERE org_id = $1 AND value = $3)
		END`, orgID, string(match), value).Scan(&known)
	return known, err
}
