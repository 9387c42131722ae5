package scim_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/scim"
)

func userBody(userName string, extra ...any) map[string]any {
	b := map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": userName,
		"name":     map[string]any{"givenName": "Given", "familyName": "Family"},
		"emails":   []any{map[string]any{"value": userName, "type": "work", "primary": true}},
		"active":   true,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		b[extra[i].(string)] = extra[i+1]
	}
	return b
}

func patchBody(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
}

func scimError(t *testing.T, r response, status int, scimType string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	m := r.json(t)
	if m["status"] != fmt.Sprint(status) || m["detail"] == "" || fmt.Sprint(m["schemas"]) != "[urn:ietf:params:scim:api:messages:2.0:Error]" {
		t.Fatalf("not an RFC 7644 error body: %s", r.body)
	}
	if scimType != "" && m["scimType"] != scimType {
		t.Fatalf("scimType %v, want %s: %s", m["scimType"], scimType, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
		t.Fatalf("Content-Type %q", ct)
	}
}

func TestAuthenticationFailuresAreSCIMErrors(t *testing.T) {
	t.Parallel()
	db, srv := newServer(t)
	a := newTenant(t, db, srv, "org-a")
	b := newTenant(t, db, srv, "org-b")
	ctx := context.Background()
	_, revoked, _ := db.CreateSCIMToken(ctx, a.orgID, "old", 0)
	if _, err := db.RevokeSCIMToken(ctx, a.orgID, "old"); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, auth string }{
		{"no header", ""},
		{"not bearer (Okta's probe)", "non-token"},
		{"garbage token", "Bearer nonsense"},
		{"token of another organization", "Bearer " + b.token},
		{"revoked token", "Bearer " + revoked},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.do("GET", "/Users", nil, "Authorization", c.auth)
			scimError(t, r, 401, "")
			if r.header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate header")
			}
		})
	}
	a.must(200, "GET", "/Users", nil, "Authorization", "bearer "+a.token) // scheme is case-insensitive
}

