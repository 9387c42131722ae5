package api_test

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// A service account is created with its owner, gets an API token through
// /api-tokens, and is disabled (its token answers 401), enabled (it
// works again) and deleted (revoked for good, still listed as removed).
// Its Git identity resolves marked while it is disabled.
func TestServiceAccountLifecycle(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	alice := tn.scimUser("alice@acme.test")

	r := tn.do("POST", "/service-accounts", map[string]any{"name": "ci-bot", "description": "Builds pipes", "owner": "alice@acme.test"})
	if r.status != 201 || r.header.Get("Location") != tn.url("/service-accounts/ci-bot") {
		t.Fatalf("create: %d %q %s", r.status, r.header.Get("Location"), r.body)
	}
	sa := r.object(t)
	if sa["name"] != "ci-bot" || sa["description"] != "Builds pipes" || sa["status"] != "active" ||
		sa["owner"].(map[string]any)["id"] != alice.ID || sa["owner"].(map[string]any)["userName"] != "alice@acme.test" {
		t.Fatalf("created %v", sa)
	}
	tn.must(201, "POST", "/service-accounts", map[string]any{"name": "deployer"})
	if u := tn.must(200, "GET", "/users/"+str(sa["id"]), nil); u["kind"] != "service" || u["source"] != "service" {
		t.Fatalf("the account as a user: %v", u)
	}

	tok := tn.must(201, "POST", "/api-tokens", map[string]any{"name": "ci", "owner": "ci-bot"})
	secret := str(tok["token"])
	self := tn.url("/users/" + str(sa["id"]) + "/permissions") // open to the account about itself
	tn.observe(map[string]any{"provider": "github", "repo": "acme/pipes", "sha": sha(1), "email": "ci@acme.test", "login": "acme-ci",
		"time": time.Now().UTC().Format(time.RFC3339)})
	tn.mapIdentity(tn.identityID("github", "ci@acme.test", "acme-ci"), "ci-bot")

	steps := []struct {
		name, method, path string
		status             int
		accountStatus      string // after the step
		tokenWorks         bool
	}{
		{"created", "", "", 0, "active", true},
		{"disable", "POST", "/service-accounts/ci-bot/disable", 200, "deactivated", false},
		{"disable again", "POST", "/service-accounts/CI-BOT/disable", 200, "deactivated", false},
		{"enable", "POST", "/service-accounts/ci-bot/enable", 200, "active", true},
		{"disable by id", "POST", "/service-accounts/" + str(sa["id"]) + "/disable", 200, "deactivated", false},
		{"enable by id", "POST", "/service-accounts/" + str(sa["id"]) + "/enable", 200, "active", true},
		{"delete", "DELETE", "/service-accounts/ci-bot", 204, "removed", false},
		{"enable once deleted", "POST", "/service-accounts/ci-bot/enable", 409, "removed", false},
	}
	for _, s := range steps {
		if s.method != "" {
			r := tn.do(s.method, s.path, nil)
			if r.status != s.status {
				t.Fatalf("%s: %d, want %d: %s", s.name, r.status, s.status, r.body)
			}
			if s.status == 200 && r.object(t)["status"] != s.accountStatus {
				t.Fatalf("%s: %s", s.name, r.body)
			}
		}
		l := tn.must(200, "GET", "/service-accounts?status="+s.accountStatus, nil)
		if !slices.Contains(names(t, l, "name"), "ci-bot") {
			t.Fatalf("%s: ci-bot is not listed as %s: %v", s.name, s.accountStatus, l)
		}
		r := tn.send(secret, "GET", self, nil)
		if s.tokenWorks && r.status != 200 {
			t.Fatalf("%s: the token is refused: %d %s", s.name, r.status, r.body)
		}
		if !s.tokenWorks {
			problem(t, r, 401, "unauthorized")
		}
		res := tn.do("GET", "/git/resolve?login=acme-ci", nil)
		switch s.accountStatus {
		case "removed": // its identities were released
			problem(t, res, 404, "not-found")
		default:
			if u := res.object(t)["user"].(map[string]any); res.status != 200 || u["userName"] != "ci-bot" || u["kind"] != "service" || u["status"] != s.accountStatus {
				t.Fatalf("%s: resolve %d %s", s.name, res.status, res.body)
			}
		}
	}
	if l := tn.must(200, "GET", "/service-accounts", nil); !slices.Equal(names(t, l, "name"), []string{"ci-bot", "deployer"}) ||
		!slices.Equal(names(t, l, "status"), []string{"removed", "active"}) {
		t.Fatalf("list %v", l)
	}
	for _, tk := range tn.must(200, "GET", "/api-tokens", nil)["items"].([]any) {
		if tk := tk.(map[string]any); tk["name"] == "ci" && tk["status"] != "revoked" {
			t.Fatalf("the deleted account's token %v", tk)
		}
	}
	audit := names(t, tn.must(200, "GET", "/audit?resourceType=ServiceAccount&resourceId="+str(sa["id"]), nil), "action")
	if want := []string{"sa.enable", "sa.disable", "sa.enable", "sa.disable", "sa.disable"}; !slices.Equal(audit, want) {
		t.Fatalf("audited %q, want %q", audit, want)
	}
}

