package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// TestFilterPlansUseIndexes checks, on an organization of 20,000 users and
// 2,000 groups, that the lookups identity providers send on every sync
// (Okta, Entra, OneLogin…) are answered from indexes whatever the
// statistics say: the exact statements ListUsers and ListGroups send (the
// page, ORDER BY seq LIMIT 100, and the count), as custom and as generic
// plans, read a handful of rows, never the organization. The statistics
// are those of a fresh database whose first ANALYZE saw empty tables (an
// IdP's initial push, before autovacuum's first analyze), of one analyzed
// when only another organization had users, of a freshly analyzed one,
// and of one whose pg_class says the tables are tiny while they hold the
// 20,000 users.
func TestFilterPlansUseIndexes(t *testing.T) {
	t.Parallel()
	scenarios := []struct {
		name string
		// stats runs before (before) and after (after) the big
		// organization's rows are inserted.
		before, after []string
		fresh         bool
	}{
		{"analyzed empty", []string{"ANALYZE users, groups, group_members"}, nil, false},
		{"analyzed with another organization only", []string{"SMALL", "ANALYZE users, groups, group_members"}, nil, false},
		{"freshly analyzed", nil, []string{"ANALYZE users, groups, group_members"}, true},
		{"analyzed, then pg_class says tiny", nil, []string{"ANALYZE users, groups, group_members",
			`UPDATE pg_class SET reltuples = 20, relpages = 1 WHERE relname IN ('users', 'groups', 'group_members')`}, false},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			checkListPlans(t, sc.before, sc.after, sc.fresh)
		})
	}
}

