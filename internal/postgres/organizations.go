package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// CreateOrganization creates an organization with its break-glass owner.
// It returns ErrInvalid for a bad slug or name and ErrConflict when the
// slug is taken.
func (db *DB) CreateOrganization(ctx context.Context, slug, name string) (directory.Organization, error) {
	name, err := orgNameFor(slug, name)
	if err != nil {
		return directory.Organization{}, err
	}
	var o directory.Organization
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		o, err = db.insertOrganization(ctx, tx, slug, name)
		return err
	})
	return o, err
}

// orgNameFor checks a new organization's slug and display name; an empty
// name is the slug.
func orgNameFor(slug, name string) (string, error) {
	if err := directory.ValidateSlug(slug); err != nil {
		return "", err
	}
	if name == "" {
		name = slug
	}
	return name, directory.ValidateOrgName(name)
}

// insertOrganization creates a checked organization and its initial rows
// in tx.
func (db *DB) insertOrganization(ctx context.Context, tx pgx.Tx, slug, name string) (directory.Organization, error) {
	o, err := scanOrganization(tx.QueryRow(ctx, `INSERT INTO organizations (slug, name) VALUES ($1, $2)
		RETURNING id, slug, name, created_at`, slug, name))
	if err != nil {
		return o, mapErr(err, fmt.Sprintf("organization %q", slug))
	}
	return o, db.afterOrgCreate(ctx, tx, o)
}

// BreakGlassUserName is the userName of every organization's break-glass
// owner: an Org Admin that no identity provider manages, so that the
// organization stays reachable when its IdP is not.
const BreakGlassUserName = "break-glass-owner"

// afterOrgCreate adds an organization's initial rows in the creating
// transaction: the break-glass owner and its org-admin binding.
func (db *DB) afterOrgCreate(ctx context.Context, tx pgx.Tx, o directory.Organization) error {
	owner, err := scanUser(tx.QueryRow(ctx, `INSERT INTO users AS u (org_id, user_name, display_name, attributes, kind, source)
		VALUES ($1, $2, 'Break-glass owner', jsonb_build_object('userName', $2::text, 'displayName', 'Break-glass owner'), 'human', 'breakglass')
		RETURNING `+userColumns, o.ID, BreakGlassUserName))
	if err != nil {
		return err
	}
	roles, err := trackRoles(ctx, tx, o.ID, []string{owner.ID})
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO role_bindings (org_id, role, user_id, created_by) VALUES ($1, 'org-admin', $2, 'system')`, o.ID, owner.ID); err != nil {
		return err
	}
	actor := directory.Actor{Kind: "system", Name: "org-create"}
	if err := audit(ctx, tx, o.ID, actor, "org.create", "Organization", o.ID, nil,
		map[string]any{"slug": o.Slug, "name": o.Name, "breakGlassOwner": owner.ID}); err != nil {
		return err
	}
	evs, err := roles.events(ctx, tx)
	if err != nil {
		return err
	}
	return appendEvents(ctx, tx, o.ID, actor, append([]pendingEvent{renderUserEvent(userCreated, owner, nil)}, evs...))
}

// Organization returns the organization with this slug, or ErrNotFound.
func (db *DB) Organization(ctx context.Context, slug string) (directory.Organization, error) {
	o, err := scanOrganization(db.Pool.QueryRow(ctx,
		`SELECT id, slug, name, created_at FROM organizations WHERE slug = $1`, slug))
	return o, mapErr(err, fmt.Sprintf("organization %q", slug))
}

// Organizations lists every organization by slug.
func (db *DB) Organizations(ctx context.Context) ([]directory.Organization, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, slug, name, created_at FROM organizations ORDER BY slug`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Organization, error) { return scanOrganization(r) })
}

func scanOrganization(row pgx.Row) (directory.Organization, error) {
	var o directory.Organization
	err := row.Scan(&o.ID, &o.Slug, &o.Name, &o.CreatedAt)
	return o, err
}

// ProvisionedOrganization is what ProvisionOrganization made: the
// organization, its first SCIM token and a one-time link for its
// break-glass owner. The secrets are shown once.
type ProvisionedOrganization struct {
	Org               directory.Organization
	SCIMToken         directory.SCIMToken
	SCIMSecret        string
	BreakGlassSecret  string
	BreakGlassExpires time.Time
}

