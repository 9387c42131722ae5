package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// operatorAudit appends an event to the operator's audit trail in the
// transaction of the change it records. org names the organization the
// change is about, if any, by id and slug: the row outlives it.
func operatorAudit(ctx context.Context, tx pgx.Tx, actor directory.Actor, action, resourceType, resourceID string, org *directory.Organization, before, after any) error {
	b, err := jsonOrNil(before)
	if err != nil {
		return err
	}
	a, err := jsonOrNil(after)
	if err != nil {
		return err
	}
	var orgID, orgSlug *string
	if org != nil {
		orgID, orgSlug = &org.ID, &org.Slug
	}
	_, err = tx.Exec(ctx, `INSERT INTO operator_audit_events (actor, action, resource_type, resource_id, organization_id, organization_slug, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, actor.String(), action, resourceType, resourceID, orgID, orgSlug, b, a)
	return err
}

// OperatorAuditEvent is one recorded operator action.
type OperatorAuditEvent struct {
	AuditEvent
	// OrganizationID and OrganizationSlug name the organization the
	// action was about; empty for actions on operator tokens.
	OrganizationID   string
	OrganizationSlug string
}

// OperatorAuditEvents lists the operator's audit trail, newest first: the
// limit latest events (pageLimit bounds it), of one organization's slug
// when orgSlug is not empty.
func (db *DB) OperatorAuditEvents(ctx context.Context, orgSlug string, limit int) ([]OperatorAuditEvent, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, occurred_at, actor, action, resource_type, resource_id, before, after,
			coalesce(organization_id::text, ''), coalesce(organization_slug, '')
		FROM operator_audit_events WHERE $1 = '' OR organization_slug = $1
		ORDER BY id DESC LIMIT $2`, orgSlug, pageLimit(limit))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OperatorAuditEvent, error) {
		var e OperatorAuditEvent
		err := r.Scan(&e.ID, &e.OccurredAt, &e.Actor, &e.Action, &e.ResourceType, &e.ResourceID, &e.Before, &e.After,
			&e.OrganizationID, &e.OrganizationSlug)
		return e, err
	})
}
