package scim_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/scim"
)

func bulkBody(failOnErrors int, ops ...map[string]any) map[string]any {
	b := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"}, "Operations": ops}
	if failOnErrors > 0 {
		b["failOnErrors"] = failOnErrors
	}
	return b
}

// bulkResults runs a bulk request and returns its operations' results.
func (tn *tenant) bulk(body map[string]any) []map[string]any {
	tn.t.Helper()
	r := tn.must(200, "POST", "/Bulk", body)
	if fmt.Sprint(r["schemas"]) != "[urn:ietf:params:scim:api:messages:2.0:BulkResponse]" {
		tn.t.Fatalf("not a BulkResponse: %v", r)
	}
	var out []map[string]any
	for _, op := range r["Operations"].([]any) {
		out = append(out, op.(map[string]any))
	}
	return out
}

func statuses(results []map[string]any) string {
	var s []string
	for _, r := range results {
		s = append(s, r["status"].(string))
	}
	return strings.Join(s, ",")
}

// bulkError checks that a failed operation carries its SCIM error.
func bulkError(t *testing.T, res map[string]any, status, scimType string) {
	t.Helper()
	e, _ := res["response"].(map[string]any)
	if res["status"] != status || e == nil || e["status"] != status || e["detail"] == "" ||
		fmt.Sprint(e["schemas"]) != "[urn:ietf:params:scim:api:messages:2.0:Error]" || (scimType != "" && e["scimType"] != scimType) {
		t.Fatalf("want status %s with a %q SCIM error, got %v", status, scimType, res)
	}
}

