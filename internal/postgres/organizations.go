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

// afterOrgCreate is where an organization's initial rows are added in the
// creating transaction.
func (db *DB) afterOrgCreate(ctx context.Context, tx pgx.Tx, o directory.Organization) error {
	return nil
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
