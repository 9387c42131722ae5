package postgres

import "github.com/scimbridge/scimbridge/internal/directory"

// The filter tests live in package postgres_test, because they need
// pgtest and pgtest imports this package. These wrappers give them the
// unexported translator.

// UserFilterForTest translates f for a statement whose first arguments are
// args (the organization id as $1), returning the expression and all
// arguments.
func UserFilterForTest(f directory.Filter, args ...any) (string, []any, error) {
	a := &sqlArgs{args: args}
	s, err := userFilterSQL(f, a)
	return s, a.args, err
}

// GroupFilterForTest is UserFilterForTest for groups.
func GroupFilterForTest(f directory.Filter, args ...any) (string, []any, error) {
	a := &sqlArgs{args: args}
	s, err := groupFilterSQL(f, a)
	return s, a.args, err
}

// UserOrderForTest and GroupOrderForTest are the ORDER BY builders.
var (
	UserOrderForTest  = userOrderSQL
	GroupOrderForTest = groupOrderSQL
)
