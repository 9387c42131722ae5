package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// CreateOrganization creates an organization. It returns ErrInvalid for a
// bad slug and ErrConflict when the slug is taken.
func (db *DB) CreateOrganization(ctx context.Context, slug, name string) (directory.Organization, error) {
	if err := directory.ValidateSlug(slug); err != nil {
		return directory.Organization{}, err
	}
	if name == "" {
		name = slug
	}
	var o directory.Organization
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `INSERT INTO organizations (slug, name) VALUES ($1, $2)
			RETURNING id, slug, name, created_at`, slug, name)
		var err error
		o, err = scanOrganization(row)
		if err != nil {
			return mapErr(err, fmt.Sprintf("organization %q", slug))
		}
		return db.afterOrgCreate(ctx, tx, o)
	})
	return o, err
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