func checkListPlans(t *testing.T, before, after []string, fresh bool) {
	ctx := context.Background()
	db := pgtest.DB(t)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// Only this test's statements may change the statistics.
	for _, table := range []string{"users", "groups", "group_members"} {
		exec("ALTER TABLE " + table + " SET (autovacuum_enabled = false)")
	}
	big, err := db.CreateOrganization(ctx, "big", "")
	if err != nil {
		t.Fatal(err)
	}
	small, err := db.CreateOrganization(ctx, "small", "")
	if err != nil {
		t.Fatal(err)
	}
	// Ids are md5 of a name, so the test knows them; the small
	// organization reuses some of the big one's ids.
	load := func(org string, users, groups int) {
		exec(`INSERT INTO users (org_id, id, user_name, external_id, display_name, given_name, family_name, emails, attributes)
			SELECT $1, md5('u' || i)::uuid, 'user' || i || '@example.com', 'ext-' || i, 'User ' || i, 'Given' || i, 'Family' || (i % 100),
				ARRAY['user' || i || '@example.com', 'u' || i || '@home.example'],
				jsonb_build_object('userName', 'user' || i || '@example.com',
					'emails', jsonb_build_array(
						jsonb_build_object('value', 'User' || i || '@Example.com', 'type', 'work', 'primary', true),
						jsonb_build_object('value', 'u' || i || '@home.example', 'type', 'home')))
			FROM generate_series(1, $2::int) AS i`, org, users)
		exec(`INSERT INTO groups (org_id, id, display_name, external_id)
			SELECT $1, md5('g' || i)::uuid, 'Group ' || i, 'gext-' || i FROM generate_series(1, $2::int) AS i`, org, groups)
		// Every user in three groups.
		exec(`INSERT INTO group_members (org_id, group_id, user_id)
			SELECT $1, md5('g' || ((i * k) % $3::int + 1))::uuid, md5('u' || i)::uuid
			FROM generate_series(1, $2::int) AS i, (VALUES (1), (7), (13)) AS m(k)
			ON CONFLICT DO NOTHING`, org, users, groups)
	}
	smallLoaded := false
	for _, s := range before {
		if s == "SMALL" {
			load(small.ID, 20, 5)
			smallLoaded = true
			continue
		}
		exec(s)
	}
	load(big.ID, 20000, 2000)
	if !smallLoaded {
		load(small.ID, 20, 5)
	}
	for _, s := range after {
		exec(s)
	}
	var userID, groupID string // user 777 and one of its groups
	if err := db.Pool.QueryRow(ctx, `SELECT md5('u777')::uuid::text, group_id::text FROM group_members
		WHERE org_id = $1 AND user_id = md5('u777')::uuid LIMIT 1`, big.ID).Scan(&userID, &groupID); err != nil {
		t.Fatal(err)
	}

	value := sub("value", false)
	userQueries := []struct {
		name   string
		filter directory.Filter
		// freshOnly: checked on fresh statistics only. The members of
		// a group are a page of a set as large as the group, not a
		// lookup by a selective key: stale statistics may plan them
		// as a walk of the organization.
		freshOnly bool
	}{
		{"userName eq", cmp(aUserName, eq, "USER777@example.com"), false},
		{"externalId eq", cmp(aExternalID, eq, "ext-777"), false},
		{"emails eq", cmp(aEmails, eq, "user777@example.com"), false},
		{"emails.value eq", cmp(aEmailValue, eq, "User777@Example.com"), false},
		{"emails[type eq work].value eq", vpath(aEmails, and(cmp(sub("type", true), eq, "work"), cmp(value, eq, "user777@example.com"))), false},
		{"emails[value eq] and type", vpath(aEmails, and(cmp(value, eq, "user777@example.com"), cmp(sub("primary", false), eq, true))), false},
		{"id eq", cmp(aID, eq, userID), false},
		{"id eq and active", and(cmp(aID, eq, userID), cmp(aActive, eq, true)), false},
		{"userName eq and active", and(cmp(aActive, eq, true), cmp(aUserName, eq, "user777@example.com")), false},
		{"userName eq or userName eq", or(cmp(aUserName, eq, "user1@example.com"), cmp(aUserName, eq, "user2@example.com")), false},
		{"userName eq, no such user", cmp(aUserName, eq, "nobody@example.com"), false},
		{"groups eq", cmp(aGroups, eq, groupID), true},
	}
	groupQueries := []struct {
		name   string
		filter directory.Filter
	}{
		{"displayName eq", cmp(aDisplayName, eq, "Group 77")},
		{"externalId eq", cmp(aExternalID, eq, "gext-77")},
		{"id eq", cmp(aID, eq, groupID)},
		{"id eq and members eq (Entra membership check)", and(cmp(aID, eq, groupID), cmp(aMembers, eq, userID))},
		{"id eq and members[value eq]", and(cmp(aID, eq, groupID), vpath(aMembers, cmp(sub("value", true), eq, userID)))},
		{"members eq", cmp(aMembers, eq, userID)},
		{"members[value eq]", vpath(aMembers, cmp(sub("value", true), eq, userID))},
		{"displayName eq and members eq", and(cmp(aDisplayName, eq, "Group 77"), cmp(aMembers, eq, userID))},
	}
	// Okta's lookup: startIndex=1&count=100.
	q := directory.ListQuery{StartIndex: 1, Count: 100}
	for _, uq := range userQueries {
		if uq.freshOnly && !fresh {
			continue
		}
		q.Filter = uq.filter
		page, pageArgs, count, countArgs, err := postgres.UserListForTest(big.ID, q)
		if err != nil {
			t.Fatalf("%s: %v", uq.name, err)
		}
		assertFewRows(t, db, "users "+uq.name+" (page)", page, pageArgs)
		assertFewRows(t, db, "users "+uq.name+" (count)", count, countArgs)
	}
	for _, gq := range groupQueries {
		q.Filter = gq.filter
		page, pageArgs, count, countArgs, err := postgres.GroupListForTest(big.ID, q)
		if err != nil {
			t.Fatalf("%s: %v", gq.name, err)
		}
		assertFewRows(t, db, "groups "+gq.name+" (page)", page, pageArgs)
		assertFewRows(t, db, "groups "+gq.name+" (count)", count, countArgs)
	}
}

// maxRowsRead bounds the rows a lookup's plan may read from users, groups
// and group_members (returned or filtered out, over all loops, index
// entries included, so that a bitmap scan counts its rows twice): the
// largest answer, the 30 members of a group, reads about 30 rows for them
// and 6 more for the groups each is in (the groups column). The big
// organization has 20,000 users, 2,000 groups and 60,000 memberships.
const maxRowsRead = 600

