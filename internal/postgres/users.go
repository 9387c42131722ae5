package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/resource"
)

// userColumns are read by scanUser; the last one derives User.Groups from
// memberships in the same statement. Each group's name is a subquery of
// its own, a primary-key probe per membership: as a join, the planner,
// on stale statistics, merged the user's memberships with the
// organization's groups read whole in id order.
const userColumns = `u.id, u.org_id, u.user_name, coalesce(u.external_id, ''), u.active,
	coalesce(u.display_name, ''), coalesce(u.given_name, ''), coalesce(u.family_name, ''),
	u.emails, u.attributes, u.version, u.created_at, u.updated_at, u.kind, u.source, u.removed_at,
	(SELECT coalesce(jsonb_agg(jsonb_build_object('id', x.id, 'displayName', x.name) ORDER BY x.name, x.id), '[]')
	   FROM (SELECT m.group_id AS id, (SELECT g.display_name FROM groups g WHERE g.org_id = m.org_id AND g.id = m.group_id) AS name
	           FROM group_members m WHERE m.org_id = u.org_id AND m.user_id = u.id) x)`

func scanUser(row pgx.Row) (directory.User, error) { return scanUserAnd(row) }

// scanUserAnd scans userColumns, then extra.
func scanUserAnd(row pgx.Row, extra ...any) (directory.User, error) {
	var u directory.User
	err := row.Scan(append(userDest(&u), extra...)...)
	return u, err
}

// userDest is where userColumns scan to: every statement that reads a
// user with other columns appends them to (or puts them before) these.
func userDest(u *directory.User) []any {
	return []any{&u.ID, &u.OrgID, &u.UserName, &u.ExternalID, &u.Active, &u.DisplayName, &u.GivenName, &u.FamilyName,
		&u.Emails, &u.Attributes, &u.Version, &u.CreatedAt, &u.UpdatedAt, &u.Kind, &u.Source, &u.RemovedAt, &u.Groups}
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// userErr maps a failed write of user u to a domain error.
func userErr(err error, u directory.User) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "users_user_name_key":
			return directory.Conflictf("a user with userName %q already exists", u.UserName)
		}
	}
	return mapErr(err, "user")
}

// auditUser is what the audit trail records of a user.
func auditUser(u directory.User) map[string]any {
	return map[string]any{"userName": u.UserName, "externalId": u.ExternalID, "active": u.Active, "attributes": u.Attributes}
}

// userChange is what happened to a user, for its event.
type userChange int

const (
	userCreated userChange = iota
	userUpdated
	userDeactivated
	userReactivated
	userRemoved
)

// The event types of each change: people's and service accounts'.
var (
	personEvents  = [...]string{directory.EventUserCreated, directory.EventUserUpdated, directory.EventUserDeactivated, directory.EventUserReactivated, directory.EventUserRemoved}
	serviceEvents = [...]string{directory.EventServiceAccountCreated, directory.EventServiceAccountUpdated, directory.EventServiceAccountDisabled, directory.EventServiceAccountEnabled, directory.EventServiceAccountDeleted}
)

// updateChange tells an update from a deactivation or reactivation.
func updateChange(before, after directory.User) userChange {
	switch {
	case before.Active && !after.Active:
		return userDeactivated
	case !before.Active && after.Active:
		return userReactivated
	}
	return userUpdated
}

// renderUserEvent renders a user as its events carry it: a person as the
// admin API's user, a service account as its service account, whose
// owner ownerNames names (see resource.RenderServiceAccount).
func renderUserEvent(c userChange, u directory.User, ownerNames map[string]string) pendingEvent {
	if u.Kind == directory.KindService {
		return pendingEvent{typ: serviceEvents[c], resourceType: directory.ResourceServiceAccount, resourceID: u.ID,
			data: resource.RenderServiceAccount(u, ownerNames)}
	}
	return pendingEvent{typ: personEvents[c], resourceType: directory.ResourceUser, resourceID: u.ID, data: resource.RenderUser(u)}
}

