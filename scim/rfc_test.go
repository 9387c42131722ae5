package scim_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func groupBody(name string, members ...string) map[string]any {
	b := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name}
	if len(members) > 0 {
		list := make([]any, len(members))
		for i, m := range members {
			list[i] = map[string]any{"value": m}
		}
		b["members"] = list
	}
	return b
}

// keys returns the sorted top-level keys of a resource.
func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestPatchWithAttributesAnswers200WithTheResource(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	uid := tn.must(201, "POST", "/Users", userBody("pat@example.com"))["id"].(string)
	gid := tn.must(201, "POST", "/Groups", groupBody("Readers", uid))["id"].(string)
	rename := func(v string) map[string]any {
		return patchBody(map[string]any{"op": "replace", "path": "displayName", "value": v})
	}

	// Without attributes or excludedAttributes: 204, no body.
	for _, p := range []string{"/Users/" + uid, "/Groups/" + gid} {
		if r := tn.do("PATCH", p, rename("plain")); r.status != 204 || len(r.body) != 0 {
			t.Fatalf("PATCH %s: %d %s, want 204 without body", p, r.status, r.body)
		}
	}

	cases := []struct {
		name, path string
		want       []string // top-level keys of the answer
	}{
		{"user, attributes", "/Users/" + uid + "?attributes=displayName", []string{"displayName", "id", "meta", "schemas"}},
		{"user, attributes=id alone", "/Users/" + uid + "?attributes=id", []string{"id", "meta", "schemas"}},
		{"user, excludedAttributes", "/Users/" + uid + "?excludedAttributes=emails,name,groups," + enterpriseURN,
			[]string{"active", "displayName", "id", "meta", "schemas", "userName"}},
		{"group, attributes", "/Groups/" + gid + "?attributes=displayName,members", []string{"displayName", "id", "members", "meta", "schemas"}},
		{"group, excludedAttributes=members", "/Groups/" + gid + "?excludedAttributes=members", []string{"displayName", "id", "meta", "schemas"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "Renamed " + string(rune('A'+i))
			r := tn.do("PATCH", c.path, rename(name))
			if r.status != 200 {
				t.Fatalf("status %d, want 200: %s", r.status, r.body)
			}
			m := r.json(t)
			if got := keys(m); !slices.Equal(got, c.want) {
				t.Fatalf("keys %v, want %v: %s", got, c.want, r.body)
			}
			if slices.Contains(c.want, "displayName") && m["displayName"] != name {
				t.Fatalf("the answer is not the patched resource: %s", r.body)
			}
			if tag := r.header.Get("ETag"); tag == "" || tag != m["meta"].(map[string]any)["version"] {
				t.Fatalf("ETag %q, meta %v", tag, m["meta"])
			}
			if c.path[:7] == "/Groups" && slices.Contains(c.want, "members") {
				if ms := m["members"].([]any); len(ms) != 1 || ms[0].(map[string]any)["value"] != uid {
					t.Fatalf("members %v", ms)
				}
			}
		})
	}
}

