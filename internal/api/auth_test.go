package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/directory"
)

// Requests without a valid admin API token are 401 problems with a
// WWW-Authenticate challenge, whatever the route and organization.
func TestMissingOrBadTokenIsUnauthorized(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ctx := context.Background()
	scimToken := func() string {
		_, s, err := tn.db.CreateSCIMToken(ctx, tn.id, "idp", 0)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	revoked := tn.tokenFor(tn.user("gone@acme.test", directory.SourceJIT), "old")
	if err := tn.db.RevokeAPIToken(ctx, seed, tn.id, "old"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, header, challenge string
	}{
		{"no Authorization header", "", `Bearer realm="scimbridge"`},
		{"not a bearer scheme", "Basic YTpi", `Bearer realm="scimbridge"`},
		{"empty bearer", "Bearer ", `Bearer realm="scimbridge"`},
		{"garbage token", "Bearer nonsense", `Bearer realm="scimbridge", error="invalid_token"`},
		{"well-formed unknown token", "Bearer " + directory.NewSecret(directory.APITokenPrefix), `Bearer realm="scimbridge", error="invalid_token"`},
		{"a SCIM token", "Bearer " + scimToken, `Bearer realm="scimbridge", error="invalid_token"`},
		{"a revoked token", "Bearer " + revoked, `Bearer realm="scimbridge", error="invalid_token"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, org := range []string{"acme", "no-such-org"} {
				r := tn.in(t).send("", "GET", "/api/v1/orgs/"+org+"/users", nil, "Authorization", c.header)
				problem(t, r, 401, "unauthorized")
				if got := r.header.Get("WWW-Authenticate"); got != c.challenge {
					t.Fatalf("WWW-Authenticate %q, want %q", got, c.challenge)
				}
			}
		})
	}
	if r := tn.send("", "GET", "/api/v1/orgs/acme/users", nil, "Authorization", "bearer "+tn.token); r.status != 200 {
		t.Fatalf("the scheme is case-insensitive: %d %s", r.status, r.body)
	}
}

// A member who is not an org admin is refused every management route,
// but may ask about themself.
func TestNonAdminMayOnlyAskAboutThemself(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ws := tn.workspace("data-eng", "prod", "data")
	viewer := tn.user("viewer@acme.test", directory.SourceJIT)
	tn.must(201, "POST", "/bindings", map[string]any{"role": "viewer", "workspace": "data-eng", "user": viewer.ID})
	other := tn.scimUser("other@acme.test")
	token := tn.tokenFor(viewer, "mine")

	for _, rt := range api.Routes() {
		if rt.Public || rt.SelfOrAdmin || rt.Operator {
			continue
		}
		path := strings.NewReplacer("{org}", "acme", "{id}", other.ID, "{name}", "idp").Replace(rt.Pattern)
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			p := problem(t, tn.in(t).send(token, rt.Method, path, map[string]any{}), 403, "forbidden")
			if !strings.Contains(str(p["detail"]), "org admin") {
				t.Fatalf("detail %q", p["detail"])
			}
		})
	}

	self := []struct {
		name string
		body map[string]any
		want bool
	}{
		{"by id", map[string]any{"user": viewer.ID, "action": "pipes.view", "workspace": ws.ID}, true},
		{"by userName", map[string]any{"user": "viewer@acme.test", "action": "pipes.run", "workspace": "data-eng"}, false},
		{"by target", map[string]any{"user": "VIEWER@acme.test", "action": "pipes.view", "cluster": "prod", "namespace": "data"}, true},
	}
	for _, c := range self {
		t.Run("authorize about themself "+c.name, func(t *testing.T) {
			r := tn.in(t).send(token, "POST", tn.url("/authorize"), c.body)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if d := r.object(t); d["allowed"] != c.want {
				t.Fatalf("decision %v, want allowed=%v", d, c.want)
			}
		})
	}
	if r := tn.send(token, "GET", tn.url("/users/"+viewer.ID+"/permissions"), nil); r.status != 200 ||
		!strings.Contains(string(r.body), "viewer on data-eng directly") {
		t.Fatalf("own permissions: %d %s", r.status, r.body)
	}

	others := []struct {
		name, method, path string
		body               any
	}{
		{"authorize about another user", "POST", "/authorize", map[string]any{"user": other.ID, "action": "pipes.view", "workspace": "data-eng"}},
		{"authorize about an unknown user (no 404 to probe with)", "POST", "/authorize", map[string]any{"user": "ghost@acme.test", "action": "pipes.view", "workspace": "data-eng"}},
		{"another user's permissions", "GET", "/users/" + other.ID + "/permissions", nil},
		{"an unknown user's permissions", "GET", "/users/00000000-0000-0000-0000-000000000000/permissions", nil},
	}
	for _, c := range others {
		t.Run(c.name, func(t *testing.T) {
			problem(t, tn.in(t).send(token, c.method, tn.url(c.path), c.body), 403, "forbidden")
		})
	}
}

// sessions stands for the login sessions of a later issue: it
// authenticates a cookie, which the browser sends on its own.
type sessions struct{ p api.Principal }

func (s sessions) Authenticate(r *http.Request) (api.Principal, bool, error) {
	c, err := r.Cookie("session")
	if err != nil {
		return api.Principal{}, false, nil
	}
	if c.Value != "good" {
		return api.Principal{}, false, directory.ErrUnauthorized
	}
	return s.p, true, nil
}

// A cookie session joins the authentication chain; its writes need the
// CSRF check, which fails closed when none is configured. Bearer writes
// need none.
func TestCookieSessionWritesNeedCSRF(t *testing.T) {
	t.Parallel()
	for _, withCheck := range []bool{false, true} {
		name := "no CSRF check configured"
		if withCheck {
			name = "CSRF check configured"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var sess sessions
			e := newEnv(t, withConfig(func(c *api.Config) {
				c.Authenticators = []api.Authenticator{&sess}
				if withCheck {
					c.CSRF = func(r *http.Request) error {
						if r.Header.Get("X-CSRF-Token") != "right" {
							return errors.New("bad token")
						}
						return nil
					}
				}
			}))
			tn := e.tenant("acme")
			owner, err := tn.db.Member(context.Background(), tn.id, tn.ownerID)
			if err != nil {
				t.Fatal(err)
			}
			org, err := tn.db.Organization(context.Background(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			sess.p = api.Principal{Org: org, User: owner, Actor: directory.Actor{Kind: "user", Name: owner.UserName}, Ambient: true}

			cookie := "session=good"
			if r := tn.send("", "GET", tn.url("/workspaces"), nil, "Cookie", cookie); r.status != 200 {
				t.Fatalf("a session read: %d %s", r.status, r.body)
			}
			problem(t, tn.send("", "GET", tn.url("/workspaces"), nil, "Cookie", "session=bad"), 401, "unauthorized")
			body := map[string]any{"name": "w1"}
			problem(t, tn.send("", "POST", tn.url("/workspaces"), body, "Cookie", cookie), 403, "forbidden")
			problem(t, tn.send("", "POST", tn.url("/workspaces"), body, "Cookie", cookie, "X-CSRF-Token", "wrong"), 403, "forbidden")
			want := 403
			if withCheck {
				want = 201
			}
			if r := tn.send("", "POST", tn.url("/workspaces"), body, "Cookie", cookie, "X-CSRF-Token", "right"); r.status != want {
				t.Fatalf("a session write with the right CSRF token: %d, want %d: %s", r.status, want, r.body)
			}
			// A bearer token needs no CSRF token, cookie or not.
			tn.must(201, "POST", "/workspaces", map[string]any{"name": "w2"})
		})
	}
}