// userEvent is the event of change c of u, read in the transaction q:
// a service account's owner is named by their current userName.
func userEvent(ctx context.Context, q rowQuerier, c userChange, u directory.User) (pendingEvent, error) {
	var names map[string]string
	if id, _ := resource.ServiceAccountOwner(u); u.Kind == directory.KindService && isUUID(id) {
		var name string
		err := q.QueryRow(ctx, `SELECT user_name FROM users WHERE org_id = $1 AND id = $2`, u.OrgID, id).Scan(&name)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return pendingEvent{}, err
		}
		if err == nil {
			names = map[string]string{id: name}
		}
	}
	return renderUserEvent(c, u, names), nil
}

// userUpdateEvents is the event of a change from before to after, if the
// user as events show it changed (besides updatedAt): attributes that
// the admin API does not show change nothing a platform sees.
func userUpdateEvents(ctx context.Context, q rowQuerier, before, after directory.User) ([]pendingEvent, error) {
	c := updateChange(before, after)
	e, err := userEvent(ctx, q, c, after)
	if err != nil || c != userUpdated {
		return []pendingEvent{e}, err
	}
	was, err := userEvent(ctx, q, c, before)
	if err != nil {
		return nil, err
	}
	if sameData(was.data, e.data) {
		return nil, nil
	}
	return []pendingEvent{e}, nil
}

// sameData tells whether two renderings of a resource are equal but for
// their updatedAt.
func sameData(a, b any) bool {
	norm := func(v any) string {
		switch r := v.(type) {
		case resource.User:
			r.UpdatedAt = time.Time{}
			v = r
		case resource.ServiceAccount:
			r.UpdatedAt = time.Time{}
			v = r
		case resource.Group:
			r.UpdatedAt = time.Time{}
			v = r
		}
		j, _ := json.Marshal(v)
		return string(j)
	}
	return norm(a) == norm(b)
}

// CreateUser stores a new user of u.OrgID (kind and source default to a
// person provisioned over SCIM). ErrInvalid: no userName.
// ErrConflict: the userName (case-insensitively) or externalId is taken.
func (db *DB) CreateUser(ctx context.Context, actor directory.Actor, u directory.User) (directory.User, error) {
	if err := u.Derive(); err != nil {
		return directory.User{}, err
	}
	created, err := insertUser(ctx, db.Pool, actor, u)
	if errors.Is(err, errJITHolds) {
		return db.adoptByEmail(ctx, actor, u)
	}
	if errors.Is(err, directory.ErrConflict) {
		return db.whyTaken(ctx, actor, u, err)
	}
	return created, err
}

// errJITHolds reports that insertUser did not insert a SCIM user because
// a JIT user holds one of its addresses: the caller adopts that user.
var errJITHolds = errors.New("a JIT user holds one of the addresses")

// jitAddresses are the addresses by which a SCIM user created now adopts
// the user that a login created before (JIT users are named by their
// email): its emails, and its userName when that is an address.
func jitAddresses(u directory.User) []string {
	if u.Source != "" && u.Source != directory.SourceSCIM {
		return []string{}
	}
	out := append([]string{}, u.Emails...)
	if strings.Contains(u.UserName, "@") {
		out = append(out, directory.FoldASCII(u.UserName))
	}
	return out
}

