package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
)

func names(t *testing.T, l map[string]any, key string) []string {
	t.Helper()
	var out []string
	for _, it := range l["items"].([]any) {
		out = append(out, str(it.(map[string]any)[key]))
	}
	return out
}

// Users of every source are listed with status and source, searched,
// filtered and paged.
func TestUsersAreListedWithStatusAndSource(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	alice := tn.scimUser("alice@acme.test")
	g := tn.group("Eng", alice)
	tn.user("jit@acme.test", directory.SourceJIT)
	tn.user("robot", directory.SourceService)
	gone := tn.user("gone@acme.test", directory.SourceInvitation)
	tn.must(204, "DELETE", "/users/"+gone.ID, nil)

	all := tn.must(200, "GET", "/users", nil)
	if all["total"] != float64(5) || all["offset"] != float64(0) || all["limit"] != float64(100) {
		t.Fatalf("list envelope %v", all)
	}
	for _, it := range all["items"].([]any) {
		u := it.(map[string]any)
		for _, k := range []string{"id", "userName", "displayName", "emails", "active", "status", "source", "kind", "externalId", "groups", "createdAt", "updatedAt"} {
			if _, ok := u[k]; !ok {
				t.Fatalf("user without %s: %v", k, u)
			}
		}
		if u["userName"] == "alice@acme.test" {
			groups := u["groups"].([]any)
			if len(groups) != 1 || groups[0].(map[string]any)["id"] != g.ID || groups[0].(map[string]any)["displayName"] != "Eng" || u["externalId"] != "ext-alice@acme.test" {
				t.Fatalf("alice %v", u)
			}
		}
	}
	cases := []struct {
		query string
		want  []string
	}{
		{"?source=scim", []string{"alice@acme.test"}},
		{"?source=breakglass", []string{"break-glass-owner"}},
		{"?source=service", []string{"robot"}},
		{"?status=removed", []string{"gone@acme.test"}},
		{"?status=active&source=jit", []string{"jit@acme.test"}},
		{"?search=ACME.test&status=active", []string{"alice@acme.test", "jit@acme.test"}},
		{"?limit=2", []string{"break-glass-owner", "alice@acme.test"}},
		{"?offset=4&limit=2", []string{"gone@acme.test"}},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			got := names(t, tn.in(t).must(200, "GET", "/users"+c.query, nil), "userName")
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	if l := tn.must(200, "GET", "/users?offset=4&limit=2", nil); l["total"] != float64(5) || l["offset"] != float64(4) || l["limit"] != float64(2) {
		t.Fatalf("page envelope %v", l)
	}
}

// Workspaces are created, found by id or name, renamed, retargeted and
// deleted with their bindings.
func TestWorkspaceLifecycle(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	w := tn.must(201, "POST", "/workspaces", map[string]any{"name": "data-eng", "targets": []any{map[string]any{"cluster": "prod", "namespace": "data"}}})
	id := w["id"].(string)
	if got := tn.must(200, "GET", "/workspaces/DATA-ENG", nil); got["id"] != id {
		t.Fatalf("by name: %v", got)
	}
	problem(t, tn.do("POST", "/workspaces", map[string]any{"name": "other", "targets": []any{map[string]any{"cluster": "prod", "namespace": "data"}}}), 409, "conflict")
	problem(t, tn.do("POST", "/workspaces", map[string]any{"name": ""}), 400, "invalid")

	w = tn.must(200, "PATCH", "/workspaces/data-eng", map[string]any{"name": "data"})
	if w["name"] != "data" || len(w["targets"].([]any)) != 1 {
		t.Fatalf("renamed: %v", w)
	}
	w = tn.must(200, "PATCH", "/workspaces/"+id, map[string]any{"targets": []any{
		map[string]any{"cluster": "stage", "namespace": "data"}, map[string]any{"cluster": "prod", "namespace": "data"}}})
	if w["name"] != "data" || len(w["targets"].([]any)) != 2 {
		t.Fatalf("retargeted: %v", w)
	}
	if w = tn.must(200, "PATCH", "/workspaces/"+id, map[string]any{}); w["name"] != "data" {
		t.Fatalf("empty patch: %v", w)
	}
	tn.must(201, "POST", "/bindings", map[string]any{"role": "viewer", "workspace": id, "user": "break-glass-owner"})
	if l := tn.must(200, "GET", "/workspaces", nil); l["total"] != float64(1) {
		t.Fatalf("list %v", l)
	}
	tn.must(204, "DELETE", "/workspaces/data", nil)
	problem(t, tn.do("GET", "/workspaces/"+id, nil), 404, "not-found")
	if l := tn.must(200, "GET", "/bindings", nil); l["total"] != float64(1) {
		t.Fatalf("the workspace's binding outlived it: %v", l)
	}
}

// Bindings and mappings: mappings are the group bindings; filters by user
// and workspace; a binding is found and deleted through either collection
// that holds it.
func TestBindingsAndMappings(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.workspace("a")
	tn.workspace("b")
	alice := tn.scimUser("alice@acme.test")
	direct := tn.must(201, "POST", "/bindings", map[string]any{"role": "editor", "workspace": "a", "user": "alice@acme.test"})
	byBindings := tn.must(201, "POST", "/bindings", map[string]any{"role": "viewer", "workspace": "b",
		"group": map[string]any{"match": "externalId", "value": "ext-eng"}})
	mapping := tn.must(201, "POST", "/mappings", map[string]any{"role": "runner", "workspace": "a", "group": map[string]any{"value": "Eng"}})
	if g := mapping["group"].(map[string]any); g["match"] != "displayName" || g["value"] != "Eng" || mapping["user"] != nil {
		t.Fatalf("mapping %v", mapping)
	}
	problem(t, tn.do("POST", "/mappings", map[string]any{"role": "runner", "workspace": "a", "group": map[string]any{"value": "Eng"}}), 409, "conflict")
	problem(t, tn.do("POST", "/mappings", map[string]any{"role": "runner", "workspace": "a", "user": alice.ID}), 400, "invalid")
	problem(t, tn.do("POST", "/bindings", map[string]any{"role": "runner", "workspace": "a"}), 400, "invalid")
	problem(t, tn.do("POST", "/bindings", map[string]any{"role": "runner", "workspace": "a", "user": alice.ID, "group": map[string]any{"value": "x"}}), 400, "invalid")
	problem(t, tn.do("POST", "/bindings", map[string]any{"role": "runner", "workspace": "nope", "user": alice.ID}), 404, "not-found")
	problem(t, tn.do("POST", "/bindings", map[string]any{"role": "runner", "workspace": "a", "group": map[string]any{"match": "name", "value": "x"}}), 400, "invalid")

	cases := []struct {
		path string
		want []string
	}{
		{"/bindings?user=alice@acme.test", []string{direct["id"].(string)}},
		{"/bindings?workspace=a", []string{direct["id"].(string), mapping["id"].(string)}},
		{"/mappings", []string{byBindings["id"].(string), mapping["id"].(string)}},
		{"/mappings?workspace=b", []string{byBindings["id"].(string)}},
		{"/bindings?limit=1&offset=1", []string{direct["id"].(string)}}, // the owner's org-admin binding comes first
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			if got := names(t, tn.in(t).must(200, "GET", c.path, nil), "id"); !slices.Equal(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	problem(t, tn.do("GET", "/bindings?user=nobody", nil), 404, "not-found")

	// A user binding is not a mapping; a mapping is a binding.
	problem(t, tn.do("DELETE", "/mappings/"+direct["id"].(string), nil), 404, "not-found")
	tn.must(204, "DELETE", "/bindings/"+mapping["id"].(string), nil)
	tn.must(204, "DELETE", "/mappings/"+byBindings["id"].(string), nil)
	if l := tn.must(200, "GET", "/mappings", nil); l["total"] != float64(0) || len(l["items"].([]any)) != 0 {
		t.Fatalf("mappings left: %v", l)
	}
}

// Token secrets are answered once; lists never hold secrets or digests.
func TestTokensShowTheirSecretOnce(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ctx := context.Background()
	robot := tn.user("robot", directory.SourceService)

	scim := tn.must(201, "POST", "/scim-tokens", map[string]any{"name": "okta", "expiresIn": "90d"})
	secret := str(scim["token"])
	if !strings.HasPrefix(secret, directory.SCIMTokenPrefix) || scim["expiresAt"] == nil || scim["status"] != "active" {
		t.Fatalf("created SCIM token %v", scim)
	}
	if _, _, err := tn.db.AuthenticateSCIM(ctx, "acme", secret); err != nil {
		t.Fatalf("the SCIM secret does not authenticate: %v", err)
	}
	problem(t, tn.do("POST", "/scim-tokens", map[string]any{"name": "okta"}), 409, "conflict")

	api := tn.must(201, "POST", "/api-tokens", map[string]any{"name": "ci", "owner": "robot", "expiresIn": "12h"})
	apiSecret := str(api["token"])
	if !strings.HasPrefix(apiSecret, directory.APITokenPrefix) || api["owner"].(map[string]any)["userName"] != "robot" {
		t.Fatalf("created API token %v", api)
	}
	// The robot is no admin, but may ask about itself.
	if r := tn.send(apiSecret, "POST", tn.url("/authorize"), map[string]any{"user": "robot", "action": "org.manage"}); r.status != 200 {
		t.Fatalf("the robot's token: %d %s", r.status, r.body)
	}
	ann, annUser := tn.admin("ann@acme.test")
	mine := ann.must(201, "POST", "/api-tokens", map[string]any{"name": "mine"})
	if mine["owner"].(map[string]any)["id"] != annUser.ID {
		t.Fatalf("a token without owner is the caller's: %v", mine)
	}
	problem(t, tn.do("POST", "/api-tokens", map[string]any{"name": "x", "owner": "nobody"}), 404, "not-found")
	problem(t, tn.do("POST", "/scim-tokens", map[string]any{"name": "x", "owner": "robot"}), 400, "invalid")

	for _, path := range []string{"/scim-tokens", "/api-tokens"} {
		r := tn.do("GET", path, nil)
		if r.status != 200 || strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), apiSecret) ||
			strings.Contains(string(r.body), `"token"`) || strings.Contains(strings.ToLower(string(r.body)), "hash") {
			t.Fatalf("%s leaks a secret: %s", path, r.body)
		}
	}

	tn.must(204, "DELETE", "/scim-tokens/okta", nil)
	if _, _, err := tn.db.AuthenticateSCIM(ctx, "acme", secret); err == nil {
		t.Fatal("a revoked SCIM token authenticates")
	}
	problem(t, tn.do("DELETE", "/scim-tokens/okta", nil), 404, "not-found")
	tn.must(204, "DELETE", "/api-tokens/"+api["id"].(string), nil)
	problem(t, tn.send(apiSecret, "GET", tn.url("/users/"+robot.ID+"/permissions"), nil), 401, "unauthorized")
	tn.must(204, "DELETE", "/api-tokens/mine", nil)

	toks := tn.must(200, "GET", "/api-tokens", nil)
	st := map[string]string{}
	for _, it := range toks["items"].([]any) {
		m := it.(map[string]any)
		st[str(m["name"])] = str(m["status"])
	}
	if st["ci"] != "revoked" || st["mine"] != "revoked" || st["t"] != "active" {
		t.Fatalf("token statuses %v", st)
	}
}

// Every write is audited with the token and its owner as the actor;
// the audit log filters by actor, action, resource and time.
func TestWritesAreAuditedWithTheCaller(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	const actor = "api-token:t (break-glass-owner)"
	w := tn.must(201, "POST", "/workspaces", map[string]any{"name": "w"})
	b := tn.must(201, "POST", "/bindings", map[string]any{"role": "viewer", "workspace": "w", "user": "break-glass-owner"})
	tn.must(204, "DELETE", "/bindings/"+b["id"].(string), nil)
	tn.must(201, "POST", "/scim-tokens", map[string]any{"name": "okta"})
	tn.must(204, "DELETE", "/scim-tokens/okta", nil)
	tn.user("robot", directory.SourceService)
	tok := tn.must(201, "POST", "/api-tokens", map[string]any{"name": "ci", "owner": "robot"})
	tn.must(204, "DELETE", "/api-tokens/ci", nil)
	tn.must(200, "PATCH", "/workspaces/w", map[string]any{"name": "w2"})
	tn.must(204, "DELETE", "/workspaces/w2", nil)

	l := tn.must(200, "GET", "/audit?actor="+strings.ReplaceAll(actor, " ", "%20"), nil)
	got := names(t, l, "action")
	want := []string{"workspace.delete", "workspace.update", "apitoken.revoke", "apitoken.create", "scimtoken.revoke", "scimtoken.create",
		"binding.delete", "binding.create", "workspace.create"}
	if !slices.Equal(got, want) {
		t.Fatalf("audited actions %q, want %q", got, want)
	}
	cases := []struct {
		query string
		want  int
	}{
		{"?resourceType=Workspace&resourceId=" + w["id"].(string), 3},
		{"?resourceType=APIToken&resourceId=" + tok["id"].(string), 2},
		{"?action=org.create", 1},
		{"?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z", 0},
		{fmt.Sprintf("?actor=%s&limit=2&offset=1", strings.ReplaceAll(actor, " ", "%20")), 2},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			l := tn.in(t).must(200, "GET", "/audit"+c.query, nil)
			if n := len(l["items"].([]any)); n != c.want {
				t.Fatalf("%d events, want %d: %v", n, c.want, l)
			}
		})
	}
}

