// Package migrations holds the numbered SQL migrations of scimbridge's
// PostgreSQL schema. They are embedded in the binary and applied by goose
// (see internal/postgres.Migrate) under an advisory lock, so several replicas
// may start at once.
//
// Every table of an organization carries org_id, and every unique index and
// foreign key includes it: a tenant's rows can then be co-located on one shard
// (Citus distributes by org_id) without changing a query. The service's own
// tables (replicas, operator_tokens, operator_audit_events) have none.
package migrations

import "embed"

// FS holds the *.sql migration files.
//
//go:embed *.sql
var FS embed.FS