func TestBulkRunsEachOperationAsItsOwnRequest(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	results := tn.bulk(bulkBody(0,
		// References a user created by a later operation: it runs after it.
		map[string]any{"method": "POST", "path": "/Groups", "bulkId": "g", "data": map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Bulk",
			"members": []any{map[string]any{"value": "bulkId:u1"}}}},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "u1", "data": userBody("b1@example.com")},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "u2", "data": userBody("b2@example.com")},
		map[string]any{"method": "PATCH", "path": "/Groups/bulkId:g", "data": patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": "bulkId:u2"}}})},
		// Entra's string boolean: normalised as on its own.
		map[string]any{"method": "PATCH", "path": "/users/bulkId:u1", "data": patchBody(map[string]any{"op": "Replace", "path": "active", "value": "False"})},
		map[string]any{"method": "DELETE", "path": "/Users/6f1d7a4c-0000-4000-8000-000000000000"},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "dup", "data": userBody("B1@example.com")},
	))
	if got := statuses(results); got != "201,201,201,204,204,404,409" {
		t.Fatalf("statuses %s", got)
	}
	uid := strings.TrimPrefix(results[1]["location"].(string), tn.base+"/Users/")
	gid := strings.TrimPrefix(results[0]["location"].(string), tn.base+"/Groups/")
	for i, r := range results[:3] {
		if r["method"] != "POST" || r["bulkId"] == nil || r["version"] == nil || r["response"] != nil {
			t.Fatalf("result %d: %v", i+1, r)
		}
	}
	if results[3]["location"] != tn.base+"/Groups/"+gid || results[4]["location"] != tn.base+"/Users/"+uid {
		t.Fatalf("locations of resolved paths: %v %v", results[3], results[4])
	}
	bulkError(t, results[5], "404", "")
	bulkError(t, results[6], "409", "uniqueness")
	if _, ok := results[6]["location"]; ok {
		t.Fatalf("a failed POST has a location: %v", results[6])
	}

	g := tn.must(200, "GET", "/Groups/"+gid, nil)
	var members []string
	for _, m := range g["members"].([]any) {
		members = append(members, m.(map[string]any)["value"].(string))
	}
	u2 := strings.TrimPrefix(results[2]["location"].(string), tn.base+"/Users/")
	slices.Sort(members)
	want := []string{uid, u2}
	slices.Sort(want)
	if !slices.Equal(members, want) {
		t.Fatalf("members %v, want %v", members, want)
	}
	if u := tn.must(200, "GET", "/Users/"+uid, nil); u["active"] != false {
		t.Fatalf("active %v after the bulk PATCH", u["active"])
	}
	// Each operation is audited as the request it stands for.
	var creates int
	if err := tn.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_events WHERE org_id = $1 AND action IN ('user.create', 'group.create')`, tn.orgID).Scan(&creates); err != nil || creates != 3 {
		t.Fatalf("%d create events (%v), want 3", creates, err)
	}
}

func TestBulkFailOnErrorsStopsAfterThatManyErrors(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	tn.must(201, "POST", "/Users", userBody("taken@example.com"))
	ops := []map[string]any{
		{"method": "POST", "path": "/Users", "bulkId": "a", "data": userBody("taken@example.com")},
		{"method": "POST", "path": "/Users", "bulkId": "b", "data": userBody("free@example.com")},
		{"method": "POST", "path": "/Users", "bulkId": "c", "data": userBody("taken@example.com")},
		{"method": "POST", "path": "/Users", "bulkId": "d", "data": userBody("late@example.com")},
	}
	if got := statuses(tn.bulk(bulkBody(2, ops...))); got != "409,201,409" {
		t.Fatalf("failOnErrors 2: %s", got)
	}
	if l := tn.must(200, "GET", "/Users?filter="+urlq(`userName eq "late@example.com"`), nil); l["totalResults"] != float64(0) {
		t.Fatal("an operation after failOnErrors errors ran")
	}
	// Without failOnErrors every operation runs.
	ops[1]["data"], ops[3]["data"] = userBody("free2@example.com"), userBody("late2@example.com")
	if got := statuses(tn.bulk(bulkBody(0, ops...))); got != "409,201,409,201" {
		t.Fatalf("without failOnErrors: %s", got)
	}
}

func TestBulkReferencesThatCannotBeResolvedFail(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	manager := func(ref string) map[string]any {
		return userBody(ref+"@example.com", enterpriseURN, map[string]any{"manager": map[string]any{"value": "bulkId:" + ref}})
	}
	results := tn.bulk(bulkBody(0,
		// x and y name each other as manager: neither can be created first.
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "y", "data": manager("x")},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "x", "data": manager("y")},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "self", "data": manager("self")},
		map[string]any{"method": "PATCH", "path": "/Users/bulkId:nowhere", "data": patchBody(map[string]any{"op": "replace", "path": "title", "value": "T"})},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "bad", "data": map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}}},
		map[string]any{"method": "PATCH", "path": "/Users/bulkId:bad", "data": patchBody(map[string]any{"op": "replace", "path": "title", "value": "T"})},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "fine", "data": userBody("fine@example.com")},
		map[string]any{"method": "GET", "path": "/Users"},
		map[string]any{"method": "POST", "path": "/Bulk", "data": map[string]any{}},
		map[string]any{"method": "PUT", "path": "/Users", "data": userBody("put@example.com")},
	))
	if got := statuses(results); got != "409,409,409,400,400,400,201,400,400,400" {
		t.Fatalf("statuses %s", got)
	}
	for _, i := range []int{0, 1, 2} {
		bulkError(t, results[i], "409", "")
		if d := results[i]["response"].(map[string]any)["detail"].(string); !strings.Contains(d, "circular") {
			t.Fatalf("result %d: %q does not say circular", i+1, d)
		}
	}
	bulkError(t, results[3], "400", "invalidValue")
	bulkError(t, results[5], "400", "invalidValue")
	bulkError(t, results[7], "400", "invalidValue")
	bulkError(t, results[8], "400", "invalidPath")
	bulkError(t, results[9], "400", "invalidPath")
	if l := tn.must(200, "GET", "/Users", nil); l["totalResults"] != float64(1) {
		t.Fatalf("%v users, want only fine@example.com", l["totalResults"])
	}
}

func TestBulkLimits(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	many := make([]map[string]any, 1001)
	for i := range many {
		many[i] = map[string]any{"method": "DELETE", "path": "/Users/x"}
	}
	scimError(t, tn.do("POST", "/Bulk", bulkBody(0, many...)), 413, "")
	big := make([]map[string]any, 200)
	for i := range big {
		big[i] = map[string]any{"method": "POST", "path": "/Users", "bulkId": fmt.Sprint(i), "data": userBody(fmt.Sprintf("u%d@example.com", i), "title", strings.Repeat("t", 400))}
	}
	scimError(t, tn.do("POST", "/Bulk", bulkBody(0, big...)), 413, "")
	scimError(t, tn.do("POST", "/Bulk", map[string]any{"Operations": []any{}}), 400, "invalidValue")
	scimError(t, tn.do("POST", "/Bulk", bulkBody(0,
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "a", "data": userBody("a@example.com")},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "a", "data": userBody("b@example.com")})), 400, "invalidValue")
	scimError(t, tn.do("GET", "/Bulk", nil), 405, "")

	// The bounds of one request apply to each operation.
	emails := make([]any, 101)
	for i := range emails {
		emails[i] = map[string]any{"value": fmt.Sprintf("e%d@example.com", i)}
	}
	uid := tn.must(201, "POST", "/Users", userBody("v@example.com"))["id"].(string)
	stale := tn.must(200, "GET", "/Users/"+uid, nil)["meta"].(map[string]any)["version"].(string)
	tn.must(204, "PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "replace", "path": "title", "value": "new"}))
	results := tn.bulk(bulkBody(0,
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "many", "data": userBody("m@example.com", "emails", emails)},
		map[string]any{"method": "PATCH", "path": "/Users/" + uid, "version": stale, "data": patchBody(map[string]any{"op": "replace", "path": "title", "value": "lost"})},
	))
	if got := statuses(results); got != "400,412" {
		t.Fatalf("statuses %s", got)
	}
	bulkError(t, results[0], "400", "invalidValue")
	if u := tn.must(200, "GET", "/Users/"+uid, nil); u["title"] != "new" {
		t.Fatalf("a stale version was applied: %v", u["title"])
	}

	// The rate limit counts each operation.
	db := pgtest.DB(t)
	hs := httpserver.New(httpserver.Config{})
	scim.New(scim.Config{Store: db, RatePerOrg: 1}).Mount(hs) // bursts of 2: the bulk request and one operation
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	slow := newTenant(t, db, srv, "slow")
	if got := statuses(slow.bulk(bulkBody(0,
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "a", "data": userBody("a@example.com")},
		map[string]any{"method": "POST", "path": "/Users", "bulkId": "b", "data": userBody("b@example.com")}))); got != "201,429" {
		t.Fatalf("rate-limited statuses %s", got)
	}
}
