package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgconn"
)

// ExecForTest runs a statement on the reconciler session's connection.
func (s *ReconcileSession) ExecForTest(ctx context.Context, sql string) (pgconn.CommandTag, error) {
	return s.conn.Exec(ctx, sql)
}
