package scim_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// emailValues is the sorted values of a user's emails.
func emailValues(u map[string]any) string {
	var out []string
	for _, e := range u["emails"].([]any) {
		out = append(out, e.(map[string]any)["value"].(string))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// A value filter in a PATCH path selects exactly the values it says,
// with every comparison operator and the logical ones.
func TestPatchValueFiltersSelectWithEveryOperator(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	emails := []any{
		map[string]any{"value": "ann@a.example", "type": "work", "primary": true},
		map[string]any{"value": "bob@b.example", "type": "home"},
		map[string]any{"value": "cat@a.example", "type": "other"},
	}
	cases := []struct{ filter, left string }{
		{`value eq "bob@b.example"`, "ann@a.example cat@a.example"},
		{`value eq "BOB@B.EXAMPLE"`, "ann@a.example cat@a.example"}, // caseExact false
		{`value ne "bob@b.example"`, "bob@b.example"},
		{`value co "@a."`, "bob@b.example"},
		{`value sw "ca"`, "ann@a.example bob@b.example"},
		{`value sw "a"`, "bob@b.example cat@a.example"}, // not "contains"
		{`value ew "a"`, "ann@a.example bob@b.example cat@a.example"},
		{`value ew "b.example"`, "ann@a.example cat@a.example"},
		{`value gt "bob@b.example"`, "ann@a.example bob@b.example"},
		{`value ge "bob@b.example"`, "ann@a.example"},
		{`value lt "bob@b.example"`, "bob@b.example cat@a.example"},
		{`value le "bob@b.example"`, "cat@a.example"},
		{`primary pr`, "bob@b.example cat@a.example"},
		{`value ew "a.example" and type eq "other"`, "ann@a.example bob@b.example"},
		{`type eq "home" or type eq "other"`, "ann@a.example"},
		{`not (type eq "work")`, "ann@a.example"},
		{`not (value co "@a.")`, "ann@a.example cat@a.example"},
		{`not (value ew "a.example" and type eq "other")`, "cat@a.example"},
	}
	for i, c := range cases {
		t.Run(c.filter, func(t *testing.T) {
			tn := &tenant{t: t, db: tn.db, srv: tn.srv, orgID: tn.orgID, base: tn.base, token: tn.token}
			u := tn.must(201, "POST", "/Users", userBody(fmt.Sprintf("op%d@example.com", i), "emails", emails))
			id := u["id"].(string)
			if r := tn.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "remove", "path": "emails[" + c.filter + "]"})); r.status != 200 && r.status != 204 {
				t.Fatalf("PATCH: %d %s", r.status, r.body)
			}
			if v := emailValues(tn.must(200, "GET", "/Users/"+id, nil)); v != c.left {
				t.Fatalf("remove emails[%s] left %q, want %q", c.filter, v, c.left)
			}
		})
	}
}

// PATCH of multi-valued and complex attributes: a whole replace, a
// filtered merge, a sub-attribute removed and created.
func TestPatchMultiValuedAndComplexAttributes(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	u := tn.must(201, "POST", "/Users", userBody("pat@example.com", "emails", []any{
		map[string]any{"value": "pat@example.com", "type": "work", "primary": true},
		map[string]any{"value": "pat@home.example", "type": "home"},
	}))
	id := u["id"].(string)
	get := func() map[string]any { return tn.must(200, "GET", "/Users/"+id, nil) }
	patch := func(ops ...map[string]any) {
		t.Helper()
		r := tn.do("PATCH", "/Users/"+id, patchBody(ops...))
		if r.status != 200 && r.status != 204 {
			t.Fatalf("PATCH %v: %d %s", ops, r.status, r.body)
		}
	}

	// A filtered merge changes the one value it names, and only the sub-attribute given.
	patch(map[string]any{"op": "replace", "path": `emails[type eq "home"].value`, "value": "pat@new-home.example"})
	if got := emailValues(get()); got != "pat@example.com pat@new-home.example" {
		t.Fatalf("after a filtered replace: %q", got)
	}
	for _, e := range get()["emails"].([]any) {
		if m := e.(map[string]any); m["value"] == "pat@new-home.example" && m["type"] != "home" {
			t.Fatalf("the filtered replace lost the type: %v", m)
		}
	}
	// A whole replace of the attribute drops every old value.
	patch(map[string]any{"op": "replace", "path": "emails", "value": []any{map[string]any{"value": "only@example.com", "type": "work"}}})
	if got := emailValues(get()); got != "only@example.com" {
		t.Fatalf("after a whole replace: %q", got)
	}
	// A sub-attribute of a complex attribute: removed, then created again.
	patch(map[string]any{"op": "remove", "path": "name.givenName"})
	name := get()["name"].(map[string]any)
	if _, ok := name["givenName"]; ok || name["familyName"] != "Family" {
		t.Fatalf("after removing name.givenName: %v", name)
	}
	patch(map[string]any{"op": "add", "path": "name.middleName", "value": "Middle"}, map[string]any{"op": "add", "path": "name.givenName", "value": "Pat"})
	name = get()["name"].(map[string]any)
	if name["givenName"] != "Pat" || name["middleName"] != "Middle" || name["familyName"] != "Family" {
		t.Fatalf("after adding sub-attributes: %v", name)
	}
}