// rowQuerier is a pool or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// insertUser is CreateUser's insert, on q (the caller's transaction, or
// the pool), without its explanation of a taken name.
func insertUser(ctx context.Context, q rowQuerier, actor directory.Actor, u directory.User) (directory.User, error) {
	if err := u.Derive(); err != nil {
		return directory.User{}, err
	}
	kind, source := u.Kind, u.Source
	if kind == "" {
		kind = directory.KindHuman
	}
	if source == "" {
		source = directory.SourceSCIM
	}
	// One statement: the insert and its audit event commit together, in
	// one round trip (an IdP's initial push creates users by the thousand).
	// The insert yields to a JIT user holding one of the addresses (a
	// login came before the push): the caller adopts it. The check walks
	// the organization's few JIT users by their partial index (migration
	// 00012) and compares their addresses.
	// Its event is rendered here but for what the insert decides (id and
	// times), which the statement adds: one round trip still.
	probe := u
	probe.Kind, probe.Source = kind, source
	ev := renderUserEvent(userCreated, probe, nil)
	data, err := json.Marshal(ev.data)
	if err != nil {
		return directory.User{}, err
	}
	row := q.QueryRow(ctx, `WITH u AS (
			INSERT INTO users (org_id, user_name, external_id, active, display_name, given_name, family_name, emails, attributes, kind, source)
			SELECT $1::uuid, $2::text, $3::text, $4::boolean, $5::text, $6::text, $7::text, $8::text[], $9::jsonb, $11::text, $12::text
			WHERE NOT EXISTS (SELECT 1 FROM users j WHERE j.org_id = $1 AND j.source = 'jit' AND j.removed_at IS NULL AND j.verified_login
				AND EXISTS (SELECT 1 FROM unnest(j.emails) e WHERE e = ANY ($13::text[])))
			RETURNING *
		), a AS (
			INSERT INTO audit_events (org_id, actor, action, resource_type, resource_id, after)
			SELECT u.org_id, $10, 'user.create', 'User', u.id::text,
				jsonb_build_object('userName', u.user_name, 'externalId', u.external_id, 'active', u.active, 'attributes', u.attributes)
			FROM u
		), e AS (
			INSERT INTO events (org_id, type, resource_type, resource_id, actor_kind, actor_name, data)
			SELECT u.org_id, $14, $15, u.id::text, $16, $17, $18::jsonb || jsonb_build_object('id', u.id::text,
				'createdAt', `+sqlRFC3339("u.created_at")+`, 'updatedAt', `+sqlRFC3339("u.updated_at")+`)
			FROM u
		)
		SELECT u.id, u.org_id, u.user_name, coalesce(u.external_id, ''), u.active,
			coalesce(u.display_name, ''), coalesce(u.given_name, ''), coalesce(u.family_name, ''),
			u.emails, u.attributes, u.version, u.created_at, u.updated_at, u.kind, u.source, u.removed_at, '[]'::jsonb
		FROM u`,
		u.OrgID, u.UserName, nullIfEmpty(u.ExternalID), u.Active, nullIfEmpty(u.DisplayName), nullIfEmpty(u.GivenName),
		nullIfEmpty(u.FamilyName), u.Emails, u.Attributes, actor.String(), kind, source, jitAddresses(u),
		ev.typ, ev.resourceType, actor.Kind, actor.Name, data)
	created, err := scanUser(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return directory.User{}, errJITHolds
	}
	if err != nil {
		return directory.User{}, userErr(err, u)
	}
	return created, nil
}

// whyTaken explains a userName conflict with a user SCIM does not manage.
func (db *DB) whyTaken(ctx context.Context, actor directory.Actor, u directory.User, conflict error) (directory.User, error) {
	if u.Source != "" && u.Source != directory.SourceSCIM {
		return directory.User{}, conflict // only an IdP's push is refused, or adopts, as such
	}
	var source string
	err := db.Pool.QueryRow(ctx, `SELECT source FROM users WHERE org_id = $1 AND ascii_lower(user_name) = ascii_lower($2)`, u.OrgID, u.UserName).Scan(&source)
	if err != nil {
		return directory.User{}, conflict
	}
	switch source {
	case directory.SourceJIT:
		return db.adopt(ctx, actor, u, conflict)
	case directory.SourceBreakGlass:
		return directory.User{}, db.refused(ctx, actor, u.OrgID, "user.create", "", errBreakGlass{userName: u.UserName})
	case directory.SourceService:
		return directory.User{}, directory.Conflictf("userName %q belongs to a service account, which no identity provider manages", u.UserName)
	}
	return directory.User{}, conflict
}

// User returns one SCIM-managed user with its groups. ErrNotFound: no
// such user in the organization. (Users of other sources are invisible to
// SCIM; see Member.)
func (db *DB) User(ctx context.Context, orgID, id string) (directory.User, error) {
	u, err := db.Member(ctx, orgID, id)
	if err == nil && u.Source != directory.SourceSCIM {
		return directory.User{}, directory.NotFoundf("user %q not found", id)
	}
	return u, err
}

