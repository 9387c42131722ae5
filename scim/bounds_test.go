package scim_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/scim/normalize"
)

// seedSQLUsers inserts n SCIM users named prefix-N@example.com in one
// statement (creating them one request at a time would take most of a
// minute) and returns their ids in the order of N.
func seedSQLUsers(t *testing.T, tn *tenant, prefix string, n int) []string {
	t.Helper()
	rows, err := tn.db.Pool.Query(context.Background(), `INSERT INTO users (org_id, user_name, emails, attributes)
		SELECT $1, $2 || '-' || n || '@example.com', ARRAY[$2 || '-' || n || '@example.com'],
			jsonb_build_object('userName', $2 || '-' || n || '@example.com')
		FROM generate_series(1, $3::int) AS n ORDER BY n RETURNING id::text`, tn.orgID, prefix, n)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil || len(ids) != n {
		t.Fatalf("seeded %d of %d users: %v", len(ids), n, err)
	}
	return ids
}

func memberValues(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"value": id}
	}
	return out
}

// unknownIDs are n ids of no user: a request naming them is refused as
// it names unknown users, unless a bound refuses it first.
func unknownIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	return out
}

// groupMembers reads a group's member ids from the store.
func groupMembers(t *testing.T, tn *tenant, gid string) []string {
	t.Helper()
	g, err := tn.db.Group(context.Background(), tn.orgID, gid, true)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(g.Members))
	for i, m := range g.Members {
		ids[i] = m.UserID
	}
	slices.Sort(ids)
	return ids
}

// TestLargeMemberPatchesChangeExactlyWhatTheyName fills a group with
// 20,000 members in two PATCHes at the member bound, then sends one PATCH
// at the bound that mixes every shape Okta and Entra use: Entra's remove
// with a value list, Okta's members[value eq] removes, adds of new and of
// present members, and an id both removed and re-added.
func TestLargeMemberPatchesChangeExactlyWhatTheyName(t *testing.T) {
	t.Parallel()
	db, srv := newServerMaxBody(t, 4<<20)
	tn := newTenant(t, db, srv, "big")
	ids := seedSQLUsers(t, tn, "m", 25000)
	g := tn.must(201, "POST", "/Groups", map[string]any{"displayName": "Everyone", "members": []any{}})
	gid := g["id"].(string)
	for _, batch := range [][]string{ids[:10000], ids[10000:20000]} {
		tn.must(204, "PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "add", "path": "members", "value": memberValues(batch)}))
	}
	if got := groupMembers(t, tn, gid); len(got) != 20000 {
		t.Fatalf("%d members after the fill, want 20000", len(got))
	}

	entraRemoved := ids[0:3000]
	oktaRemoved := ids[3000:3990]
	readded := ids[3990:4000]        // removed, then added back in the same request
	added := ids[20000:25000]        // new members
	alreadyThere := ids[19000:19990] // adding them is a no-op
	ops := []map[string]any{
		{"op": "Remove", "path": "members", "value": memberValues(entraRemoved)},
	}
	for _, id := range append(slices.Clone(oktaRemoved), readded...) {
		ops = append(ops, map[string]any{"op": "remove", "path": fmt.Sprintf(`members[value eq "%s"]`, id)})
	}
	ops = append(ops, map[string]any{"op": "add", "path": "members", "value": memberValues(append(append(slices.Clone(added), readded...), alreadyThere...))})
	named := len(entraRemoved) + len(oktaRemoved) + 2*len(readded) + len(added) + len(alreadyThere)
	if named != normalize.MaxMemberValues {
		t.Fatalf("the request names %d members, want the bound, %d", named, normalize.MaxMemberValues)
	}
	tn.must(204, "PATCH", "/Groups/"+gid, patchBody(ops...))

	var want []string
	want = append(want, ids[3990:20000]...)
	want = append(want, added...)
	slices.Sort(want)
	if got := groupMembers(t, tn, gid); !slices.Equal(got, want) {
		t.Fatalf("%d members after the mixed PATCH, want %d", len(got), len(want))
	}
}

// TestRequestsOverTheBoundsChangeNothing: each bound refused over HTTP
// with 400 invalidValue, and the resource read back unchanged.
func TestRequestsOverTheBoundsChangeNothing(t *testing.T) {
	t.Parallel()
	db, srv := newServerMaxBody(t, 4<<20)
	tn := newTenant(t, db, srv, "bounds")
	ids := seedSQLUsers(t, tn, "b", 2)
	g := tn.must(201, "POST", "/Groups", map[string]any{"displayName": "G", "members": memberValues(ids)})
	gid := g["id"].(string)
	emails := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"value": fmt.Sprintf("e%d@example.com", i), "type": "work"}
		}
		return out
	}
	u := tn.must(201, "POST", "/Users", userBody("ann@example.com", "emails", emails(normalize.MaxMultiValues)))
	uid := u["id"].(string)
	user := func() map[string]any { return tn.must(200, "GET", "/Users/"+uid, nil) }
	before := user()

	titles := make([]map[string]any, normalize.MaxOperations+1)
	for i := range titles {
		titles[i] = map[string]any{"op": "replace", "path": "title", "value": fmt.Sprint("t", i)}
	}
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		detail string
	}{
		{"a PATCH of a group naming too many members", "PATCH", "/Groups/" + gid,
			patchBody(map[string]any{"op": "add", "path": "members", "value": memberValues(unknownIDs(normalize.MaxMemberValues + 1))}), "more than 10000 members"},
		{"a PATCH of too many operations", "PATCH", "/Users/" + uid, patchBody(titles...), "more than 200 operations"},
		{"a PATCH adding too many values in one operation", "PATCH", "/Users/" + uid,
			patchBody(map[string]any{"op": "add", "path": "emails", "value": emails(normalize.MaxMultiValues + 1)}), `101 values for "emails", at most 100`},
		{"a PATCH that would leave too many values", "PATCH", "/Users/" + uid,
			patchBody(map[string]any{"op": "add", "path": "emails", "value": []any{map[string]any{"value": "new@example.com"}}}), `"emails" would hold 101 values, at most 100`},
		{"a PUT with too many values", "PUT", "/Users/" + uid,
			userBody("ann@example.com", "phoneNumbers", emails(normalize.MaxMultiValues+1)), `101 values for "phoneNumbers", at most 100`},
		{"a POST with too many values", "POST", "/Users",
			userBody("bob@example.com", "emails", emails(normalize.MaxMultiValues+1)), `101 values for "emails", at most 100`},
	}
	for _, c := range cases {
		r := tn.do(c.method, c.path, c.body)
		scimError(t, r, 400, "invalidValue")
		if d, _ := r.json(t)["detail"].(string); !strings.Contains(d, c.detail) {
			t.Errorf("%s: detail %q does not say %q", c.name, d, c.detail)
		}
	}
	if got := groupMembers(t, tn, gid); len(got) != 2 {
		t.Errorf("the group has %d members, want the 2 it had", len(got))
	}
	if after := user(); !reflect.DeepEqual(after, before) {
		t.Errorf("the user changed:\nbefore %v\nafter  %v", before, after)
	}
	if l := tn.must(200, "GET", "/Users?filter="+urlq(`userName eq "bob@example.com"`), nil); l["totalResults"] != float64(0) {
		t.Errorf("the refused POST created a user: %v", l)
	}
}