// Every route is named by its pattern in the metrics.
func TestRoutesAreNamedInMetrics(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.must(200, "GET", "/users", nil)
	tn.do("GET", "/workspaces/nope", nil)
	tn.send("", "GET", "/api/v1/openapi.json", nil)
	m := string(tn.send("", "GET", "/metrics", nil).body)
	for _, want := range []string{
		`{code="200",method="GET",route="GET /api/v1/orgs/{org}/users"}`,
		`{code="404",method="GET",route="GET /api/v1/orgs/{org}/workspaces/{id}"}`,
		`{code="200",method="GET",route="GET /api/v1/openapi.json"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A mapping for a group nobody has named yet is made (the IdP may push it
// later) with a warning, so that a typo does not silently grant nothing;
// a duplicate binding is explained in the admin's terms.
func TestMappingsWarnOfUnknownGroupsAndExplainDuplicates(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.workspace("ws-data")
	ann := tn.scimUser("ann@acme.test")
	eng := tn.group("Data-Eng", ann)
	jit := tn.user("jo@acme.test", directory.SourceJIT)
	if _, err := tn.db.Pool.Exec(context.Background(), `INSERT INTO login_groups (org_id, user_id, value) VALUES ($1, $2, 'okta-admins')`, tn.id, jit.ID); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		match   string
		value   string
		role    string
		warning string // "" when the group is known
	}{
		{"a SCIM group by displayName", "displayName", "Data-Eng", "editor", ""},
		{"a SCIM group by id", "id", eng.ID, "viewer", ""},
		{"a group only a sign-in named", "displayName", "okta-admins", "runner", ""},
		{"a typo of a pushed group", "displayName", "Data-Engg", "editor", `no group with displayName "Data-Engg" has been pushed by the IdP or named in a sign-in yet`},
		{"names match exactly", "displayName", "data-eng", "runner", `no group with displayName "data-eng"`},
		{"an unknown externalId", "externalId", "00g-nope", "editor", `no group with externalId "00g-nope"`},
	}
	for _, c := range cases {
		m := tn.must(201, "POST", "/mappings", map[string]any{"role": c.role, "workspace": "ws-data", "group": map[string]any{"match": c.match, "value": c.value}})
		got, _ := m["warning"].(string)
		if (c.warning == "") != (got == "") || !strings.Contains(got, c.warning) {
			t.Errorf("%s: warning %q, want %q", c.name, got, c.warning)
		}
	}
	p := problem(t, tn.do("POST", "/mappings", map[string]any{"role": "editor", "workspace": "ws-data", "group": map[string]any{"value": "Data-Eng"}}), 409, "conflict")
	if d := str(p["detail"]); d != `the group with displayName "Data-Eng" is already mapped to editor on workspace ws-data` {
		t.Errorf("duplicate mapping: %q", d)
	}
	tn.must(201, "POST", "/bindings", map[string]any{"role": "org-admin", "user": ann.ID})
	p = problem(t, tn.do("POST", "/bindings", map[string]any{"role": "org-admin", "user": "ann@acme.test"}), 409, "conflict")
	if d := str(p["detail"]); d != "ann@acme.test already has org-admin on the organization" {
		t.Errorf("duplicate grant: %q", d)
	}
}