// Bad service accounts are refused and nothing is created.
func TestServiceAccountRequestsAreValidated(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.scimUser("alice@acme.test")
	tn.must(201, "POST", "/service-accounts", map[string]any{"name": "robot"})
	cases := []struct {
		name, method, path string
		body               any
		status             int
		typ, detail        string
	}{
		{"no name", "POST", "/service-accounts", map[string]any{}, 400, "invalid", "service account name"},
		{"a name with a space", "POST", "/service-accounts", map[string]any{"name": "ci bot"}, 400, "invalid", "no spaces"},
		{"a name with @", "POST", "/service-accounts", map[string]any{"name": "ci@acme"}, 400, "invalid", "no spaces or @"},
		{"a taken name", "POST", "/service-accounts", map[string]any{"name": "ROBOT"}, 409, "conflict", "taken"},
		{"a user's name", "POST", "/service-accounts", map[string]any{"name": "alice@acme.test"}, 400, "invalid", "@"},
		{"an unknown owner", "POST", "/service-accounts", map[string]any{"name": "x", "owner": "nobody"}, 404, "not-found", "nobody"},
		{"a service account as owner", "POST", "/service-accounts", map[string]any{"name": "x", "owner": "robot"}, 400, "invalid", "not a current person"},
		{"an unknown field", "POST", "/service-accounts", map[string]any{"name": "x", "roles": []any{}}, 400, "invalid", `unknown field "roles"`},
		{"an unknown account", "POST", "/service-accounts/nope/disable", nil, 404, "not-found", "nope"},
		{"a person is no service account", "POST", "/service-accounts/alice@acme.test/disable", nil, 404, "not-found", "service account"},
		{"delete a person", "DELETE", "/service-accounts/alice@acme.test", nil, 404, "not-found", "service account"},
		{"a bad status filter", "GET", "/service-accounts?status=disabled", nil, 400, "invalid", "status"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := problem(t, tn.in(t).do(c.method, c.path, c.body), c.status, c.typ)
			if !strings.Contains(str(p["detail"]), c.detail) {
				t.Fatalf("detail %q does not contain %q", p["detail"], c.detail)
			}
		})
	}
	if l := tn.must(200, "GET", "/service-accounts", nil); !slices.Equal(names(t, l, "name"), []string{"robot"}) {
		t.Fatalf("accounts %v", l)
	}
	if u := tn.must(200, "GET", "/users?search=alice", nil); u["items"].([]any)[0].(map[string]any)["status"] != "active" {
		t.Fatalf("alice %v", u)
	}
}