func TestPreconditionsSortAndSearchErrorsAreExact(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	u := tn.must(201, "POST", "/Users", userBody("pre@example.com"))
	id := u["id"].(string)
	detail := func(r response) string {
		t.Helper()
		return fmt.Sprint(r.json(t)["detail"])
	}

	r := tn.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "X"}), "If-Match", "not-an-etag")
	scimError(t, r, 412, "")
	if d := detail(r); d != "If-Match does not name a version of this resource" {
		t.Fatalf("malformed If-Match: %q", d)
	}
	if got := tn.must(200, "GET", "/Users/"+id, nil); got["displayName"] == "X" {
		t.Fatal("a malformed If-Match let the PATCH through")
	}
	if nm := tn.do("GET", "/Users/"+id, nil, "If-None-Match", "*"); nm.status != 304 || len(nm.body) != 0 || nm.header.Get("ETag") == "" {
		t.Fatalf("If-None-Match *: %d %q %v", nm.status, nm.body, nm.header)
	}

	r = tn.do("GET", "/Users?sortOrder=sideways", nil)
	scimError(t, r, 400, "invalidValue")
	if d := detail(r); d != `sortOrder must be "ascending" or "descending"` {
		t.Fatalf("sortOrder: %q", d)
	}
	r = tn.do("GET", "/Users?sortBy=nosuchattribute", nil)
	scimError(t, r, 400, "invalidValue")
	if d := detail(r); !strings.Contains(d, "nosuchattribute") {
		t.Fatalf("sortBy: %q", d)
	}
	r = tn.do("POST", "/Users/.search", `{"filter": "userName eq \"pre@example.com\"",`)
	if r.status != 400 || detail(r) != "the search request is not valid JSON" {
		t.Fatalf("a bad .search body: %d %s", r.status, r.body)
	}
	r = tn.do("POST", "/Users/.search", map[string]any{"sortOrder": "sideways"})
	scimError(t, r, 400, "invalidValue")
}

func TestProjectionOfSubAttributesAndExtensionAttributes(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	u := tn.must(201, "POST", "/Users", userBody("proj@example.com", ent, map[string]any{"department": "R&D", "costCenter": "42"}))
	id := u["id"].(string)

	got := tn.must(200, "GET", "/Users/"+id+"?attributes=name.givenName", nil)
	if n, _ := got["name"].(map[string]any); len(n) != 1 || n["givenName"] != "Given" {
		t.Fatalf("attributes=name.givenName: name %v", got["name"])
	}
	for _, absent := range []string{"userName", "emails", "active", ent} {
		if _, ok := got[absent]; ok {
			t.Fatalf("attributes=name.givenName returned %s: %v", absent, got)
		}
	}
	if got["id"] != id || got["schemas"] == nil {
		t.Fatalf("id and schemas are always returned: %v", got)
	}

	got = tn.must(200, "GET", "/Users/"+id+"?attributes="+url.QueryEscape(ent+":department"), nil)
	if e, _ := got[ent].(map[string]any); len(e) != 1 || e["department"] != "R&D" {
		t.Fatalf("attributes=%s:department: %v", ent, got)
	}
	if _, ok := got["name"]; ok {
		t.Fatalf("the extension projection returned name: %v", got)
	}
	list := tn.must(200, "GET", "/Users?attributes="+url.QueryEscape(ent+":department"), nil)
	res := list["Resources"].([]any)
	if len(res) != 1 || fmt.Sprint(res[0].(map[string]any)[ent]) != "map[department:R&D]" {
		t.Fatalf("a list with the extension projection: %v", list)
	}
}