// ProvisionOrganization creates an organization as CreateOrganization
// does, with a first SCIM token (tokenName, lifetime ttl as
// CreateSCIMTokenBy) and a break-glass link for its owner, all in one
// transaction: either everything exists afterwards or nothing does. The
// token and the link are audited in the organization as actor's, and the
// creation on the operator's trail. ErrInvalid: slug, name, token name,
// lifetime; ErrConflict: the slug is taken.
func (db *DB) ProvisionOrganization(ctx context.Context, actor directory.Actor, slug, name, tokenName string, ttl time.Duration) (ProvisionedOrganization, error) {
	var p ProvisionedOrganization
	name, err := orgNameFor(slug, name)
	if err != nil {
		return p, err
	}
	if err := directory.ValidateTokenName(tokenName); err != nil {
		return p, err
	}
	expires, err := db.tokenExpiry(ttl)
	if err != nil {
		return p, err
	}
	secret := directory.NewSecret(directory.SCIMTokenPrefix)
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if p.Org, err = db.insertOrganization(ctx, tx, slug, name); err != nil {
			return err
		}
		if p.SCIMToken, err = insertSCIMToken(ctx, tx, actor, p.Org.ID, tokenName, secret, expires); err != nil {
			return err
		}
		if p.BreakGlassSecret, p.BreakGlassExpires, err = insertBreakGlassLink(ctx, tx, actor, p.Org.ID); err != nil {
			return err
		}
		return operatorAudit(ctx, tx, actor, "org.create", "Organization", p.Org.ID, &p.Org, nil,
			map[string]any{"slug": p.Org.Slug, "name": p.Org.Name, "scimToken": tokenName, "scimTokenExpires": expires,
				"breakGlassLinkExpires": p.BreakGlassExpires})
	})
	if err != nil {
		return ProvisionedOrganization{}, err
	}
	p.SCIMSecret = secret
	return p, nil
}

// OrganizationPage lists organizations by slug: at most limit (1-500, as
// pageLimit) from offset, with how many there are in all.
func (db *DB) OrganizationPage(ctx context.Context, offset, limit int) ([]directory.Organization, int, error) {
	var total int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM organizations`).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := db.Pool.Query(ctx, `SELECT id, slug, name, created_at FROM organizations ORDER BY slug LIMIT $1 OFFSET $2`,
		pageLimit(limit), max(offset, 0))
	if err != nil {
		return nil, 0, err
	}
	orgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Organization, error) { return scanOrganization(r) })
	return orgs, total, err
}

// RenameOrganization sets an organization's display name (its slug, in
// every URL, stays), audited in the organization and on the operator's
// trail. ErrNotFound; ErrInvalid: the name.
func (db *DB) RenameOrganization(ctx context.Context, actor directory.Actor, slug, name string) (directory.Organization, error) {
	if err := directory.ValidateOrgName(name); err != nil {
		return directory.Organization{}, err
	}
	var o directory.Organization
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var old string
		err := tx.QueryRow(ctx, `UPDATE organizations o SET name = $2
			FROM (SELECT id, name FROM organizations WHERE slug = $1 FOR UPDATE) old
			WHERE o.id = old.id RETURNING o.id, o.slug, o.name, o.created_at, old.name`, slug, name).
			Scan(&o.ID, &o.Slug, &o.Name, &o.CreatedAt, &old)
		if err != nil {
			return mapErr(err, fmt.Sprintf("organization %q", slug))
		}
		before, after := map[string]any{"name": old}, map[string]any{"name": o.Name}
		if err := audit(ctx, tx, o.ID, actor, "org.rename", "Organization", o.ID, before, after); err != nil {
			return err
		}
		return operatorAudit(ctx, tx, actor, "org.rename", "Organization", o.ID, &o, before, after)
	})
	return o, err
}

// DeletedOrganization is what DeleteOrganization removed: the
// organization and how many rows of it each table held.
type DeletedOrganization struct {
	Org  directory.Organization
	Rows map[string]int64
}

// maxDeletePasses bounds the sweeps of DeleteOrganization. A trigger may
// write a row of the organization while another table is swept (deleting
// users updates user_counts), so one sweep is not always the last; the
// second catches those rows, and a third that still finds rows means a
// trigger keeps writing them, which is an error, not something to loop on.
const maxDeletePasses = 3

// DeleteOrganization deletes an organization and every row of it, in one
// transaction: all or nothing. The tables are read from the catalog, every
// table of the schema with an org_id column, so that a table added later
// is covered without a change here and whether or not its foreign keys
// cascade; they are emptied of the organization's rows children first
// (tables that reference another before it), then the organization goes.
// Its row is locked first, so that writes of the organization that
// arrive meanwhile wait, then fail on their foreign key. The deletion is
// on the operator's trail (the organization's own audit events go with
// it). Its cost is linear in the organization's rows; the user count
// trigger is told to leave the organization alone, since a count row
// updated once per deleted user in one transaction costs quadratic time.
// ErrNotFound.
func (db *DB) DeleteOrganization(ctx context.Context, actor directory.Actor, slug string) (DeletedOrganization, error) {
	d := DeletedOrganization{Rows: map[string]int64{}}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		d.Org, err = scanOrganization(tx.QueryRow(ctx, `SELECT id, slug, name, created_at FROM organizations WHERE slug = $1 FOR UPDATE`, slug))
		if err != nil {
			return mapErr(err, fmt.Sprintf("organization %q", slug))
		}
		tables, err := orgTables(ctx, tx)
		if err != nil {
			return err
		}
		// The user count trigger leaves this organization alone in this
		// transaction: its counts go with it (migration 00031).
		if _, err := tx.Exec(ctx, `SELECT set_config('scimbridge.deleting_org', $1, true)`, d.Org.ID); err != nil {
			return err
		}
		for pass := 1; ; pass++ {
			var n int64
			for _, t := range tables {
				tag, err := tx.Exec(ctx, `DELETE FROM `+t.ident+` WHERE org_id = $1`, d.Org.ID)
				if err != nil {
					return fmt.Errorf("delete the rows of organization %s from %s: %w", slug, t.name, err)
				}
				if k := tag.RowsAffected(); k > 0 {
					d.Rows[t.name] += k
					n += k
				}
			}
			if n == 0 {
				break
			}
			if pass == maxDeletePasses {
				return fmt.Errorf("delete organization %s: rows of it reappear after %d sweeps (a trigger writes them)", slug, pass)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM organizations WHERE id = $1`, d.Org.ID); err != nil {
			return err
		}
		return operatorAudit(ctx, tx, actor, "org.delete", "Organization", d.Org.ID, &d.Org,
			map[string]any{"slug": d.Org.Slug, "name": d.Org.Name, "createdAt": d.Org.CreatedAt}, map[string]any{"rows": d.Rows})
	})
	if err != nil {
		return DeletedOrganization{}, err
	}
	return d, nil
}

