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
// (Okta, Entra, OneLogin…) are answered from indexes: no plan reads
// users, groups or group_members sequentially.
func TestFilterPlansUseIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
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
	for _, s := range []struct {
		org           string
		users, groups int
	}{
		{big.ID, 20000, 2000},
		{small.ID, 20, 5},
	} {
		exec := func(sql string, args ...any) {
			t.Helper()
			if _, err := db.Pool.Exec(ctx, sql, args...); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		exec(`INSERT INTO users (org_id, id, user_name, external_id, display_name, given_name, family_name, emails, attributes)
			SELECT $1, md5('u' || i)::uuid, 'user' || i || '@example.com', 'ext-' || i, 'User ' || i, 'Given' || i, 'Family' || (i % 100),
				ARRAY['user' || i || '@example.com', 'u' || i || '@home.example'],
				jsonb_build_object('userName', 'user' || i || '@example.com',
					'emails', jsonb_build_array(
						jsonb_build_object('value', 'User' || i || '@Example.com', 'type', 'work', 'primary', true),
						jsonb_build_object('value', 'u' || i || '@home.example', 'type', 'home')))
			FROM generate_series(1, $2::int) AS i`, s.org, s.users)
		exec(`INSERT INTO groups (org_id, id, display_name, external_id)
			SELECT $1, md5('g' || i)::uuid, 'Group ' || i, 'gext-' || i FROM generate_series(1, $2::int) AS i`, s.org, s.groups)
		// Every user in three groups.
		exec(`INSERT INTO group_members (org_id, group_id, user_id)
			SELECT $1, md5('g' || ((i * k) % $3::int + 1))::uuid, md5('u' || i)::uuid
			FROM generate_series(1, $2::int) AS i, (VALUES (1), (7), (13)) AS m(k)
			ON CONFLICT DO NOTHING`, s.org, s.users, s.groups)
	}
	if _, err := db.Pool.Exec(ctx, "ANALYZE users, groups, group_members"); err != nil {
		t.Fatal(err)
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
	}{
		{"userName eq", cmp(aUserName, eq, "USER777@example.com")},
		{"externalId eq", cmp(aExternalID, eq, "ext-777")},
		{"emails eq", cmp(aEmails, eq, "user777@example.com")},
		{"emails.value eq", cmp(aEmailValue, eq, "User777@Example.com")},
		{"emails[type eq work].value eq", vpath(aEmails, and(cmp(sub("type", true), eq, "work"), cmp(value, eq, "user777@example.com")))},
		{"emails[value eq] and type", vpath(aEmails, and(cmp(value, eq, "user777@example.com"), cmp(sub("primary", false), eq, true)))},
		{"id eq", cmp(aID, eq, userID)},
		{"id eq and active", and(cmp(aID, eq, userID), cmp(aActive, eq, true))},
		{"userName eq or userName eq", or(cmp(aUserName, eq, "user1@example.com"), cmp(aUserName, eq, "user2@example.com"))},
		{"groups eq", cmp(aGroups, eq, groupID)},
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
		{"displayName eq and members eq", and(cmp(aDisplayName, eq, "Group 77"), cmp(aMembers, eq, userID))},
	}
	// Each query as the store runs a page of it (ORDER BY seq LIMIT) and as
	// it counts totalResults (no order, no limit).
	shapes := []struct{ name, order, limit string }{
		{"page", "", " LIMIT 100"},
		{"count", "-", ""},
	}
	for _, sh := range shapes {
		for _, q := range userQueries {
			where, args, err := postgres.UserFilterForTest(q.filter, big.ID)
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			sql := "SELECT u.id FROM users u WHERE u.org_id = $1 AND (" + where + ")"
			if sh.order == "" {
				order, _ := postgres.UserOrderForTest(nil, false)
				sql += " ORDER BY " + order
			}
			assertNoSeqScan(t, db, "users "+q.name+" ("+sh.name+")", sql+sh.limit, args)
		}
		for _, q := range groupQueries {
			where, args, err := postgres.GroupFilterForTest(q.filter, big.ID)
			if err != nil {
				t.Fatalf("%s: %v", q.name, err)
			}
			sql := "SELECT g.id FROM groups g WHERE g.org_id = $1 AND (" + where + ")"
			if sh.order == "" {
				order, _ := postgres.GroupOrderForTest(nil, false)
				sql += " ORDER BY " + order
			}
			assertNoSeqScan(t, db, "groups "+q.name+" ("+sh.name+")", sql+sh.limit, args)
		}
	}
}

// assertNoSeqScan explains sql twice and fails when a plan node reads one
// of the directory's tables sequentially (or one organization's rows in
// seq order, which is no better): once planned for its arguments
// (what PostgreSQL does for the first executions of a statement) and once
// as the generic plan it may switch to after five, since pgx caches
// prepared statements. PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN), so the
// generic plan comes from PREPARE and EXPLAIN EXECUTE, whose arguments
// must be literals.
func assertNoSeqScan(t *testing.T, db *postgres.DB, name, sql string, args []any) {
	t.Helper()
	ctx := context.Background()
	var raw []byte
	if err := db.Pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&raw); err != nil {
		t.Fatalf("%s: explain: %v\n%s", name, err, sql)
	}
	checkPlan(t, name, sql, raw)

	lits := make([]string, len(args))
	for i, a := range args {
		switch a := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(a, "'", "''") + "'" // standard_conforming_strings is on
		case bool:
			lits[i] = fmt.Sprint(a)
		default:
			t.Fatalf("%s: argument %d is a %T; only strings and booleans are quoted here", name, i+1, a)
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
	err = conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE filter_plan("+strings.Join(lits, ", ")+")").Scan(&raw)
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
	var walk func(n planNode)
	walk = func(n planNode) {
		nodes = append(nodes, n.NodeType+" "+n.RelationName+" "+n.IndexName)
		switch n.RelationName {
		case "users", "groups", "group_members":
			// A scan of the (org_id, seq) index is a sequential read
			// of the whole organization in disguise: the planner picks
			// it for ORDER BY seq LIMIT when no index answers the filter.
			if n.NodeType == "Seq Scan" || strings.HasSuffix(n.IndexName, "_seq_key") {
				bad = append(bad, n.NodeType+" on "+n.RelationName+" "+n.IndexName)
			}
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(plans[0].Plan)
	if len(bad) > 0 {
		t.Errorf("%s: %v\nSQL: %s\nplan: %s", name, bad, sql, raw)
		return
	}
	t.Logf("%s: %s", name, strings.Join(nodes, " / "))
}

type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Plans        []planNode `json:"Plans"`
}