// UpdateUser changes one user in one transaction: it locks the row, checks
// the version (version 0 means any), lets change compute the new state from
// the current one, and writes it with an audit event. A change that alters
// nothing writes nothing. Errors: ErrNotFound, ErrPrecondition (stale
// version), ErrInvalid, ErrConflict, and whatever change returns.
func (db *DB) UpdateUser(ctx context.Context, actor directory.Actor, orgID, id string, version int64,
	change func(cur directory.User) (directory.User, error)) (directory.User, error) {
	if !isUUID(id) {
		return directory.User{}, directory.NotFoundf("user %q not found", id)
	}
	var out directory.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		cur, err := lockSCIMUser(ctx, tx, orgID, id, version)
		if err != nil {
			return err
		}
		proposal := cur
		proposal.Attributes = directory.CloneDoc(cur.Attributes)
		next, err := change(proposal)
		if err != nil {
			return err
		}
		next.ID, next.OrgID = cur.ID, cur.OrgID
		if err := next.Derive(); err != nil {
			return err
		}
		if next.ExternalID == cur.ExternalID && reflect.DeepEqual(directory.NormalJSON(next.Attributes), directory.NormalJSON(cur.Attributes)) {
			out = cur
			return nil
		}
		out, err = scanUser(tx.QueryRow(ctx, `UPDATE users u SET user_name = $3, external_id = $4, active = $5, display_name = $6,
				given_name = $7, family_name = $8, emails = $9, attributes = $10, version = u.version + 1, updated_at = now()
			WHERE u.org_id = $1 AND u.id = $2 RETURNING `+userColumns,
			orgID, id, next.UserName, nullIfEmpty(next.ExternalID), next.Active, nullIfEmpty(next.DisplayName),
			nullIfEmpty(next.GivenName), nullIfEmpty(next.FamilyName), next.Emails, next.Attributes))
		if err != nil {
			return userErr(err, next)
		}
		action := "user.update"
		switch {
		case cur.Active && !out.Active:
			action = "user.deactivate"
			// A deactivated user is inactive for the whole system: its API
			// tokens and login sessions end with it.
			if _, err := revokeUserAccess(ctx, tx, orgID, id); err != nil {
				return err
			}
		case !cur.Active && out.Active:
			action = "user.reactivate"
		}
		if err := audit(ctx, tx, orgID, actor, action, "User", id, auditUser(cur), auditUser(out)); err != nil {
			return err
		}
		evs, err := userUpdateEvents(ctx, tx, cur, out)
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, orgID, actor, evs)
	})
	return out, db.refused(ctx, actor, orgID, "user.update", id, err)
}

// DeleteUser deletes a user; its memberships go with it. version 0 means
// any. Errors: ErrNotFound, ErrPrecondition.
func (db *DB) DeleteUser(ctx context.Context, actor directory.Actor, orgID, id string, version int64) error {
	if !isUUID(id) {
		return directory.NotFoundf("user %q not found", id)
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// Its memberships go with it: its roles may fall.
		if err := lockAccess(ctx, tx, orgID, false); err != nil {
			return err
		}
		cur, err := lockSCIMUser(ctx, tx, orgID, id, version)
		if err != nil {
			return err
		}
		roles, err := trackRoles(ctx, tx, orgID, []string{id})
		if err != nil {
			return err
		}
		var removedAt time.Time
		if err := tx.QueryRow(ctx, `DELETE FROM users WHERE org_id = $1 AND id = $2 RETURNING now()`, orgID, id).Scan(&removedAt); err != nil {
			return err
		}
		before := auditUser(cur)
		before["groups"] = cur.Groups
		if err := audit(ctx, tx, orgID, actor, "user.delete", "User", id, before, nil); err != nil {
			return err
		}
		// The event shows the user as it was, marked removed: its last
		// state, which no listing shows any more.
		evs, err := roles.events(ctx, tx)
		if err != nil {
			return err
		}
		gone := cur
		gone.Active, gone.RemovedAt = false, &removedAt
		return appendEvents(ctx, tx, orgID, actor, append(evs, renderUserEvent(userRemoved, gone, nil)))
	})
	return db.refused(ctx, actor, orgID, "user.delete", id, err)
}