// assertFewRows runs sql under EXPLAIN ANALYZE twice and fails when a plan
// reads one of the directory's tables sequentially or reads more than
// maxRowsRead of their rows or index entries: once planned for its
// arguments (what PostgreSQL does for the first executions of a
// statement) and once as the generic plan it may switch to after five,
// since pgx caches prepared statements. PostgreSQL 15 has no EXPLAIN
// (GENERIC_PLAN), so the generic plan comes from PREPARE and EXPLAIN
// EXECUTE, whose arguments must be literals.
func assertFewRows(t *testing.T, db *postgres.DB, name, sql string, args []any) {
	t.Helper()
	ctx := context.Background()
	const explain = "EXPLAIN (ANALYZE, FORMAT JSON) "
	var raw []byte
	if err := db.Pool.QueryRow(ctx, explain+sql, args...).Scan(&raw); err != nil {
		t.Fatalf("%s: explain: %v\n%s", name, err, sql)
	}
	checkPlan(t, name, sql, raw)

	lits := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(a, "'", "''") + "'" // standard_conforming_strings is on
		case bool, int:
			lits[i] = fmt.Sprint(a)
		default:
			t.Fatalf("%s: argument %d is a %T; only strings, ints and booleans are quoted here", name, i+1, a)
		}
	}
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	stmts := []string{
		"SET plan_cache_mode = force_generic_plan",
		"PREPARE filter_plan AS " + sql,
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %s: %v", name, s, err)
		}
	}
	err = conn.QueryRow(ctx, explain+"EXECUTE filter_plan("+strings.Join(lits, ", ")+")").Scan(&raw)
	for _, s := range []string{"DEALLOCATE filter_plan", "RESET plan_cache_mode"} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %s: %v", name, s, err)
		}
	}
	if err != nil {
		t.Fatalf("%s: explain generic plan: %v\n%s", name, err, sql)
	}
	checkPlan(t, name+" [generic plan]", sql, raw)
}

func checkPlan(t *testing.T, name, sql string, raw []byte) {
	t.Helper()
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("%s: plan %s: %v", name, raw, err)
	}
	var bad, nodes []string
	read := 0
	var walk func(n planNode)
	walk = func(n planNode) {
		nodes = append(nodes, fmt.Sprintf("%s %s %s (%d rows)", n.NodeType, n.RelationName, n.IndexName, n.rows()))
		rel := n.RelationName
		if rel == "" && strings.HasPrefix(n.NodeType, "Bitmap Index Scan") {
			rel = strings.SplitN(n.IndexName, "_", 2)[0] // users_emails_idx
			if strings.HasPrefix(n.IndexName, "group_members") {
				rel = "group_members"
			}
		}
		switch rel {
		case "users", "groups", "group_members":
			if n.NodeType == "Seq Scan" {
				bad = append(bad, "Seq Scan on "+rel)
			}
			read += n.rows()
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plans[0].Plan)
	if read > maxRowsRead {
		bad = append(bad, fmt.Sprintf("%d rows read (at most %d)", read, maxRowsRead))
	}
	if len(bad) > 0 {
		t.Errorf("%s: %v\nSQL: %s\nplan: %s", name, bad, sql, strings.Join(nodes, " / "))
		return
	}
	t.Logf("%s: %d rows read: %s", name, read, strings.Join(nodes, " / "))
}

type planNode struct {
	NodeType       string     `json:"Node Type"`
	RelationName   string     `json:"Relation Name"`
	IndexName      string     `json:"Index Name"`
	ActualRows     float64    `json:"Actual Rows"`
	ActualLoops    float64    `json:"Actual Loops"`
	RemovedFilter  float64    `json:"Rows Removed by Filter"`
	RemovedRecheck float64    `json:"Rows Removed by Index Recheck"`
	Plans          []planNode `json:"Plans"`
}

// rows is how many rows (or index entries) the node read over all its
// loops, kept or filtered out.
func (n planNode) rows() int {
	return int((n.ActualRows + n.RemovedFilter + n.RemovedRecheck) * n.ActualLoops)
}