// A removed attribute is unassigned (RFC 7643 §2.5): active then reads as
// true, its default, and an empty multi-valued attribute, a user's emails
// or a group's members alike, is left out of the resource.
func TestRemovedAttributesReadAsUnassigned(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	uid := tn.must(201, "POST", "/Users", userBody("rem@example.com", "active", false))["id"].(string)
	if u := tn.must(200, "GET", "/Users/"+uid, nil); u["active"] != false {
		t.Fatalf("created inactive, reads %v", u["active"])
	}
	tn.must(204, "PATCH", "/Users/"+uid, patchBody(
		map[string]any{"op": "remove", "path": "active"},
		map[string]any{"op": "remove", "path": "emails"}))
	u := tn.must(200, "GET", "/Users/"+uid, nil)
	if u["active"] != true {
		t.Fatalf("active after remove: %v, want true", u["active"])
	}
	if _, ok := u["emails"]; ok {
		t.Fatalf("emails after remove: %v", u["emails"])
	}
	if l := tn.must(200, "GET", "/Users?filter="+urlq(`active eq true`), nil); l["totalResults"] != float64(1) {
		t.Fatalf("a user whose active was removed is not found by active eq true: %v", l)
	}

	gid := tn.must(201, "POST", "/Groups", groupBody("Team", uid))["id"].(string)
	if g := tn.must(200, "GET", "/Groups/"+gid, nil); len(g["members"].([]any)) != 1 {
		t.Fatalf("members %v", g["members"])
	}
	tn.must(204, "PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "remove", "path": "members"}))
	g := tn.must(200, "GET", "/Groups/"+gid, nil)
	if _, ok := g["members"]; ok {
		t.Fatalf("members after remove: %v, want no attribute", g["members"])
	}
	empty := tn.must(201, "POST", "/Groups", groupBody("Empty"))
	if _, ok := empty["members"]; ok {
		t.Fatalf("a group created without members has members %v", empty["members"])
	}
	l := tn.must(200, "GET", "/Groups?filter="+urlq(`displayName eq "Empty"`), nil)
	if _, ok := l["Resources"].([]any)[0].(map[string]any)["members"]; ok {
		t.Fatalf("listed empty group has members: %v", l)
	}
}

// The library's generic texts, which a PATCH must never answer with.
var genericDetails = []string{
	`The "path" attribute was invalid or malformed`,
	"A required value was missing, or the value specified was not compatible",
}

func TestPatchOfTheExtensionByItsURN(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	uid := tn.must(201, "POST", "/Users", userBody("ext@example.com", enterpriseURN, map[string]any{"department": "R&D", "costCenter": "C1"}))["id"].(string)
	ext := func() map[string]any {
		m, _ := tn.must(200, "GET", "/Users/"+uid, nil)[enterpriseURN].(map[string]any)
		return m
	}
	// add and replace with the extension's schemas in the value.
	tn.must(204, "PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "add", "path": enterpriseURN,
		"value": map[string]any{"schemas": []any{enterpriseURN}, "division": "Dx"}}))
	tn.must(204, "PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "replace", "path": enterpriseURN,
		"value": map[string]any{"schemas": []any{enterpriseURN}, "department": "Ops", "manager": map[string]any{"value": "m-1"}}}))
	if e := ext(); e["department"] != "Ops" || e["division"] != "Dx" || e["costCenter"] != "C1" || e["manager"].(map[string]any)["value"] != "m-1" {
		t.Fatalf("extension after add and replace: %v", e)
	}
	// remove of the URN removes the extension.
	tn.must(204, "PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "remove", "path": enterpriseURN}))
	if u := tn.must(200, "GET", "/Users/"+uid, nil); u[enterpriseURN] != nil {
		t.Fatalf("extension after remove: %v", u[enterpriseURN])
	}

	tn.must(204, "PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "add", "path": enterpriseURN, "value": map[string]any{"department": "Kept"}}))
	refused := []struct {
		name     string
		op       map[string]any
		scimType string
		detail   string
	}{
		{"wrong type in the extension", map[string]any{"op": "replace", "path": enterpriseURN, "value": map[string]any{"department": 5}},
			"invalidValue", `"` + enterpriseURN + `:department" must be a string, not a number`},
		{"wrong type of a sub-attribute", map[string]any{"op": "replace", "path": enterpriseURN, "value": map[string]any{"manager": map[string]any{"value": 5}}},
			"invalidValue", `"` + enterpriseURN + `:manager.value" must be a string, not a number`},
		{"unknown attribute in the extension", map[string]any{"op": "replace", "path": enterpriseURN, "value": map[string]any{"bogus": "x"}},
			"invalidPath", `"bogus"`},
		{"extension value that is no object", map[string]any{"op": "add", "path": enterpriseURN, "value": "x"},
			"invalidValue", "must be an object"},
		{"unknown extension attribute by path", map[string]any{"op": "replace", "path": enterpriseURN + ":bogus", "value": "x"},
			"invalidPath", `no attribute "bogus"`},
		{"unknown schema URN", map[string]any{"op": "replace", "path": "urn:example:params:scim:schemas:other:1.0:User:x", "value": "x"},
			"invalidPath", "not a schema of this resource"},
		{"unknown core attribute", map[string]any{"op": "replace", "path": "bogus", "value": "x"},
			"invalidPath", `no attribute "bogus"`},
		{"unknown sub-attribute", map[string]any{"op": "replace", "path": "name.bogus", "value": "x"},
			"invalidPath", `has no sub-attribute "bogus"`},
		{"string attribute given a number", map[string]any{"op": "replace", "path": "title", "value": 5},
			"invalidValue", `"title" must be a string, not a number`},
		{"complex attribute given a string", map[string]any{"op": "replace", "path": "name", "value": "x"},
			"invalidValue", `"name" must be an object, not a string`},
		{"multi-valued attribute given a string", map[string]any{"op": "add", "path": "emails", "value": "x"},
			"invalidValue", `"emails" must be an object, not a string`},
		{"unknown attribute in a value filter", map[string]any{"op": "replace", "path": `emails[bogus eq "x"].value`, "value": "x"},
			"invalidPath", `emails[bogus eq \"x\"].value`},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			r := tn.do("PATCH", "/Users/"+uid, patchBody(c.op))
			scimError(t, r, 400, c.scimType)
			detail := r.json(t)["detail"].(string)
			for _, g := range genericDetails {
				if strings.Contains(detail, g) {
					t.Fatalf("the library's generic text: %s", detail)
				}
			}
			if !strings.Contains(detail, c.detail) {
				t.Fatalf("detail %q does not say %q", detail, c.detail)
			}
		})
	}
	if e := ext(); len(e) != 1 || e["department"] != "Kept" {
		t.Fatalf("refused PATCHes changed the extension: %v", e)
	}

	gid := tn.must(201, "POST", "/Groups", groupBody("G"))["id"].(string)
	r := tn.do("PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": 7}))
	scimError(t, r, 400, "invalidValue")
	if d := r.json(t)["detail"].(string); !strings.Contains(d, `"displayName" must be a string, not a number`) {
		t.Fatalf("group detail %q", d)
	}
	scimError(t, tn.do("PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "remove", "path": enterpriseURN})), 400, "invalidPath")
}

func TestSearchAtTheRootSpansUsersAndGroups(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	ids := map[string]string{}
	for _, n := range []string{"alice", "bob", "carol"} {
		ids[n] = tn.must(201, "POST", "/Users", userBody(n+"@example.com", "displayName", strings.ToUpper(n)))["id"].(string)
	}
	ids["Admins"] = tn.must(201, "POST", "/Groups", groupBody("Admins", ids["alice"]))["id"].(string)
	ids["Bobs"] = tn.must(201, "POST", "/Groups", groupBody("Bobs"))["id"].(string)

	// names lists a page as type:name, checking each resource says what
	// it is.
	names := func(l map[string]any) string {
		t.Helper()
		var out []string
		for _, x := range l["Resources"].([]any) {
			r := x.(map[string]any)
			meta := r["meta"].(map[string]any)
			typ := meta["resourceType"].(string)
			want := map[string]string{"User": "urn:ietf:params:scim:schemas:core:2.0:User", "Group": "urn:ietf:params:scim:schemas:core:2.0:Group"}[typ]
			if s, _ := r["schemas"].([]any); len(s) == 0 || s[0] != want {
				t.Fatalf("%s with schemas %v", typ, r["schemas"])
			}
			if meta["location"] != tn.base+"/"+typ+"s/"+r["id"].(string) {
				t.Fatalf("location %v", meta["location"])
			}
			name, _ := r["displayName"].(string)
			out = append(out, typ+":"+name)
		}
		return strings.Join(out, ",")
	}
	search := func(body map[string]any) map[string]any {
		t.Helper()
		body["schemas"] = []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}
		l := tn.must(200, "POST", "/.search", body)
		if fmt.Sprint(l["schemas"]) != "[urn:ietf:params:scim:api:messages:2.0:ListResponse]" {
			t.Fatalf("not a ListResponse: %v", l)
		}
		return l
	}
	cases := []struct {
		name             string
		body             map[string]any
		want             string
		total, start, pp float64
	}{
		{"everything: users, then groups", map[string]any{}, "User:ALICE,User:BOB,User:CAROL,Group:Admins,Group:Bobs", 5, 1, 5},
		{"an attribute both types have", map[string]any{"filter": `displayName sw "B"`}, "User:BOB,Group:Bobs", 2, 1, 2},
		{"an attribute one type lacks reads as unassigned there", map[string]any{"filter": `userName eq "alice@example.com" or displayName eq "Admins"`}, "User:ALICE,Group:Admins", 2, 1, 2},
		{"not of an attribute the type lacks", map[string]any{"filter": `not (userName pr)`}, "Group:Admins,Group:Bobs", 2, 1, 2},
		{"members eq finds the group", map[string]any{"filter": `members eq "` + ids["alice"] + `"`}, "Group:Admins", 1, 1, 1},
		{"a page across the two types", map[string]any{"startIndex": 3, "count": 2}, "User:CAROL,Group:Admins", 5, 3, 2},
		{"a page in the second type", map[string]any{"startIndex": 5, "count": 5}, "Group:Bobs", 5, 5, 1},
		{"a page past the end", map[string]any{"startIndex": 9}, "", 5, 9, 0},
		{"count 0 gives the total", map[string]any{"count": 0}, "", 5, 1, 0},
		{"sortBy within each type", map[string]any{"sortBy": "displayName", "sortOrder": "descending"}, "User:CAROL,User:BOB,User:ALICE,Group:Bobs,Group:Admins", 5, 1, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := search(c.body)
			if got := names(l); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
			if l["totalResults"] != c.total || l["startIndex"] != c.start || l["itemsPerPage"] != c.pp {
				t.Fatalf("totalResults %v startIndex %v itemsPerPage %v, want %v %v %v", l["totalResults"], l["startIndex"], l["itemsPerPage"], c.total, c.start, c.pp)
			}
		})
	}

	// attributes and excludedAttributes apply to each type.
	l := search(map[string]any{"attributes": []string{"displayName"}})
	for _, x := range l["Resources"].([]any) {
		if got := keys(x.(map[string]any)); !slices.Equal(got, []string{"displayName", "id", "meta", "schemas"}) {
			t.Fatalf("attributes=displayName: %v", got)
		}
	}
	l = search(map[string]any{"excludedAttributes": []string{"members", "emails"}, "filter": `displayName eq "Admins" or userName eq "bob@example.com"`})
	for _, x := range l["Resources"].([]any) {
		r := x.(map[string]any)
		if r["members"] != nil || r["emails"] != nil || r["displayName"] == nil {
			t.Fatalf("excludedAttributes=members,emails: %v", r)
		}
	}
	if got := names(l); got != "User:BOB,Group:Admins" {
		t.Fatalf("excluded search: %s", got)
	}

	// GET at the root is the same query.
	if got := names(tn.must(200, "GET", "/?filter="+urlq(`displayName sw "B"`), nil)); got != "User:BOB,Group:Bobs" {
		t.Fatalf("GET /: %s", got)
	}
	scimError(t, tn.do("POST", "/.search", map[string]any{"filter": `bogus eq "x"`}), 400, "invalidFilter")
	scimError(t, tn.do("POST", "/.search", map[string]any{"filter": `userName eq`}), 400, "invalidFilter")
	scimError(t, tn.do("POST", "/.search", map[string]any{"sortBy": "bogus"}), 400, "invalidValue")
	scimError(t, tn.do("GET", "/.search", nil), 405, "")
	scimError(t, tn.do("POST", "/", map[string]any{}), 405, "")
}

// RFC 7644 §3.4.2.4: a startIndex below 1 is 1 and a negative count is 0,
// on a resource endpoint and at the root alike; §3.11: /Me, unsupported,
// is 501.
func TestPagingOutOfRangeAndUnsupportedMe(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	tn.must(201, "POST", "/Users", userBody("one@example.com"))
	for _, p := range []string{"/Users?startIndex=0&count=-1", "/?startIndex=-3&count=-1"} {
		l := tn.must(200, "GET", p, nil)
		if l["startIndex"] != float64(1) || l["itemsPerPage"] != float64(0) || l["totalResults"] != float64(1) || len(l["Resources"].([]any)) != 0 {
			t.Fatalf("%s: %v", p, l)
		}
	}
	if l := tn.must(200, "GET", "/Users?startIndex=-2", nil); l["startIndex"] != float64(1) || l["itemsPerPage"] != float64(1) {
		t.Fatalf("startIndex -2: %v", l)
	}
	scimError(t, tn.do("GET", "/Me", nil), 501, "")
}