func TestDiscoveryTellsTheTruth(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	for _, path := range []string{"/ServiceProviderConfig", "/serviceConfiguration"} {
		spc := tn.must(200, "GET", path, nil)
		// Every feature flag and number as the server applies it: PATCH,
		// sorting and ETags work (the library would deny the last two);
		// a page holds at most 100; bulk takes 1,000 operations in a body
		// of the body limit (64 KiB in these tests); no passwords.
		want := map[string]any{
			"patch":          map[string]any{"supported": true},
			"sort":           map[string]any{"supported": true},
			"etag":           map[string]any{"supported": true},
			"filter":         map[string]any{"supported": true, "maxResults": float64(100)},
			"bulk":           map[string]any{"supported": true, "maxOperations": float64(1000), "maxPayloadSize": float64(64 << 10)},
			"changePassword": map[string]any{"supported": false},
			"schemas":        []any{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
			"meta":           map[string]any{"resourceType": "ServiceProviderConfig", "location": tn.base + "/ServiceProviderConfig"},
		}
		for k, v := range want {
			if !reflect.DeepEqual(spc[k], v) {
				t.Errorf("%s: %s is %v, want %v", path, k, spc[k], v)
			}
		}
		schemes := spc["authenticationSchemes"].([]any)
		if len(schemes) != 1 || schemes[0].(map[string]any)["type"] != "oauthbearertoken" || schemes[0].(map[string]any)["primary"] != true {
			t.Errorf("authentication schemes %v", schemes)
		}
	}
	// The numbers hold: a page is cut at 100 whatever the count asked.
	for i := range 101 {
		tn.must(201, "POST", "/Groups", map[string]any{"schemas": []any{coreGroupURN}, "displayName": fmt.Sprintf("g%03d", i)})
	}
	if l := tn.must(200, "GET", "/Groups?count=500", nil); l["itemsPerPage"] != float64(100) || len(l["Resources"].([]any)) != 100 || l["totalResults"] != float64(101) {
		t.Errorf("count=500: itemsPerPage %v, %d resources, total %v", l["itemsPerPage"], len(l["Resources"].([]any)), l["totalResults"])
	}

	// ResourceTypes: Users with the enterprise extension, Groups, each at
	// the endpoint where it is served.
	rt := tn.must(200, "GET", "/ResourceTypes", nil)
	types := map[string]map[string]any{}
	for _, r := range rt["Resources"].([]any) {
		m := r.(map[string]any)
		types[str(m["name"])] = m
	}
	if rt["totalResults"] != float64(2) || len(types) != 2 {
		t.Fatalf("ResourceTypes: %v", rt)
	}
	for name, want := range map[string]struct{ endpoint, schema, ext string }{
		"User":  {"/Users", coreUserURN, enterpriseURN},
		"Group": {"/Groups", coreGroupURN, ""},
	} {
		got := types[name]
		if got["endpoint"] != want.endpoint || got["schema"] != want.schema {
			t.Errorf("ResourceType %s: %v", name, got)
		}
		var exts []string
		for _, e := range asList(got["schemaExtensions"]) {
			exts = append(exts, str(e.(map[string]any)["schema"]))
		}
		if want.ext == "" && len(exts) != 0 || want.ext != "" && !slices.Equal(exts, []string{want.ext}) {
			t.Errorf("ResourceType %s: extensions %v", name, exts)
		}
		// The endpoint named is the one that answers.
		tn.must(200, "GET", want.endpoint, nil)
		if one := tn.must(200, "GET", "/ResourceTypes/"+name, nil); one["endpoint"] != want.endpoint {
			t.Errorf("ResourceTypes/%s: %v", name, one)
		}
	}

	// Schemas: those of the resources and of discovery itself, and every writable attribute the User
	// and enterprise schemas list is one the server keeps: a user with a
	// value for each comes back with each.
	s := tn.must(200, "GET", "/Schemas", nil)
	schemas := map[string]map[string]any{}
	for _, r := range s["Resources"].([]any) {
		m := r.(map[string]any)
		schemas[str(m["id"])] = m
	}
	var ids []string
	for id := range schemas {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if want := []string{"urn:ietf:params:scim:schemas:core:2.0:Group", "urn:ietf:params:scim:schemas:core:2.0:ResourceType",
		"urn:ietf:params:scim:schemas:core:2.0:Schema", "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
		"urn:ietf:params:scim:schemas:core:2.0:User", enterpriseURN}; !slices.Equal(ids, want) || s["totalResults"] != float64(len(want)) {
		t.Fatalf("Schemas %v, want %v", ids, want)
	}
	one := tn.must(200, "GET", "/Schemas/"+coreUserURN, nil)
	if !reflect.DeepEqual(one["attributes"], schemas[coreUserURN]["attributes"]) {
		t.Error("Schemas/User is not the User schema of the list")
	}
	user := map[string]any{"schemas": []any{coreUserURN, enterpriseURN}}
	ext := map[string]any{}
	var listed []string
	for urn, into := range map[string]map[string]any{coreUserURN: user, enterpriseURN: ext} {
		for _, a := range schemas[urn]["attributes"].([]any) {
			attr := a.(map[string]any)
			name := str(attr["name"])
			listed = append(listed, name)
			if attr["mutability"] == "readOnly" || attr["returned"] == "never" {
				continue
			}
			into[name] = sample(name, attr)
		}
	}
	user[enterpriseURN] = ext
	user["userName"] = "all@example.com"
	for _, name := range []string{"userName", "name", "displayName", "emails", "active", "groups", "password", "employeeNumber", "manager"} {
		if !slices.Contains(listed, name) {
			t.Errorf("the User schemas do not list %s", name)
		}
	}
	created := tn.must(201, "POST", "/Users", user)
	got := tn.must(200, "GET", "/Users/"+str(created["id"]), nil)
	for _, doc := range []map[string]any{created, got} {
		for name, v := range user {
			if name == "schemas" || name == enterpriseURN || name == "password" {
				continue
			}
			if !reflect.DeepEqual(doc[name], v) {
				t.Errorf("%s: sent %v, kept %v", name, v, doc[name])
			}
		}
		for name, v := range ext {
			if e, _ := doc[enterpriseURN].(map[string]any); !reflect.DeepEqual(e[name], v) {
				t.Errorf("%s: sent %v, kept %v", name, v, e[name])
			}
		}
	}
	tn.must(200, "GET", "/users", nil) // Microsoft's tests use lower case
}

func asList(v any) []any { l, _ := v.([]any); return l }

func str(v any) string { return fmt.Sprint(v) }

// sample is a value of the type an attribute's schema entry declares.
func sample(name string, attr map[string]any) any {
	var v any
	switch attr["type"] {
	case "boolean":
		v = true
	case "reference":
		v = "https://example.com/" + name
	case "dateTime":
		v = "2024-01-02T03:04:05Z"
	case "binary":
		v = "AAEC"
	case "complex":
		m := map[string]any{}
		for _, s := range asList(attr["subAttributes"]) {
			sub := s.(map[string]any)
			if sub["mutability"] == "readOnly" {
				continue
			}
			m[str(sub["name"])] = sample(str(sub["name"]), sub)
		}
		v = m
	default:
		v = "v-" + name
		if vals := asList(attr["canonicalValues"]); len(vals) > 0 {
			v = vals[0]
		}
	}
	if attr["multiValued"] == true {
		return []any{v}
	}
	return v
}

const (
	coreUserURN  = "urn:ietf:params:scim:schemas:core:2.0:User"
	coreGroupURN = "urn:ietf:params:scim:schemas:core:2.0:Group"
)

func TestCreateStoresFaithfullyAndNeverKeepsThePassword(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	body := userBody("Ann@Example.com", "password", "s3cret-Passw0rd", "externalId", "00u1", "title", "Engineer",
		"groups", []any{},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", map[string]any{"department": "R&D", "manager": map[string]any{"value": "m-1"}})
	r := tn.do("POST", "/Users", body)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	u := r.json(t)
	id := u["id"].(string)
	if loc := r.header.Get("Location"); loc != tn.base+"/Users/"+id {
		t.Errorf("Location %q, want %q", loc, tn.base+"/Users/"+id)
	}
	m := u["meta"].(map[string]any)
	if m["location"] != tn.base+"/Users/"+id || m["resourceType"] != "User" || m["version"] == "" || r.header.Get("ETag") != m["version"] {
		t.Errorf("meta %v, ETag %q", m, r.header.Get("ETag"))
	}
	got := tn.must(200, "GET", "/Users/"+id, nil)
	for _, doc := range []map[string]any{u, got} {
		if _, ok := doc["password"]; ok {
			t.Fatal("password returned")
		}
		if doc["title"] != "Engineer" || doc["externalId"] != "00u1" || doc["userName"] != "Ann@Example.com" {
			t.Fatalf("attributes not kept: %v", doc)
		}
		ext := doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
		if ext["department"] != "R&D" {
			t.Fatalf("extension not kept: %v", ext)
		}
	}
	var n int
	if err := tn.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE attributes::text LIKE '%s3cret%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("password stored (%d rows, %v)", n, err)
	}
	// userName is unique case-insensitively. externalId is the IdP's and
	// not unique (RFC 7643 §3.1); it is looked up exactly.
	scimError(t, tn.do("POST", "/Users", userBody("ann@example.COM")), 409, "uniqueness")
	tn.must(201, "POST", "/Users", userBody("other@example.com", "externalId", "00u1"))
	tn.must(201, "POST", "/Users", userBody("third@example.com", "externalId", "00U1"))
	if l := tn.must(200, "GET", "/Users?filter="+urlq(`externalId eq "00u1"`), nil); l["totalResults"] != float64(2) {
		t.Fatalf("externalId eq: %v", l["totalResults"])
	}
}

func TestBadRequestsGetPreciseErrorsAndChangeNothing(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	scimError(t, tn.do("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":`), 400, "invalidSyntax")
	scimError(t, tn.do("POST", "/Users", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "name": map[string]any{"givenName": "x"}}), 400, "invalidValue")
	big := strings.Repeat("x", 70<<10)
	scimError(t, tn.do("POST", "/Users", userBody("big@example.com", "title", big)), 413, "")
	scimError(t, tn.do("GET", "/Users?filter="+urlq(`userName eq`), nil), 400, "invalidFilter")
	scimError(t, tn.do("GET", "/Users?filter="+urlq(`bogus eq "x"`), nil), 400, "invalidFilter")
	scimError(t, tn.do("GET", "/Users/not-a-uuid", nil), 404, "")
	list := tn.must(200, "GET", "/Users", nil)
	if list["totalResults"] != float64(0) {
		t.Fatalf("bad requests left users behind: %v", list)
	}
}

func urlq(s string) string {
	return strings.NewReplacer(" ", "%20", `"`, "%22", "&", "%26", "[", "%5B", "]", "%5D", "+", "%2B").Replace(s)
}

func TestETagsAndPreconditions(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	u := tn.must(201, "POST", "/Users", userBody("etag@example.com"))
	id := u["id"].(string)
	r := tn.do("GET", "/Users/"+id, nil)
	tag := r.header.Get("ETag")
	if tag == "" {
		t.Fatal("no ETag")
	}
	if nm := tn.do("GET", "/Users/"+id, nil, "If-None-Match", tag); nm.status != 304 || len(nm.body) != 0 {
		t.Fatalf("If-None-Match current: %d %s, want 304", nm.status, nm.body)
	}
	tn.must(204, "PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "New"}), "If-Match", tag)
	if nm := tn.do("GET", "/Users/"+id, nil, "If-None-Match", tag); nm.status != 200 {
		t.Fatalf("If-None-Match stale: %d, want 200", nm.status)
	}
	scimError(t, tn.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "Newer"}), "If-Match", tag), 412, "")
	scimError(t, tn.do("PUT", "/Users/"+id, userBody("etag@example.com"), "If-Match", tag), 412, "")
	scimError(t, tn.do("DELETE", "/Users/"+id, nil, "If-Match", tag), 412, "")
	if got := tn.must(200, "GET", "/Users/"+id, nil); got["displayName"] != "New" {
		t.Fatalf("a refused write changed the user: %v", got)
	}
	cur := tn.do("GET", "/Users/"+id, nil).header.Get("ETag")
	tn.must(204, "DELETE", "/Users/"+id, nil, "If-Match", cur)
}

func TestDeactivationKeepsTheUserReadableAndFilterable(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	u := tn.must(201, "POST", "/Users", userBody("gone@example.com"))
	id := u["id"].(string)
	// Okta: path-less replace; Entra: capitalised op with a string boolean.
	tn.must(204, "PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "value": map[string]any{"active": false}}))
	if got := tn.must(200, "GET", "/Users/"+id, nil); got["active"] != false {
		t.Fatalf("after deactivate: %v", got["active"])
	}
	l := tn.must(200, "GET", "/Users?filter="+urlq(`active eq false`), nil)
	if l["totalResults"] != float64(1) {
		t.Fatalf("active eq false: %v", l)
	}
	tn.must(204, "PATCH", "/Users/"+id, patchBody(map[string]any{"op": "Replace", "path": "active", "value": "True"}))
	if got := tn.must(200, "GET", "/Users/"+id, nil); got["active"] != true {
		t.Fatalf("after reactivate: %v", got["active"])
	}
	events, err := tn.db.AuditEvents(context.Background(), tn.orgID, "User", id)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action)
		if e.Actor != "scim-token:idp" {
			t.Errorf("actor %q", e.Actor)
		}
	}
	if strings.Join(actions, ",") != "user.create,user.deactivate,user.reactivate" {
		t.Fatalf("audit actions %v", actions)
	}
}

func TestGroupMembershipChangesOnlyWhatIsNamed(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	var ids []string
	for i := range 4 {
		u := tn.must(201, "POST", "/Users", userBody(fmt.Sprintf("m%d@example.com", i)))
		ids = append(ids, u["id"].(string))
	}
	g := tn.must(201, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Eng", "members": []any{}})
	gid := g["id"].(string)
	members := func() []string {
		got := tn.must(200, "GET", "/Groups/"+gid, nil)
		var out []string
		list, _ := got["members"].([]any) // no members: no attribute
		for _, m := range list {
			out = append(out, m.(map[string]any)["value"].(string))
		}
		return out
	}
	add := func(ids ...string) map[string]any {
		var v []any
		for _, id := range ids {
			v = append(v, map[string]any{"value": id})
		}
		return map[string]any{"op": "Add", "path": "members", "value": v}
	}
	tn.must(204, "PATCH", "/Groups/"+gid, patchBody(add(ids[0], ids[1], ids[2])))
	tn.must(204, "PATCH", "/Groups/"+gid, patchBody(add(ids[0]))) // already there: no-op
	// Entra's removal names the members in value: only those go.
	tn.must(204, "PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "Remove", "path": "members", "value": []any{map[string]any{"value": ids[0]}}}))
	if got := members(); len(got) != 2 || !slices.Contains(got, ids[1]) || !slices.Contains(got, ids[2]) {
		t.Fatalf("after Entra remove: %v, want %v", got, ids[1:3])
	}
	// Okta's removal by filter, then its full replace.
	tn.must(204, "PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "remove", "path": fmt.Sprintf(`members[value eq "%s"]`, ids[1])}))
	if got := members(); len(got) != 1 || got[0] != ids[2] {
		t.Fatalf("after filtered remove: %v", got)
	}
	// An unknown member id is refused, and nothing is added.
	r := tn.do("PATCH", "/Groups/"+gid, patchBody(add(ids[3], "7b0cf4de-0000-4000-8000-000000000000")))
	scimError(t, r, 400, "invalidValue")
	if got := members(); len(got) != 1 {
		t.Fatalf("a refused PATCH added members: %v", got)
	}
	// Membership check as Entra sends it.
	q := fmt.Sprintf(`id eq "%s" and members eq "%s"`, gid, ids[2])
	l := tn.must(200, "GET", "/Groups?filter="+urlq(q)+"&excludedAttributes=members", nil)
	if l["totalResults"] != float64(1) {
		t.Fatalf("membership check: %v", l)
	}
	if _, ok := l["Resources"].([]any)[0].(map[string]any)["members"]; ok {
		t.Fatal("excludedAttributes=members returned members")
	}
	// User.groups is derived.
	u := tn.must(200, "GET", "/Users/"+ids[2], nil)
	if gs, _ := u["groups"].([]any); len(gs) != 1 || gs[0].(map[string]any)["value"] != gid {
		t.Fatalf("user groups: %v", u["groups"])
	}
	// A deleted user leaves every group.
	tn.must(204, "DELETE", "/Users/"+ids[2], nil)
	scimError(t, tn.do("GET", "/Users/"+ids[2], nil), 404, "")
	if got := members(); len(got) != 0 {
		t.Fatalf("deleted user still a member: %v", got)
	}
	tn.must(204, "DELETE", "/Groups/"+gid, nil)
	scimError(t, tn.do("GET", "/Groups/"+gid, nil), 404, "")
}

func TestTenantsNeverSeeEachOther(t *testing.T) {
	t.Parallel()
	db, srv := newServer(t)
	a := newTenant(t, db, srv, "tenant-a")
	b := newTenant(t, db, srv, "tenant-b")
	u := a.must(201, "POST", "/Users", userBody("shared@example.com", "externalId", "same"))
	g := a.must(201, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Same"})
	uid, gid := u["id"].(string), g["id"].(string)
	scimError(t, b.do("GET", "/Users/"+uid, nil), 404, "")
	scimError(t, b.do("GET", "/Groups/"+gid, nil), 404, "")
	scimError(t, b.do("PATCH", "/Users/"+uid, patchBody(map[string]any{"op": "replace", "path": "active", "value": false})), 404, "")
	scimError(t, b.do("DELETE", "/Groups/"+gid, nil), 404, "")
	if l := b.must(200, "GET", "/Users?filter="+urlq(`userName eq "shared@example.com"`), nil); l["totalResults"] != float64(0) {
		t.Fatalf("B sees A's user: %v", l)
	}
	// B can use the same names; B cannot add A's user to its group.
	b.must(201, "POST", "/Users", userBody("shared@example.com", "externalId", "same"))
	bg := b.must(201, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Same"})
	scimError(t, b.do("PATCH", "/Groups/"+bg["id"].(string), patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": uid}}})), 400, "invalidValue")
	if got := a.must(200, "GET", "/Users/"+uid, nil); got["active"] != true {
		t.Fatal("A's user changed")
	}
}

func TestConcurrentCreatesOfOneUserNameEndInOne201(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	const n = 16
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = tn.do("POST", "/Users", userBody("race@example.com")).status
		}()
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		switch c {
		case 201:
			created++
		case 409:
		default:
			t.Fatalf("unexpected status %d", c)
		}
	}
	if created != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1 (%v)", created, codes)
	}
}

func TestConcurrentMembershipPatchesLoseNothing(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	g := tn.must(201, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Busy"})
	gid := g["id"].(string)
	const n = 12
	ids := make([]string, n)
	for i := range ids {
		ids[i] = tn.must(201, "POST", "/Users", userBody(fmt.Sprintf("c%d@example.com", i)))["id"].(string)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := tn.do("PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": id}}}))
			if r.status != 204 {
				t.Errorf("PATCH: %d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	got := tn.must(200, "GET", "/Groups/"+gid, nil)
	if m, _ := got["members"].([]any); len(m) != n {
		t.Fatalf("%d members after %d concurrent adds", len(m), n)
	}
}

func TestListsPageSortAndProject(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	for _, n := range []string{"carol", "alice", "bob", "dave", "eve"} {
		tn.must(201, "POST", "/Users", userBody(n+"@example.com", "displayName", strings.ToUpper(n)))
	}
	l := tn.must(200, "GET", "/Users?count=0", nil)
	if l["totalResults"] != float64(5) || len(l["Resources"].([]any)) != 0 {
		t.Fatalf("count=0: %v", l)
	}
	p2 := tn.must(200, "GET", "/Users?startIndex=3&count=2", nil)
	if p2["startIndex"] != float64(3) || p2["itemsPerPage"] != float64(2) || p2["totalResults"] != float64(5) {
		t.Fatalf("page: %v", p2)
	}
	last := tn.must(200, "GET", "/Users?startIndex=5&count=2", nil)
	if last["itemsPerPage"] != float64(1) {
		t.Fatalf("last page itemsPerPage %v, want 1", last["itemsPerPage"])
	}
	// Stable insertion order by default; sortBy on request.
	names := func(l map[string]any) string {
		var s []string
		for _, r := range l["Resources"].([]any) {
			s = append(s, strings.TrimSuffix(r.(map[string]any)["userName"].(string), "@example.com"))
		}
		return strings.Join(s, ",")
	}
	if got := names(tn.must(200, "GET", "/Users", nil)); got != "carol,alice,bob,dave,eve" {
		t.Fatalf("default order %s", got)
	}
	if got := names(tn.must(200, "GET", "/Users?sortBy=userName", nil)); got != "alice,bob,carol,dave,eve" {
		t.Fatalf("sortBy userName %s", got)
	}
	if got := names(tn.must(200, "GET", "/Users?sortBy=userName&sortOrder=descending", nil)); got != "eve,dave,carol,bob,alice" {
		t.Fatalf("descending %s", got)
	}
	proj := tn.must(200, "GET", "/Users?attributes=userName,name.givenName&count=1", nil)
	r := proj["Resources"].([]any)[0].(map[string]any)
	if _, ok := r["emails"]; ok || r["userName"] == nil || r["id"] == nil || r["name"].(map[string]any)["givenName"] != "Given" || r["name"].(map[string]any)["familyName"] != nil {
		t.Fatalf("attributes projection: %v", r)
	}
	ex := tn.must(200, "GET", "/Users?excludedAttributes=emails,name&count=1", nil)
	r = ex["Resources"].([]any)[0].(map[string]any)
	if _, ok := r["emails"]; ok || r["userName"] == nil {
		t.Fatalf("excludedAttributes: %v", r)
	}
	// POST /.search takes the same parameters in its body.
	s := tn.must(200, "POST", "/Users/.search", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"},
		"filter":  `userName sw "b" or userName sw "d"`, "sortBy": "userName", "count": 10,
	})
	if got := names(s); got != "bob,dave" {
		t.Fatalf(".search: %s", got)
	}
}

func TestUnknownResourcesAndUnsupportedEndpoints(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	scimError(t, tn.do("DELETE", "/Groups/6f1d7a4c-0000-4000-8000-000000000000", nil), 404, "")
	scimError(t, tn.do("PUT", "/Users/6f1d7a4c-0000-4000-8000-000000000000", userBody("x@example.com")), 404, "")
	scimError(t, tn.do("POST", "/Bulk", `{}`), 400, "invalidValue")
	if r := tn.do("PATCH", "/Users/6f1d7a4c-0000-4000-8000-000000000000", patchBody(map[string]any{"op": "replace", "path": "active", "value": false})); r.status != http.StatusNotFound {
		t.Fatalf("PATCH unknown user: %d", r.status)
	}
}

// clock is a clock that moves only when told: rate-limit windows in
// tests do not depend on how fast the machine is.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rateLimited is a server whose SCIM endpoint admits rate requests per
// second per organization by clk.
func rateLimited(t *testing.T, rate float64, clk *clock) (*scim.Handler, *postgres.DB, *httptest.Server) {
	t.Helper()
	db := pgtest.DB(t)
	hs := httpserver.New(httpserver.Config{})
	h := scim.New(scim.Config{Store: db, RatePerOrg: rate, Now: clk.Now})
	h.Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	return h, db, srv
}

// admitted counts the requests that pass before the first refusal (at
// most 40), and returns the refusal.
func admitted(tn *tenant) (int, response) {
	for n := range 40 {
		if r := tn.do("GET", "/Users", nil); r.status != 200 {
			return n, r
		}
	}
	return 40, response{}
}

func TestRateLimitAnswers429PerOrganization(t *testing.T) {
	t.Parallel()
	clk := newClock()
	_, db, srv := rateLimited(t, 2, clk) // bursts of 4, one more every 500 ms
	busy := newTenant(t, db, srv, "busy")
	calm := newTenant(t, db, srv, "calm")
	n, limited := admitted(busy)
	if n != 4 {
		t.Fatalf("%d requests passed at once, want the burst of 4", n)
	}
	scimError(t, limited, 429, "")
	if limited.header.Get("Retry-After") != "1" {
		t.Errorf("429 with Retry-After %q, want 1", limited.header.Get("Retry-After"))
	}
	calm.must(200, "GET", "/Users", nil) // another organization is not slowed
	// The bucket refills at the rate.
	clk.Advance(499 * time.Millisecond)
	scimError(t, busy.do("GET", "/Users", nil), 429, "")
	clk.Advance(time.Millisecond)
	if n, _ := admitted(busy); n != 1 {
		t.Fatalf("500 ms later: %d requests passed, want 1", n)
	}
}

// The rate is the service's: with four replicas live, each admits a
// quarter of it (a burst of 2×rate/4 here), with one again the whole.
func TestRateLimitIsSharedByTheLiveReplicas(t *testing.T) {
	t.Parallel()
	clk := newClock()
	h, db, srv := rateLimited(t, 4, clk) // alone: bursts of 8
	h.SetReplicas(4)
	quarter := newTenant(t, db, srv, "quarter")
	if n, _ := admitted(quarter); n != 2 {
		t.Fatalf("with 4 replicas: %d requests passed at once, want the share's burst of 2", n)
	}
	clk.Advance(time.Second) // a quarter of 4/s: one request
	if n, _ := admitted(quarter); n != 1 {
		t.Fatalf("with 4 replicas, a second later: %d requests passed, want 1", n)
	}
	h.SetReplicas(1)
	if n, _ := admitted(newTenant(t, db, srv, "whole")); n != 8 {
		t.Fatalf("alone: %d requests passed at once, want the burst of 8", n)
	}
}

func TestLocationsUseTheConfiguredPublicURL(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	hs := httpserver.New(httpserver.Config{})
	scim.New(scim.Config{Store: db, PublicURL: "https://scim.example.com/"}).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	tn := newTenant(t, db, srv, "pub")
	r := tn.do("POST", "/Users", userBody("loc@example.com"))
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	want := "https://scim.example.com/scim/v2/pub/Users/" + id
	if loc := r.header.Get("Location"); loc != want {
		t.Fatalf("Location %q, want %q", loc, want)
	}
	if got := r.json(t)["meta"].(map[string]any)["location"]; got != want {
		t.Fatalf("meta.location %v, want %q", got, want)
	}
}

func TestBreakGlassOwnerIsBeyondSCIM(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	ctx := context.Background()
	owner, err := tn.db.FindMember(ctx, tn.orgID, "break-glass-owner")
	if err != nil {
		t.Fatal(err)
	}
	// Invisible to the IdP's lists and reads…
	if l := tn.must(200, "GET", "/Users", nil); l["totalResults"] != float64(0) {
		t.Fatalf("SCIM lists the break-glass owner: %v", l)
	}
	scimError(t, tn.do("GET", "/Users/"+owner.ID, nil), 404, "")
	// …and every write that would take it over is refused with a reason.
	for _, r := range []response{
		tn.do("POST", "/Users", userBody("Break-Glass-Owner")),
		tn.do("PATCH", "/Users/"+owner.ID, patchBody(map[string]any{"op": "replace", "path": "active", "value": false})),
		tn.do("PUT", "/Users/"+owner.ID, userBody("break-glass-owner", "active", false)),
		tn.do("DELETE", "/Users/"+owner.ID, nil),
	} {
		scimError(t, r, 400, "invalidValue")
		if !strings.Contains(string(r.body), "break-glass") {
			t.Errorf("detail does not say why: %s", r.body)
		}
	}
	// Nor can it be made a member of an IdP group.
	g := tn.must(201, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "G"})
	scimError(t, tn.do("PATCH", "/Groups/"+g["id"].(string), patchBody(map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": owner.ID}}})), 400, "invalidValue")
	after, err := tn.db.Member(ctx, tn.orgID, owner.ID)
	if err != nil || !after.Active || after.Version != owner.Version {
		t.Fatalf("the owner changed: %+v %v", after, err)
	}
	events, _ := tn.db.AuditEvents(ctx, tn.orgID, "User", "")
	refused := 0
	for _, e := range events {
		if strings.HasSuffix(e.Action, ".refused") {
			refused++
		}
	}
	if refused != 4 {
		t.Fatalf("%d refusals audited, want 4", refused)
	}
}

func TestSCIMPushAdoptsTheUserWhoSignedInFirst(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	ctx := context.Background()
	jit := jitLogin(t, tn, "early@example.com", true)
	r := tn.do("POST", "/Users", userBody("Early@Example.com", "externalId", "00u-early"))
	if r.status != 201 {
		t.Fatalf("SCIM POST after a JIT login: %d %s", r.status, r.body)
	}
	got := r.json(t)
	if got["id"] != jit.ID || got["externalId"] != "00u-early" {
		t.Fatalf("adopted %v, want the JIT user %s", got, jit.ID)
	}
	u, _ := tn.db.Member(ctx, tn.orgID, jit.ID)
	if u.Source != directory.SourceSCIM {
		t.Fatalf("source after adoption: %s", u.Source)
	}
	if l := tn.must(200, "GET", "/Users?filter="+urlq(`userName eq "early@example.com"`), nil); l["totalResults"] != float64(1) {
		t.Fatalf("SCIM lookup after adoption: %v", l)
	}
	events, _ := tn.db.AuditEvents(ctx, tn.orgID, "User", jit.ID)
	if events[len(events)-1].Action != "user.adopt" {
		t.Fatalf("audit %v", events[len(events)-1].Action)
	}
	// A second push of the same user is a plain duplicate again.
	scimError(t, tn.do("POST", "/Users", userBody("early@example.com")), 409, "uniqueness")

	// A JIT user whose email the IdP did not verify is never adopted: the
	// push is refused with what to do, and nobody inherits the account.
	squatter := jitLogin(t, tn, "boss@example.com", false)
	r = tn.do("POST", "/Users", userBody("boss@example.com"))
	scimError(t, r, 409, "uniqueness")
	if !strings.Contains(string(r.body), "did not verify") {
		t.Fatalf("detail: %s", r.body)
	}
	if u, _ := tn.db.Member(ctx, tn.orgID, squatter.ID); u.Source != directory.SourceJIT {
		t.Fatalf("the unverified JIT user was changed: %+v", u)
	}
}

// jitLogin signs a person in for the first time under the jit policy, as
// the OIDC callback does, creating a JIT user named by their email.
func jitLogin(t *testing.T, tn *tenant, email string, verified bool) directory.User {
	t.Helper()
	u, _, err := tn.db.LinkLogin(context.Background(), tn.orgID, directory.LoginClaims{Issuer: "https://idp.example", Subject: "sub-" + email,
		Email: email, EmailVerified: verified}, directory.JITPolicy{Mode: directory.JITAny})
	if err != nil || u.Source != directory.SourceJIT {
		t.Fatalf("JIT login of %s: %+v %v", email, u, err)
	}
	return u
}

// A push whose userName is not the login's email still adopts the JIT
// user by its email, and only when exactly one JIT user holds it.
func TestSCIMPushAdoptsTheJITUserByEmail(t *testing.T) {
	t.Parallel()
	emails := func(addrs ...string) []any {
		var out []any
		for _, a := range addrs {
			out = append(out, map[string]any{"value": a, "type": "work"})
		}
		return out
	}
	cases := []struct {
		name       string
		jit        []string // userNames of JIT users, each with that one email
		removed    bool     // the JIT user was removed before the push
		unverified bool     // the JIT users signed in with unverified emails
		push       map[string]any
		status     int
		adopts     int // index in jit of the adopted user; -1: none
	}{
		{"another userName, the login's email", []string{"ann@example.com"}, false, false,
			userBody("ann", "emails", emails("Ann@Example.com")), 201, 0},
		{"the email among others", []string{"bo@example.com"}, false, false,
			userBody("bo.okta", "emails", emails("bo@home.example", "bo@example.com")), 201, 0},
		{"two JIT users hold its addresses", []string{"cy@example.com", "cy@home.example"}, false, false,
			userBody("cy", "emails", emails("cy@example.com", "cy@home.example")), 409, -1},
		{"no JIT user holds it", []string{"dee@example.com"}, false, false,
			userBody("eve", "emails", emails("eve@example.com")), 201, -1},
		{"a removed JIT user is not adopted", []string{"fay@example.com"}, true, false,
			userBody("fay", "emails", emails("fay@example.com")), 201, -1},
		{"a JIT user of an unverified email is not adopted", []string{"ceo@example.com"}, false, true,
			userBody("ceo", "emails", emails("ceo@example.com")), 201, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tn := setup(t)
			ctx := context.Background()
			var jits []directory.User
			for _, name := range c.jit {
				u := jitLogin(t, tn, name, !c.unverified)
				if c.removed {
					if _, err := tn.db.RemoveMember(ctx, directory.Actor{Kind: "cli", Name: "t"}, tn.orgID, u.ID); err != nil {
						t.Fatal(err)
					}
				}
				jits = append(jits, u)
			}
			r := tn.do("POST", "/Users", c.push)
			if r.status != c.status {
				t.Fatalf("POST: %d %s", r.status, r.body)
			}
			if c.status == 409 {
				scimError(t, r, 409, "uniqueness")
				if !strings.Contains(string(r.body), c.jit[0]) || !strings.Contains(string(r.body), c.jit[1]) {
					t.Fatalf("the conflict does not name both: %s", r.body)
				}
				return
			}
			got := r.json(t)
			for i, j := range jits {
				if adopted := got["id"] == j.ID; adopted != (i == c.adopts) {
					t.Fatalf("adopted=%v for JIT user %s, want %v", adopted, j.UserName, i == c.adopts)
				}
			}
			if c.adopts < 0 {
				return
			}
			if got["userName"] != c.push["userName"] {
				t.Fatalf("userName after adoption %v", got["userName"])
			}
			events, _ := tn.db.AuditEvents(ctx, tn.orgID, "User", jits[c.adopts].ID)
			if last := events[len(events)-1]; last.Action != "user.adopt" || last.After["matchedBy"] != "email" {
				t.Fatalf("audit %s %v", last.Action, last.After["matchedBy"])
			}
		})
	}
}

// Paths outside the SCIM endpoints are 404: they must not reach the
// library around the normaliser (it would route /v2/Users to the users
// handler, unfiltered).
func TestUnknownEndpointsAre404(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	tn.must(201, "POST", "/Users", userBody("one@example.com"))
	tn.must(201, "POST", "/Users", userBody("two@example.com"))
	for _, path := range []string{"/v2/Users?filter=" + urlq(`userName eq "one@example.com"`), "/Nope", "/v2/Groups"} {
		scimError(t, tn.do("GET", path, nil), 404, "")
	}
	if l := tn.must(200, "GET", "/users?filter="+urlq(`userName eq "one@example.com"`), nil); l["totalResults"] != float64(1) {
		t.Fatalf("the lower-case endpoint still filters: %v", l)
	}
}

// Anonymous clients choose the method and the path; neither may become a
// metric label, or junk requests grow the server's memory without bound.
func TestJunkMethodsAndPathsCannotGrowTheMetrics(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	hs := httpserver.New(httpserver.Config{})
	scim.New(scim.Config{Store: db}).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	newTenant(t, db, srv, "acme")
	for i := range 100 {
		method := "JUNK" + strings.Repeat("X", i)
		for _, path := range []string{"/scim/v2/acme/Users", "/scim/v2/acme/x" + strings.Repeat("y", i), "/scim/v2/org" + strconv.Itoa(i) + "/Users/1"} {
			req, err := http.NewRequest(method, srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	mfs, err := hs.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "scimbridge_http_requests_total" {
			continue
		}
		if n := len(mf.GetMetric()); n > 4 {
			t.Fatalf("%d request series after 300 junk requests, want a handful", n)
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if strings.Contains(l.GetValue(), "JUNK") || strings.Contains(l.GetValue(), "yyy") {
					t.Errorf("label %s=%q carries the client's value", l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// A held database (a lock another session keeps, a paused server) must
// give the IdP a timely 503 with Retry-After, which Okta and Entra retry,
// never a hung request or a 500.
func TestAHeldDatabaseAnswers503WithinTheDeadline(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	hs := httpserver.New(httpserver.Config{RequestTimeout: 400 * time.Millisecond})
	scim.New(scim.Config{Store: db}).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	tn := newTenant(t, db, srv, "acme")
	id := tn.must(201, "POST", "/Users", userBody("held@example.com"))["id"].(string)

	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE users IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/Users?filter=" + urlq(`userName eq "held@example.com"`), nil},
		{"GET", "/Users/" + id, nil},
		{"PATCH", "/Users/" + id, patchBody(map[string]any{"op": "replace", "value": map[string]any{"active": false}})},
		{"POST", "/Users", userBody("new@example.com")},
	} {
		start := time.Now()
		r := tn.do(c.method, c.path, c.body)
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s %s took %v under a 400ms deadline", c.method, c.path, d)
		}
		scimError(t, r, 503, "")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", c.method, c.path)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// Nothing was half-written, and the pool serves again.
	u := tn.must(200, "GET", "/Users/"+id, nil)
	if u["active"] != true {
		t.Fatalf("the PATCH that timed out changed the user: %v", u)
	}
	if l := tn.must(200, "GET", "/Users?filter="+urlq(`userName eq "new@example.com"`), nil); l["totalResults"] != float64(0) {
		t.Fatalf("the POST that timed out created the user: %v", l)
	}
}

// The token check is the first thing to reach the store: when it cannot
// answer, the IdP gets 503 with Retry-After, not a 401 that would make
// the admin rotate a good token, nor a hung request.
func TestATokenStoreOutageAnswers503(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	hs := httpserver.New(httpserver.Config{RequestTimeout: 400 * time.Millisecond})
	scim.New(scim.Config{Store: db}).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	tn := newTenant(t, db, srv, "acme")
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE scim_tokens IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	r := tn.do("GET", "/Users", nil)
	scimError(t, r, 503, "")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	tn.must(200, "GET", "/Users", nil)
}

// A key lookup or-ed with a comparison on no key: the probe of the key is
// given up, and must take its parameter with it (the statement named a
// parameter it did not use, and PostgreSQL refused it: a 500).
func TestAKeyLookupOrAnythingElseIsAnswered(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	tn.must(201, "POST", "/Users", userBody("alice@example.com", "displayName", "Alice"))
	tn.must(201, "POST", "/Users", userBody("bob@example.com", "displayName", "Bob"))
	for filter, want := range map[string]float64{
		`userName eq "alice@example.com" or displayName eq "Bob"`:        2,
		`displayName eq "Bob" or userName eq "alice@example.com"`:        2,
		`(userName eq "x" or displayName eq "Bob") and active eq true`:   1,
		`userName eq "alice@example.com" or emails[type eq "home"]`:      1,
		`userName eq "alice@example.com" and displayName eq "Alice"`:     1,
		`not (userName eq "alice@example.com") or displayName eq "Nope"`: 1,
	} {
		l := tn.must(200, "GET", "/Users?filter="+urlq(filter), nil)
		if l["totalResults"] != want {
			t.Errorf("%s: %v results, want %v", filter, l["totalResults"], want)
		}
	}
}
