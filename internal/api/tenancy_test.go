package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// snapshot is everything of an organization that an admin route can read
// or change, as JSON.
func snapshot(t *testing.T, tn *tenant) string {
	t.Helper()
	ctx := context.Background()
	var parts []any
	add := func(v any, err error) {
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, v)
	}
	users, _, err := tn.db.Members(ctx, tn.id, postgres.MemberQuery{Limit: 500})
	add(users, err)
	add(tn.db.Workspaces(ctx, tn.id))
	add(tn.db.Bindings(ctx, tn.id, postgres.BindingFilter{}))
	add(tn.db.SCIMTokens(ctx, tn.id))
	add(tn.db.APITokens(ctx, tn.id))
	add(tn.db.AuditEvents(ctx, tn.id, "", ""))
	add(tn.db.Invitations(ctx, tn.id, false))
	ids, _, err := tn.db.GitIdentities(ctx, tn.id, postgres.GitIdentityQuery{Limit: 500})
	add(ids, err)
	add(tn.db.ServiceAccounts(ctx, tn.id))
	add(tn.db.Subscriptions(ctx, tn.id))
	b, err := json.Marshal(parts)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A token of organization A gets 404 for every route of organization B,
// the same answer as for an organization that does not exist, and
// nothing of B changes.
func TestTenantIsolationOfEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.tenant("org-a")
	b := e.tenant("org-b")

	// B's resources, which A's requests name.
	bUser := b.user("jit@b.test", "jit")
	bSCIM := b.scimUser("scim@b.test")
	b.group("B-Group", bSCIM)
	ws := b.workspace("b-ws", "b-cluster", "b-ns")
	binding := b.must(201, "POST", "/bindings", map[string]any{"role": "viewer", "workspace": ws.ID, "user": bUser.ID})["id"].(string)
	mapping := b.must(201, "POST", "/mappings", map[string]any{"role": "editor", "workspace": ws.ID, "group": map[string]any{"value": "B-Group"}})["id"].(string)
	b.must(201, "POST", "/scim-tokens", map[string]any{"name": "b-idp"})
	invitation := b.must(201, "POST", "/invitations", map[string]any{"email": "new@b.test"})["id"].(string)
	observation := map[string]any{"provider": "github", "repo": "b/repo", "sha": strings.Repeat("b", 40), "email": "dev@b.test", "login": "b-dev"}
	b.must(200, "POST", "/git/observations", map[string]any{"observations": []any{observation}})
	identity := b.must(200, "GET", "/git/identities", nil)["items"].([]any)[0].(map[string]any)["id"].(string)
	b.must(200, "PUT", "/git/identities/"+identity+"/mapping", map[string]any{"user": bUser.ID})
	b.must(201, "POST", "/service-accounts", map[string]any{"name": "b-robot"})
	apiToken := b.must(201, "POST", "/api-tokens", map[string]any{"name": "b-ci", "owner": "b-robot"})["id"].(string)
	b.must(200, "PUT", "/idp", map[string]any{"issuer": provider(t).Issuer(), "clientId": "b-client"})
	subscription := b.must(201, "POST", "/subscriptions", map[string]any{"url": "https://b.example/hook"})["id"].(string)
	// A has resources of the same names, so that a leak would find them.
	a.workspace("b-ws", "b-cluster", "b-ns")
	a.must(201, "POST", "/service-accounts", map[string]any{"name": "b-robot"})
	a.must(200, "POST", "/git/observations", map[string]any{"observations": []any{observation}})
	aIdentity := a.must(200, "GET", "/git/identities", nil)["items"].([]any)[0].(map[string]any)["id"].(string)
	a.must(200, "PUT", "/git/identities/"+aIdentity+"/mapping", map[string]any{"user": a.ownerID})

	// The id of B's resource for each collection with an {id} or {name}.
	ids := map[string]string{
		"users": bUser.ID, "workspaces": ws.ID, "bindings": binding, "mappings": mapping,
		"scim-tokens": "b-idp", "api-tokens": apiToken,
		"invitations": invitation, "identities": identity, "service-accounts": "b-robot",
		"subscriptions": subscription, "deliveries": "1",
	}
	bodies := map[string]any{
		"POST /api/v1/orgs/{org}/authorize":        map[string]any{"user": bUser.ID, "action": "pipes.view", "workspace": ws.ID},
		"POST /api/v1/orgs/{org}/workspaces":       map[string]any{"name": "new", "targets": []any{map[string]any{"cluster": "c", "namespace": "n"}}},
		"PATCH /api/v1/orgs/{org}/workspaces/{id}": map[string]any{"name": "renamed"},
		"POST /api/v1/orgs/{org}/bindings":         map[string]any{"role": "org-admin", "user": bUser.ID},
		"POST /api/v1/orgs/{org}/mappings":         map[string]any{"role": "org-admin", "group": map[string]any{"value": "B-Group"}},
		"POST /api/v1/orgs/{org}/scim-tokens":      map[string]any{"name": "stolen"},
		"POST /api/v1/orgs/{org}/api-tokens":       map[string]any{"name": "stolen", "owner": bUser.ID},

		"POST /api/v1/orgs/{org}/invitations":                     map[string]any{"email": "stolen@b.test", "bindings": []any{map[string]any{"role": "org-admin"}}},
		"POST /api/v1/orgs/{org}/invitations/{id}/resend":         nil,
		"POST /api/v1/orgs/{org}/git/observations":                map[string]any{"observations": []any{observation}},
		"PUT /api/v1/orgs/{org}/git/identities/{id}/mapping":      map[string]any{"user": bUser.ID},
		"POST /api/v1/orgs/{org}/service-accounts":                map[string]any{"name": "stolen"},
		"POST /api/v1/orgs/{org}/service-accounts/{name}/disable": nil,
		"POST /api/v1/orgs/{org}/service-accounts/{name}/enable":  nil,
		"PUT /api/v1/orgs/{org}/idp":                              map[string]any{"issuer": "https://evil.example", "clientId": "stolen"},

		"POST /api/v1/orgs/{org}/subscriptions":                                      map[string]any{"url": "https://evil.example/hook"},
		"PATCH /api/v1/orgs/{org}/subscriptions/{id}":                                map[string]any{"url": "https://evil.example/hook"},
		"POST /api/v1/orgs/{org}/subscriptions/{id}/rotate":                          nil,
		"POST /api/v1/orgs/{org}/subscriptions/{id}/deliveries/{delivery}/redeliver": nil,
	}
	queries := map[string]string{
		"GET /api/v1/orgs/{org}/users":    "?search=b.test",
		"GET /api/v1/orgs/{org}/bindings": "?user=" + bUser.ID,
		"GET /api/v1/orgs/{org}/audit":    "?resourceId=" + bUser.ID,

		"GET /api/v1/orgs/{org}/git/identities": "?recent=all&user=" + bUser.ID,
		"GET /api/v1/orgs/{org}/git/resolve":    "?email=dev@b.test&login=b-dev",
		"GET /api/v1/orgs/{org}/invitations":    "?pending=true",
	}

	before := snapshot(t, b)
	tested := 0
	var gets []string
	operatorRoutes := 0
	for _, rt := range api.Routes() {
		if rt.Operator {
			operatorRoutes++ // they name no organization's resources: operator_test.go
			continue
		}
		if rt.Public {
			continue
		}
		key := rt.Method + " " + rt.Pattern
		segs := strings.Split(rt.Pattern, "/")
		for i, seg := range segs {
			if seg == "{id}" || seg == "{name}" || seg == "{delivery}" {
				segs[i] = ids[segs[i-1]]
			}
		}
		path := strings.Join(segs, "/")
		if strings.Contains(strings.TrimPrefix(path, "/api/v1/orgs/{org}"), "{") {
			t.Fatalf("%s: no id of B for this route; add one to the table", key)
		}
		body, hasBody := bodies[key]
		if (rt.Method == "POST" || rt.Method == "PATCH" || rt.Method == "PUT") && !hasBody {
			t.Fatalf("%s: no body for this route; add one to the table", key)
		}
		path += queries[key]
		t.Run(key, func(t *testing.T) {
			onB := a.in(t).send(a.token, rt.Method, strings.Replace(path, "{org}", "org-b", 1), body)
			p := problem(t, onB, 404, "not-found")
			onNone := a.in(t).send(a.token, rt.Method, strings.Replace(path, "{org}", "no-such-org", 1), body)
			if q := problem(t, onNone, 404, "not-found"); q["detail"] != p["detail"] {
				t.Fatalf("B's 404 differs from a missing organization's: %v vs %v", p, q)
			}
		})
		tested++
		if rt.Method == "GET" {
			gets = append(gets, strings.Replace(path, "{org}", "org-b", 1))
		}
	}
	if want := len(api.Routes()) - 1 - operatorRoutes; tested != want {
		t.Fatalf("tested %d routes, want %d", tested, want)
	}
	if after := snapshot(t, b); after != before {
		t.Fatalf("organization B changed:\nbefore %s\nafter  %s", before, after)
	}
	// The paths named B's resources: B's own token finds each of them.
	for _, p := range gets {
		if r := b.send(b.token, "GET", p, nil); r.status != 200 {
			t.Errorf("GET %s with B's token: %d %s", p, r.status, r.body)
		}
	}
}
