package api_test

import (
	"context"
	"net/http"
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

	bodies := []map[string]any{
		{"user": "viewer@acme.test", "action": "pipes.view", "workspace": "data-eng"},
		{"user": viewer.ID, "action": "pipes.run", "cluster": "prod", "namespace": "data"},
		{"user": "VIEWER@acme.test", "action": "pipes.view", "cluster": "prod", "namespace": "nope"},
		{"user": "viewer@acme.test", "action": "org.manage"},
		{"user": "other@acme.test", "action": "pipes.view", "workspace": "nope"},
		{"user": "a@acme.test", "action": "pipes.view", "workspace": "data-eng"},
		{"user": "x@acme.test", "action": "pipes.view", "workspace": "data-eng"},
		{"user": "nobody@acme.test", "action": "pipes.view", "workspace": "data-eng"},
		{"user": other.ID, "action": "pipes.fly", "workspace": "data-eng"},
	}
	for _, as := range []string{postgres.BreakGlassUserName, "viewer@acme.test"} {
		caller, err := tn.db.FindMember(ctx, tn.id, as)
		if err != nil {
			t.Fatal(err)
		}
		token := tn.tokenFor(caller, "for "+caller.UserName)
		for _, body := range bodies {
			byToken := tn.send(token, "POST", tn.url("/authorize"), body)
			sess.p = api.Principal{Org: org, User: caller, Actor: directory.Actor{Kind: "user", Name: caller.UserName}, Ambient: true}
			bySession := tn.send("", "POST", tn.url("/authorize"), body, "Cookie", "session=good", "X-CSRF-Token", "right")
			if byToken.status != bySession.status || string(byToken.body) != string(bySession.body) {
				t.Fatalf("%s asks %v: by token %d %s, by session %d %s", as, body, byToken.status, byToken.body, bySession.status, bySession.body)
			}
		}
	}
	// A session's POST still needs its CSRF token.
	problem(t, tn.send("", "POST", tn.url("/authorize"), bodies[0], "Cookie", "session=good"), 403, "forbidden")
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
