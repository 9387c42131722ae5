package api_test

import (
	"context"
	"net/http"
	"reflect"
	"testing"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// authorize checks a bearer token and looks up what it is asked in one
// round trip; a caller with another credential (a session) takes the
// general path. Both answer alike, problems included.
func TestAuthorizeAnswersAlikeByTokenAndSession(t *testing.T) {
	t.Parallel()
	var sess sessions
	tn := newEnv(t, withConfig(func(c *api.Config) {
		c.Authenticators = []api.Authenticator{&sess}
		c.CSRF = func(r *http.Request) error {
			if r.Header.Get("X-CSRF-Token") != "right" {
				return directory.Invalidf("bad CSRF token")
			}
			return nil
		}
	})).tenant("acme")
	ctx := context.Background()
	tn.workspace("data-eng", "prod", "data")
	viewer := tn.scimUser("viewer@acme.test")
	tn.group("Data", viewer)
	tn.must(201, "POST", "/mappings", map[string]any{"role": "viewer", "workspace": "data-eng", "group": map[string]any{"value": "Data"}})
	other := tn.scimUser("other@acme.test")
	tn.user("a@acme.test", directory.SourceJIT)
	for _, name := range []string{"b@acme.test", "c@acme.test"} { // a@ is also their email; x@ is only theirs
		if _, err := tn.db.CreateUser(ctx, seed, directory.User{OrgID: tn.id, Source: directory.SourceJIT, Attributes: map[string]any{
			"userName": name, "emails": []any{map[string]any{"value": "a@acme.test"}, map[string]any{"value": "x@acme.test"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	org, err := tn.db.Organization(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}

	direct := tn.scimUser("direct@acme.test")
	tn.must(201, "POST", "/bindings", map[string]any{"role": "editor", "workspace": "data-eng", "user": direct.ID})
	ws := map[string]any{"id": tn.must(200, "GET", "/workspaces/data-eng", nil)["id"], "name": "data-eng"}

	// decision is the body of a 200: the verdict, the role that decided
	// it, the reason with the grant's provenance, who and where.
	type decision struct {
		allowed   bool
		role      string
		reason    string
		user      string // userName
		workspace map[string]any
	}
	// answer is what each caller gets: the owner (an org admin) may ask
	// about anyone, the viewer about themself only (403 otherwise).
	type answer struct {
		status int
		typ    string // the problem's type, unless 200
		d      decision
	}
	forbidden := answer{status: 403, typ: "forbidden"}
	cases := []struct {
		body          map[string]any
		owner, viewer answer
	}{
		{body: map[string]any{"user": "viewer@acme.test", "action": "pipes.view", "workspace": "data-eng"},
			owner: answer{status: 200, d: decision{true, "viewer", `viewer via group "Data"`, "viewer@acme.test", ws}}},
		{body: map[string]any{"user": viewer.ID, "action": "pipes.run", "cluster": "prod", "namespace": "data"},
			owner: answer{status: 200, d: decision{false, "viewer", `viewer (via group "Data") is below runner, which pipes.run needs`, "viewer@acme.test", ws}}},
		{body: map[string]any{"user": "VIEWER@acme.test", "action": "pipes.view", "cluster": "prod", "namespace": "nope"},
			owner: answer{status: 200, d: decision{false, "none", `no workspace of this organization holds cluster "prod" namespace "nope"`, "viewer@acme.test", nil}}},
		{body: map[string]any{"user": "viewer@acme.test", "action": "org.manage"},
			owner: answer{status: 200, d: decision{false, "none", "org.manage needs org-admin", "viewer@acme.test", nil}}},
		{body: map[string]any{"user": "direct@acme.test", "action": "pipes.edit", "workspace": "data-eng"},
			owner: answer{status: 200, d: decision{true, "editor", "editor directly", "direct@acme.test", ws}}, viewer: forbidden},
		{body: map[string]any{"user": "direct@acme.test", "action": "workspace.manage", "workspace": ws["id"]},
			owner: answer{status: 200, d: decision{false, "editor", "editor (directly) is below workspace-admin, which workspace.manage needs", "direct@acme.test", ws}}, viewer: forbidden},
		{body: map[string]any{"user": postgres.BreakGlassUserName, "action": "org.manage"},
			owner: answer{status: 200, d: decision{true, "org-admin", "org-admin directly", postgres.BreakGlassUserName, nil}}, viewer: forbidden},
		{body: map[string]any{"user": "other@acme.test", "action": "pipes.view", "workspace": "nope"},
			owner: answer{status: 200, d: decision{false, "none", `no workspace "nope" in this organization`, "other@acme.test", nil}}, viewer: forbidden},
		{body: map[string]any{"user": "a@acme.test", "action": "pipes.view", "workspace": "data-eng"},
			owner: answer{status: 200, d: decision{false, "none", "no role on this workspace; pipes.view needs viewer", "a@acme.test", ws}}, viewer: forbidden},
		{body: map[string]any{"user": "x@acme.test", "action": "pipes.view", "workspace": "data-eng"},
			owner: answer{status: 409, typ: "conflict"}, viewer: forbidden},
		{body: map[string]any{"user": "nobody@acme.test", "action": "pipes.view", "workspace": "data-eng"},
			owner: answer{status: 404, typ: "not-found"}, viewer: forbidden},
		{body: map[string]any{"user": other.ID, "action": "pipes.fly", "workspace": "data-eng"},
			owner: answer{status: 400, typ: "invalid"}, viewer: answer{status: 400, typ: "invalid"}},
	}
	for _, as := range []string{postgres.BreakGlassUserName, "viewer@acme.test"} {
		caller, err := tn.db.FindMember(ctx, tn.id, as)
		if err != nil {
			t.Fatal(err)
		}
		token := tn.tokenFor(caller, "for "+caller.UserName)
		for _, c := range cases {
			want := c.owner
			if as != postgres.BreakGlassUserName && c.viewer.status != 0 {
				want = c.viewer
			}
			byToken := tn.send(token, "POST", tn.url("/authorize"), c.body)
			sess.p = api.Principal{Org: org, User: caller, Actor: directory.Actor{Kind: "user", Name: caller.UserName}, Ambient: true}
			bySession := tn.send("", "POST", tn.url("/authorize"), c.body, "Cookie", "session=good", "X-CSRF-Token", "right")
			if byToken.status != bySession.status || string(byToken.body) != string(bySession.body) {
				t.Fatalf("%s asks %v: by token %d %s, by session %d %s", as, c.body, byToken.status, byToken.body, bySession.status, bySession.body)
			}
			if want.status != 200 {
				problem(t, byToken, want.status, want.typ)
				continue
			}
			if byToken.status != 200 {
				t.Fatalf("%s asks %v: %d %s", as, c.body, byToken.status, byToken.body)
			}
			got := byToken.object(t)
			u, _ := got["user"].(map[string]any)
			w, _ := got["workspace"].(map[string]any)
			if got["allowed"] != want.d.allowed || got["role"] != want.d.role || got["reason"] != want.d.reason ||
				u["userName"] != want.d.user || u["status"] != "active" || !reflect.DeepEqual(w, want.d.workspace) {
				t.Errorf("%s asks %v:\n got %s\nwant allowed=%v role=%s reason=%q user=%s workspace=%v",
					as, c.body, byToken.body, want.d.allowed, want.d.role, want.d.reason, want.d.user, want.d.workspace)
			}
		}
	}
	// A session's POST still needs its CSRF token.
	problem(t, tn.send("", "POST", tn.url("/authorize"), cases[0].body, "Cookie", "session=good"), 403, "forbidden")
}

// authorize reads its request before admitting the caller, but admission
// still answers first: a bad request is answered 400 only to a caller who
// may send it.
func TestAuthorizeAdmitsBeforeItAnswersTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.tenant("acme")
	them := e.tenant("other")
	bad := []any{"not json", map[string]any{"user": "x", "action": "pipes.run"}, map[string]any{"user": "x", "action": "pipes.run", "extra": 1}}
	for _, body := range bad {
		for _, c := range []struct {
			name   string
			token  string
			org    string
			status int
			typ    string
		}{
			{"no token", "", "acme", 401, "unauthorized"},
			{"an unknown token", directory.NewSecret(directory.APITokenPrefix), "acme", 401, "unauthorized"},
			{"a malformed token", "nonsense", "acme", 401, "unauthorized"},
			{"another tenant's token", them.token, "acme", 404, "not-found"},
			{"a token of the organization", tn.token, "acme", 400, "invalid"},
			{"an organization that does not exist", tn.token, "nope", 404, "not-found"},
		} {
			t.Run(c.name, func(t *testing.T) {
				problem(t, tn.in(t).send(c.token, "POST", "/api/v1/orgs/"+c.org+"/authorize", body), c.status, c.typ)
			})
		}
	}
	good := map[string]any{"user": "break-glass-owner", "action": "org.manage"}
	problem(t, tn.send(them.token, "POST", tn.url("/authorize"), good), 404, "not-found")
	if r := tn.send(tn.token, "POST", tn.url("/authorize"), good); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
