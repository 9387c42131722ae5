package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// AppendEventForTest appends an event in tx, as the store's writers do.
func AppendEventForTest(ctx context.Context, tx pgx.Tx, orgID string, actor directory.Actor, typ, resourceType, resourceID string, data any) error {
	return appendEvent(ctx, tx, orgID, actor, typ, resourceType, resourceID, data)
}

// SQLRFC3339ForTest is a statement selecting sqlRFC3339 of expr.
func SQLRFC3339ForTest(expr string) string { return "SELECT " + sqlRFC3339(expr) }