// ListUsers returns a page of the organization's users matching q, and
// how many match in all. The count and the page go in one round trip.
func (db *DB) ListUsers(ctx context.Context, orgID string, q directory.ListQuery) ([]directory.User, int, error) {
	st, args, err := userList(orgID, q)
	if err != nil {
		return nil, 0, err
	}
	return listPage(ctx, db, st, args, q, scanUser)
}

// userList is the statement of ListUsers.
func userList(orgID string, q directory.ListQuery) (listStmt, *sqlArgs, error) {
	args := &sqlArgs{}
	args.add(orgID)
	st := listStmt{table: "users", alias: "u", where: "u.org_id = $1 AND u.source = 'scim'", columns: userColumns}
	if q.Filter != nil {
		expr, err := userFilterSQL(q.Filter, args)
		if err != nil {
			return st, nil, err
		}
		st.where += " AND (" + expr + ")"
		st.probe = userProbeSQL(q.Filter, args)
	}
	var err error
	if st.order, err = userOrderSQL(q.SortBy, q.Descending); err != nil {
		return st, nil, err
	}
	if q.Filter == nil {
		st.count = `SELECT coalesce(sum(n), 0) FROM user_counts WHERE org_id = $1` // kept by a trigger
	}
	return st, args, nil
}

// listStmt is a list of one table's rows (aliased alias) matching where,
// in order, each read as columns.
type listStmt struct {
	table, alias, where, order, columns string
	// probe, when set, is an indexed condition that every row matching
	// where meets and few rows do (userProbeSQL): the statements then
	// read those rows first, and filter, sort and page only them.
	probe string
	// count, when set, counts the matches more cheaply than count(*).
	count string
}

// source is what the statements read rows from: the table, or the
// candidates the probe found, in a CTE that no other condition, ORDER BY
// or LIMIT reaches (MATERIALIZED keeps the planner from merging them in).
func (s listStmt) source() (with, from string) {
	if s.probe == "" {
		return "", s.table
	}
	if strings.HasPrefix(s.probe, "FROM ") {
		return fmt.Sprintf("WITH c AS MATERIALIZED (SELECT %s.* %s) ", s.alias, s.probe), "c"
	}
	return fmt.Sprintf("WITH c AS MATERIALIZED (SELECT * FROM %s %s WHERE %s) ", s.table, s.alias, s.probe), "c"
}

// pageSQL is the statement of a page, LIMIT limit OFFSET skip.
//
// The page's rows are chosen by (org_id, seq) alone, which the default
// order reads from an index without visiting the rows OFFSET skips, and
// only then read and projected: columns may hold subqueries (a user's
// groups), which must not run for skipped rows.
func (s listStmt) pageSQL(limit, skip string) string {
	with, from := s.source()
	return fmt.Sprintf(`%[8]sSELECT %[1]s FROM (SELECT %[3]s.org_id, %[3]s.seq FROM %[2]s %[3]s WHERE %[4]s ORDER BY %[5]s LIMIT %[6]s OFFSET %[7]s) p
			JOIN %[2]s %[3]s ON %[3]s.org_id = p.org_id AND %[3]s.seq = p.seq ORDER BY %[5]s`,
		s.columns, from, s.alias, s.where, s.order, limit, skip, with)
}

// countSQL is the statement that counts the matches.
func (s listStmt) countSQL() string {
	if s.count != "" {
		return s.count
	}
	with, from := s.source()
	return with + `SELECT count(*) FROM ` + from + ` ` + s.alias + ` WHERE ` + s.where
}

