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

// UserListForTest returns the statements ListUsers sends for q: the page
// (LIMIT q.Count OFFSET q.StartIndex-1) and the count, with their
// arguments.
func UserListForTest(orgID string, q directory.ListQuery) (page string, pageArgs []any, count string, countArgs []any, err error) {
	st, args, err := userList(orgID, q)
	if err != nil {
		return "", nil, "", nil, err
	}
	page, pageArgs = listForTest(st, args, q)
	return page, pageArgs, st.countSQL(), args.args, nil
}

// GroupListForTest is UserListForTest for ListGroups.
func GroupListForTest(orgID string, q directory.ListQuery) (page string, pageArgs []any, count string, countArgs []any, err error) {
	st, args, err := groupList(orgID, q)
	if err != nil {
		return "", nil, "", nil, err
	}
	page, pageArgs = listForTest(st, args, q)
	return page, pageArgs, st.countSQL(), args.args, nil
}

func listForTest(st listStmt, args *sqlArgs, q directory.ListQuery) (string, []any) {
	page := &sqlArgs{args: append([]any(nil), args.args...)}
	limit, skip := page.add(q.Count), page.add(max(q.StartIndex, 1)-1)
	return st.pageSQL(limit, skip), page.args
}