// orgTable is a table with an org_id column.
type orgTable struct {
	name  string // as the schema names it, for messages and the audit
	ident string // quoted, for SQL
}

// orgTables lists the tables of the current schema with an org_id column
// (partitioned tables once, not their partitions), each before every
// table it references by a foreign key, so that deleting in this order
// never leaves a row referencing one already deleted. Tables in a cycle
// of foreign keys, which no order satisfies, come last, by name.
func orgTables(ctx context.Context, tx pgx.Tx) ([]orgTable, error) {
	rows, err := tx.Query(ctx, `SELECT c.oid, n.nspname, c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		ORDER BY c.relname`)
	if err != nil {
		return nil, err
	}
	type table struct {
		oid uint32
		orgTable
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		var schema string
		err := r.Scan(&t.oid, &schema, &t.name)
		t.ident = pgx.Identifier{schema, t.name}.Sanitize()
		return t, err
	})
	if err != nil {
		return nil, err
	}
	// referencedBy[p] counts the tables not yet ordered that reference p.
	rows, err = tx.Query(ctx, `SELECT DISTINCT conrelid, confrelid FROM pg_constraint
		WHERE contype = 'f' AND conrelid <> confrelid`)
	if err != nil {
		return nil, err
	}
	type edge struct{ child, parent uint32 }
	edges, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (edge, error) {
		var e edge
		return e, r.Scan(&e.child, &e.parent)
	})
	if err != nil {
		return nil, err
	}
	in := map[uint32]bool{}
	for _, t := range all {
		in[t.oid] = true
	}
	referencedBy := map[uint32]int{}
	for _, e := range edges {
		if in[e.child] && in[e.parent] {
			referencedBy[e.parent]++
		}
	}
	out := make([]orgTable, 0, len(all))
	done := map[uint32]bool{}
	for len(out) < len(all) {
		progress := false
		for _, t := range all {
			if done[t.oid] || referencedBy[t.oid] > 0 {
				continue
			}
			done[t.oid], progress = true, true
			out = append(out, t.orgTable)
			for _, e := range edges {
				if e.child == t.oid && in[e.parent] {
					referencedBy[e.parent]--
				}
			}
		}
		if !progress {
			for _, t := range all {
				if !done[t.oid] {
					done[t.oid] = true
					out = append(out, t.orgTable)
				}
			}
		}
	}
	return out, nil
}