// listPage reads a page of a list and how many rows match in all. The page
// comes first: when it is the first page and not full, it holds every
// match and no count is needed (an IdP's lookup by userName gets one
// statement). Otherwise the count is a second statement.
func listPage[T any](ctx context.Context, db *DB, st listStmt, args *sqlArgs, q directory.ListQuery,
	scan func(pgx.Row) (T, error)) ([]T, int, error) {
	items := []T{}
	offset := max(q.StartIndex, 1) - 1
	if q.Count > 0 {
		// LIMIT and OFFSET are parameters, so that every page shares one
		// prepared statement.
		page := &sqlArgs{args: append([]any(nil), args.args...)}
		limit, skip := page.add(q.Count), page.add(offset)
		rows, err := db.Pool.Query(ctx, st.pageSQL(limit, skip), page.args...)
		if err != nil {
			return nil, 0, err
		}
		for rows.Next() {
			item, err := scan(rows)
			if err != nil {
				rows.Close()
				return nil, 0, err
			}
			items = append(items, item)
		}
		if err := rows.Err(); err != nil {
			return nil, 0, err
		}
		if offset == 0 && len(items) < q.Count {
			return items, len(items), nil
		}
	}
	var total int
	if err := db.Pool.QueryRow(ctx, st.countSQL(), args.args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	return items, total, nil
}

// adopt turns the JIT user that signed in before the IdP pushed it into
// the SCIM user being created: one user, not a 409 loop (DESIGN §4). The
// IdP's document replaces what the login gave, the source becomes scim,
// and the adoption is audited, in one transaction.
func (db *DB) adopt(ctx context.Context, actor directory.Actor, u directory.User, conflict error) (directory.User, error) {
	return db.adoptWhere(ctx, actor, u, "userName", func(tx pgx.Tx) (directory.User, error) {
		var verified bool
		cur, err := scanUserAnd(tx.QueryRow(ctx, `SELECT `+userColumns+`, u.verified_login FROM users u WHERE u.org_id = $1 AND ascii_lower(u.user_name) = ascii_lower($2)
			AND u.source = 'jit' AND u.removed_at IS NULL FOR UPDATE`, u.OrgID, u.UserName), &verified)
		if errors.Is(err, pgx.ErrNoRows) {
			return cur, conflict
		}
		if err == nil && !verified {
			// Not adopted: its email was never verified, so it proves
			// nothing about who owns the account the IdP pushes.
			return cur, directory.Conflictf("userName %q is held by a user who signed in with an email address the identity provider did not verify; remove that user (source jit) in scimbridge, then the IdP's retry creates %s", u.UserName, u.UserName)
		}
		return cur, err
	})
}

// adoptByEmail adopts the JIT user that holds one of u's addresses. Two
// such users are a conflict for an administrator: merging them is not a
// guess to make for them. If the JIT user went meanwhile, u is created.
func (db *DB) adoptByEmail(ctx context.Context, actor directory.Actor, u directory.User) (directory.User, error) {
	out, err := db.adoptWhere(ctx, actor, u, "email", func(tx pgx.Tx) (directory.User, error) {
		rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM users u
			WHERE u.org_id = $1 AND u.source = 'jit' AND u.removed_at IS NULL AND u.verified_login
				AND EXISTS (SELECT 1 FROM unnest(u.emails) e WHERE e = ANY ($2::text[])) ORDER BY u.seq LIMIT 2 FOR UPDATE`,
			u.OrgID, jitAddresses(u))
		var found []directory.User
		if err == nil {
			found, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.User, error) { return scanUser(r) })
		}
		switch {
		case err != nil:
			return directory.User{}, err
		case len(found) == 0:
			return directory.User{}, errJITGone
		case len(found) > 1:
			return directory.User{}, directory.Conflictf("%s and %s signed in before %s was provisioned, and both have one of its addresses; remove one of them, then retry",
				found[0].UserName, found[1].UserName, u.UserName)
		}
		return found[0], nil
	})
	if errors.Is(err, errJITGone) {
		return db.CreateUser(ctx, actor, u)
	}
	return out, err
}

var errJITGone = errors.New("the JIT user is gone")

// adoptWhere turns the JIT user that find locks into the SCIM user u, with
// an audit event saying how it was matched.
func (db *DB) adoptWhere(ctx context.Context, actor directory.Actor, u directory.User, matchedBy string, find func(pgx.Tx) (directory.User, error)) (directory.User, error) {
	var out directory.User
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// The JIT user's login groups go: its roles may fall.
		if err := lockAccess(ctx, tx, u.OrgID, false); err != nil {
			return err
		}
		cur, err := find(tx)
		if err != nil {
			return err
		}
		roles, err := trackRoles(ctx, tx, u.OrgID, []string{cur.ID})
		if err != nil {
			return err
		}
		out, err = scanUser(tx.QueryRow(ctx, `UPDATE users u SET user_name = $3, external_id = $4, active = $5, display_name = $6,
				given_name = $7, family_name = $8, emails = $9, attributes = $10, source = 'scim', version = u.version + 1, updated_at = now()
			WHERE u.org_id = $1 AND u.id = $2 RETURNING `+userColumns,
			u.OrgID, cur.ID, u.UserName, nullIfEmpty(u.ExternalID), u.Active, nullIfEmpty(u.DisplayName),
			nullIfEmpty(u.GivenName), nullIfEmpty(u.FamilyName), u.Emails, u.Attributes))
		if err != nil {
			return userErr(err, u)
		}
		// From now on SCIM says which groups the user is in.
		if _, err := tx.Exec(ctx, `DELETE FROM login_groups WHERE org_id = $1 AND user_id = $2`, u.OrgID, cur.ID); err != nil {
			return err
		}
		after := auditUser(out)
		after["matchedBy"] = matchedBy
		if err := audit(ctx, tx, u.OrgID, actor, "user.adopt", "User", cur.ID, auditUser(cur), after); err != nil {
			return err
		}
		// For the platform the user existed already (user.created came
		// with its first sign-in): the adoption updates it.
		evs, err := userUpdateEvents(ctx, tx, cur, out)
		if err != nil {
			return err
		}
		more, err := roles.events(ctx, tx)
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, u.OrgID, actor, append(evs, more...))
	})
	return out, err
}

// errBreakGlass marks an IdP's attempt to change the break-glass owner.
type errBreakGlass struct{ userName string }

func (e errBreakGlass) Error() string { return "break-glass owner" }

// lockSCIMUser locks a SCIM-managed user for a change and checks its
// version (0 means any). Users of other sources are not found, but for
// the break-glass owner, which an IdP must never change: errBreakGlass.
func lockSCIMUser(ctx context.Context, tx pgx.Tx, orgID, id string, version int64) (directory.User, error) {
	cur, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.org_id = $1 AND u.id = $2 FOR UPDATE`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) || err == nil && cur.Source != directory.SourceSCIM && cur.Source != directory.SourceBreakGlass {
		return cur, directory.NotFoundf("user %q not found", id)
	}
	if err != nil {
		return cur, err
	}
	if cur.Source == directory.SourceBreakGlass {
		return cur, errBreakGlass{userName: cur.UserName}
	}
	if version != 0 && version != cur.Version {
		return cur, &directory.Error{Kind: directory.ErrPrecondition, Msg: fmt.Sprintf("user %s is at version %d, not %d", id, cur.Version, version)}
	}
	return cur, nil
}

// refused turns an IdP's attempt on the break-glass owner into ErrInvalid,
// and records the attempt in its own transaction (the change's was rolled
// back).
func (db *DB) refused(ctx context.Context, actor directory.Actor, orgID, action, id string, err error) error {
	var bg errBreakGlass
	if !errors.As(err, &bg) {
		return err
	}
	if aerr := db.inTx(ctx, func(tx pgx.Tx) error {
		return audit(ctx, tx, orgID, actor, action+".refused", "User", id, nil, map[string]any{"reason": "break-glass owner", "userName": bg.userName})
	}); aerr != nil {
		return aerr
	}
	return directory.Invalidf("user %s is the organization's break-glass owner, which no identity provider manages: it cannot be changed, deactivated or deleted over SCIM", bg.userName)
}
