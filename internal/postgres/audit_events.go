package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// audit appends an audit event in the transaction of the change it records,
// so that a change and its record commit or roll back together.
func audit(ctx context.Context, tx pgx.Tx, orgID string, actor directory.Actor, action, resourceType, resourceID string, before, after any) error {
	b, err := jsonOrNil(before)
	if err != nil {
		return err
	}
	a, err := jsonOrNil(after)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_events (org_id, actor, action, resource_type, resource_id, before, after)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, orgID, actor.String(), action, resourceType, resourceID, b, a)
	return err
}

func jsonOrNil(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}

// AuditEvent is one recorded change.
type AuditEvent struct {
	ID           int64
	OccurredAt   time.Time
	Actor        string
	Action       string
	ResourceType string
	ResourceID   string
	Before       map[string]any
	After        map[string]any
}

// AuditEvents lists an organization's events about one resource (all
// resources when resourceID is ""), oldest first.
func (db *DB) AuditEvents(ctx context.Context, orgID, resourceType, resourceID string) ([]AuditEvent, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, occurred_at, actor, action, resource_type, resource_id, before, after
		FROM audit_events WHERE org_id = $1 AND ($2 = '' OR resource_type = $2) AND ($3 = '' OR resource_id = $3)
		ORDER BY id`, orgID, resourceType, resourceID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanAuditEvent)
}

// scanAuditEvent scans id, occurred_at, actor, action, resource_type,
// resource_id, before, after.
func scanAuditEvent(r pgx.CollectableRow) (AuditEvent, error) {
	var e AuditEvent
	err := r.Scan(&e.ID, &e.OccurredAt, &e.Actor, &e.Action, &e.ResourceType, &e.ResourceID, &e.Before, &e.After)
	return e, err
}
