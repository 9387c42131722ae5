package api_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/scim"
)

// operatorToken mints an operator token as the CLI does.
func (e *env) operatorToken(name string) (directory.OperatorToken, string) {
	e.t.Helper()
	tok, secret, err := e.db.CreateOperatorToken(context.Background(), directory.Actor{Kind: "cli", Name: "operator"}, name, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok, secret
}

// withSCIM serves SCIM beside the admin API, as serve does, so that the
// SCIM base URL and token a create answers can be used.
func withSCIM() []envOption {
	var db *postgres.DB
	return []envOption{
		withStore(func(d *postgres.DB) { db = d }),
		withMiddleware(func(next http.Handler) http.Handler {
			mux := http.NewServeMux()
			scim.New(scim.Config{Store: db}).Mount(mux)
			mux.Handle("/", next)
			return mux
		}),
	}
}

// testSession is a login session of acme's break-glass owner, carried by
// the cookie test_session=acme, as the console's session would be.
func testSession(db **postgres.DB) envOption {
	return withConfig(func(c *api.Config) {
		c.Authenticators = append(c.Authenticators, api.SessionFunc(func(r *http.Request, slug string) (string, directory.User, bool, error) {
			ck, err := r.Cookie("test_session")
			if err != nil || ck.Value != slug {
				return "", directory.User{}, false, nil
			}
			ctx := r.Context()
			o, err := (*db).Organization(ctx, slug)
			if err != nil {
				return "", directory.User{}, true, err
			}
			u, err := (*db).FindMember(ctx, o.ID, postgres.BreakGlassUserName)
			return o.ID, u, true, err
		}))
		c.CSRF = func(*http.Request) error { return nil }
	})
}

// The operator routes take an operator token and nothing else: no
// credential of an organization, however privileged there (its Org
// Admin's API token, its session, its SCIM token), and no operator token
// that is unknown, revoked or expired. Each is the 401 problem with a
// challenge, and nothing changes.
func TestOperatorRoutesTakeOnlyALiveOperatorToken(t *testing.T) {
	t.Parallel()
	var db *postgres.DB
	e := newEnv(t, withStore(func(d *postgres.DB) { db = d }), testSession(&db))
	acme := e.tenant("acme")
	ctx := context.Background()
	_, scimSecret, err := e.db.CreateSCIMToken(ctx, acme.id, "idp", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, live := e.operatorToken("platform")
	revoked, revokedSecret := e.operatorToken("old")
	if _, err := e.db.RevokeOperatorToken(ctx, seed, revoked.ID); err != nil {
		t.Fatal(err)
	}
	expired, expiredSecret := e.operatorToken("expired")
	if _, err := e.db.Pool.Exec(ctx, `UPDATE operator_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, expired.ID); err != nil {
		t.Fatal(err)
	}
	// The session works where it belongs.
	if r := e.send("", "GET", acme.url("/users"), nil, "Cookie", "test_session=acme"); r.status != 200 {
		t.Fatalf("the session on acme's users: %d %s", r.status, r.body)
	}

	const (
		challenge = `Bearer realm="scimbridge"`
		invalid   = `Bearer realm="scimbridge", error="invalid_token"`
	)
	creds := []struct {
		name, header, value, challenge string
	}{
		{"nothing", "", "", challenge},
		{"not a bearer scheme", "Authorization", "Basic YTpi", challenge},
		{"an empty bearer", "Authorization", "Bearer ", challenge},
		{"garbage", "Authorization", "Bearer nonsense", invalid},
		{"an org admin's API token", "Authorization", "Bearer " + acme.token, invalid},
		{"a SCIM token", "Authorization", "Bearer " + scimSecret, invalid},
		{"the org admin's session", "Cookie", "test_session=acme", challenge},
		{"a revoked operator token", "Authorization", "Bearer " + revokedSecret, invalid},
		{"an expired operator token", "Authorization", "Bearer " + expiredSecret, invalid},
		{"an unknown operator token", "Authorization", "Bearer " + directory.NewSecret(directory.OperatorTokenPrefix), invalid},
	}
	bodies := map[string]any{
		"POST /api/v1/orgs":        map[string]any{"slug": "stolen"},
		"PATCH /api/v1/orgs/{org}": map[string]any{"name": "Stolen"},
	}
	tested := 0
	for _, rt := range api.Routes() {
		if !rt.Operator {
			continue
		}
		tested++
		key := rt.Method + " " + rt.Pattern
		path := strings.Replace(rt.Pattern, "{org}", "acme", 1)
		if rt.Method == "DELETE" {
			path += "?confirm=acme"
		}
		for _, c := range creds {
			t.Run(key+"/"+c.name, func(t *testing.T) {
				var hdr []string
				if c.header != "" {
					hdr = []string{c.header, c.value}
				}
				r := acme.in(t).send("", rt.Method, path, bodies[key], hdr...)
				problem(t, r, 401, "unauthorized")
				if got := r.header.Get("WWW-Authenticate"); got != c.challenge {
					t.Fatalf("WWW-Authenticate %q, want %q", got, c.challenge)
				}
			})
		}
	}
	if tested != 5 {
		t.Fatalf("tested %d operator routes, want 5", tested)
	}
	if _, err := e.db.Organization(ctx, "acme"); err != nil {
		t.Fatalf("acme after the refusals: %v", err)
	}
	if _, err := e.db.Organization(ctx, "stolen"); err == nil {
		t.Fatal("an organization was created without an operator token")
	}
	if r := e.send(live, "GET", "/api/v1/orgs/acme", nil); r.status != 200 {
		t.Fatalf("the live operator token: %d %s", r.status, r.body)
	}
}

// An operator token manages organizations and nothing in them: every
// route of an organization refuses it with 401, as it would any token
// that is not the organization's.
func TestOperatorTokenWorksOnNoOrganizationRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme := e.tenant("acme")
	_, op := e.operatorToken("platform")
	tested := 0
	for _, rt := range api.Routes() {
		if rt.Public || rt.Operator {
			continue
		}
		tested++
		path := strings.NewReplacer("{org}", "acme", "{id}", acme.ownerID, "{name}", "x").Replace(rt.Pattern)
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			r := acme.in(t).send(op, rt.Method, path, map[string]any{})
			problem(t, r, 401, "unauthorized")
		})
	}
	if tested < 40 {
		t.Fatalf("tested %d routes", tested)
	}
}

// POST /api/v1/orgs makes an organization ready for its identity
// provider: the SCIM base URL and first SCIM token it answers work
// together, at once, over SCIM; the break-glass link is the owner's; the
// organization is the same as `org create` makes (its break-glass owner
// an Org Admin). The operator token's id is the actor on both trails.
func TestOperatorCreatesAnOrganizationReadyForItsIdP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSCIM()...)
	tok, op := e.operatorToken("platform")
	ctx := context.Background()

	r := e.send(op, "POST", "/api/v1/orgs", map[string]any{"slug": "acme", "name": "Acme Inc", "scimToken": map[string]any{"name": "okta", "expiresIn": "30d"}})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if loc := r.header.Get("Location"); loc != "/api/v1/orgs/acme" {
		t.Fatalf("Location %q", loc)
	}
	created := r.object(t)
	token := created["scimToken"].(map[string]any)
	link := created["breakGlassLink"].(map[string]any)
	if created["slug"] != "acme" || created["name"] != "Acme Inc" || created["scimBaseUrl"] != e.srv.URL+"/scim/v2/acme" ||
		token["name"] != "okta" || token["status"] != "active" || !strings.HasPrefix(str(token["token"]), directory.SCIMTokenPrefix) {
		t.Fatalf("created %s", r.body)
	}
	if exp, err := time.Parse(time.RFC3339, str(token["expiresAt"])); err != nil || time.Until(exp) < 29*24*time.Hour || time.Until(exp) > 30*24*time.Hour {
		t.Fatalf("the SCIM token expires %v", token["expiresAt"])
	}

	// The IdP, given the URL and the token, provisions.
	req, _ := http.NewRequest("GET", str(created["scimBaseUrl"])+"/Users?filter="+url.QueryEscape(`userName eq "ann@acme.test"`), nil)
	req.Header.Set("Authorization", "Bearer "+str(token["token"]))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("SCIM with the new token: %d", resp.StatusCode)
	}

	u, err := url.Parse(str(link["url"]))
	if err != nil || u.Scheme+"://"+u.Host != e.srv.URL || u.Path != "/auth/acme/breakglass" {
		t.Fatalf("break-glass link %v", link["url"])
	}
	if o, err := e.db.BreakGlassLinkOrganization(ctx, "acme", u.Query().Get("token")); err != nil || o.Slug != "acme" {
		t.Fatalf("the break-glass link is not acme's live link: %v %v", o, err)
	}

	// The owner is an Org Admin no IdP manages, as org create makes it.
	o, err := e.db.Organization(ctx, "acme")
	if err != nil || o.ID != created["id"] {
		t.Fatalf("stored %+v %v", o, err)
	}
	owner, err := e.db.FindMember(ctx, o.ID, postgres.BreakGlassUserName)
	if err != nil || owner.Source != directory.SourceBreakGlass {
		t.Fatalf("owner %+v %v", owner, err)
	}
	if acc, err := e.db.Access(ctx, o.ID, owner.ID); err != nil || !acc.Authorize(directory.ActionManageOrg, "").Allowed {
		t.Fatalf("the owner is not org admin: %+v %v", acc, err)
	}
	actor := "operator-token:" + tok.ID
	evs, err := e.db.AuditEvents(ctx, o.ID, "SCIMToken", "")
	if err != nil || len(evs) != 1 || evs[0].Actor != actor {
		t.Fatalf("the organization's trail: %+v %v", evs, err)
	}
	ops, err := e.db.OperatorAuditEvents(ctx, "acme", 10)
	if err != nil || len(ops) != 1 || ops[0].Action != "org.create" || ops[0].Actor != actor {
		t.Fatalf("the operator's trail: %+v %v", ops, err)
	}
	// Secrets never reach a trail.
	for _, s := range []string{str(token["token"]), u.Query().Get("token")} {
		if strings.Contains(str(evs), s) || strings.Contains(str(ops), s) {
			t.Fatal("a secret is on a trail")
		}
	}
}

// With --public-url the URLs a create answers are under it, whatever
// host the request came to.
func TestOperatorCreateAnswersURLsUnderThePublicURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withConfig(func(c *api.Config) { c.PublicURL = "https://scim.example.com/" }))
	_, op := e.operatorToken("platform")
	created := e.send(op, "POST", "/api/v1/orgs", map[string]any{"slug": "acme"}).object(t)
	link := str(created["breakGlassLink"].(map[string]any)["url"])
	if created["scimBaseUrl"] != "https://scim.example.com/scim/v2/acme" || !strings.HasPrefix(link, "https://scim.example.com/auth/acme/breakglass?token=scb_brk_") ||
		created["name"] != "acme" || created["scimToken"].(map[string]any)["name"] != "initial" {
		t.Fatalf("created %v", created)
	}
	got := e.send(op, "GET", "/api/v1/orgs/acme", nil).object(t)
	if got["scimBaseUrl"] != "https://scim.example.com/scim/v2/acme" {
		t.Fatalf("get %v", got)
	}
}

// Bad requests to the operator routes are problems, and none of them
// leaves an organization behind.
func TestOperatorRequestsAreCheckedFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tenant("acme")
	_, op := e.operatorToken("platform")
	cases := []struct {
		name, method, path string
		body               any
		status             int
		typ, detail        string
	}{
		{"a taken slug", "POST", "/api/v1/orgs", map[string]any{"slug": "acme"}, 409, "conflict", `organization "acme" already exists`},
		{"a bad slug", "POST", "/api/v1/orgs", map[string]any{"slug": "Bad Slug"}, 400, "invalid", "organization slug"},
		{"no slug", "POST", "/api/v1/orgs", map[string]any{"name": "Nameless"}, 400, "invalid", "organization slug"},
		{"a name too long", "POST", "/api/v1/orgs", map[string]any{"slug": "long", "name": strings.Repeat("n", 201)}, 400, "invalid", "organization name"},
		{"an unknown field", "POST", "/api/v1/orgs", map[string]any{"slug": "x", "owner": "me"}, 400, "invalid", "owner"},
		{"a bad token name", "POST", "/api/v1/orgs", map[string]any{"slug": "x", "scimToken": map[string]any{"name": " x"}}, 400, "invalid", "token name"},
		{"a lifetime above the maximum", "POST", "/api/v1/orgs", map[string]any{"slug": "x", "scimToken": map[string]any{"expiresIn": "366d"}}, 400, "invalid", "longer than the maximum"},
		{"a bad lifetime", "POST", "/api/v1/orgs", map[string]any{"slug": "x", "scimToken": map[string]any{"expiresIn": "forever"}}, 400, "invalid", "duration"},
		{"a body too large", "POST", "/api/v1/orgs", map[string]any{"slug": "x", "name": strings.Repeat("n", 70<<10)}, 413, "too-large", "larger than"},
		{"no body", "POST", "/api/v1/orgs", nil, 400, "invalid", "JSON body is required"},
		{"a limit too large", "GET", "/api/v1/orgs?limit=501", nil, 400, "invalid", "limit"},
		{"a limit of 0", "GET", "/api/v1/orgs?limit=0", nil, 400, "invalid", "limit"},
		{"a negative offset", "GET", "/api/v1/orgs?offset=-1", nil, 400, "invalid", "offset"},
		{"get an unknown organization", "GET", "/api/v1/orgs/nope", nil, 404, "not-found", `organization "nope" not found`},
		{"rename an unknown organization", "PATCH", "/api/v1/orgs/nope", map[string]any{"name": "Nope"}, 404, "not-found", `organization "nope" not found`},
		{"rename without a name", "PATCH", "/api/v1/orgs/acme", map[string]any{}, 400, "invalid", "name is required"},
		{"rename to nothing", "PATCH", "/api/v1/orgs/acme", map[string]any{"name": ""}, 400, "invalid", "organization name"},
		{"rename the slug", "PATCH", "/api/v1/orgs/acme", map[string]any{"slug": "other"}, 400, "invalid", "slug"},
		{"a method not served", "PUT", "/api/v1/orgs/acme", map[string]any{}, 405, "method-not-allowed", "method"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.in(t).send(op, c.method, c.path, c.body)
			p := problem(t, r, c.status, c.typ)
			if !strings.Contains(str(p["detail"]), c.detail) {
				t.Fatalf("detail %q, want it to contain %q", p["detail"], c.detail)
			}
		})
	}
	orgs, total, err := e.db.OrganizationPage(context.Background(), 0, 100)
	if err != nil || total != 1 || orgs[0].Slug != "acme" || orgs[0].Name != "acme" {
		t.Fatalf("after the refusals: %+v %d %v", orgs, total, err)
	}
}

// in returns the env as seen by a subtest.
func (e *env) in(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// The operator lists (paged, by slug), gets and renames organizations;
// a rename changes the display name only, and each is on its trail.
func TestOperatorListsGetsAndRenamesOrganizations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, s := range []string{"globex", "acme", "initech"} {
		e.tenant(s)
	}
	tok, op := e.operatorToken("platform")
	pages := []struct {
		query, want string
	}{
		{"", "acme,globex,initech"},
		{"?limit=2", "acme,globex"},
		{"?limit=2&offset=2", "initech"},
		{"?offset=3", ""},
	}
	for _, p := range pages {
		r := e.send(op, "GET", "/api/v1/orgs"+p.query, nil)
		if r.status != 200 {
			t.Fatalf("list%s: %d %s", p.query, r.status, r.body)
		}
		page := r.object(t)
		var slugs []string
		for _, it := range page["items"].([]any) {
			o := it.(map[string]any)
			if o["scimBaseUrl"] != e.srv.URL+"/scim/v2/"+str(o["slug"]) || o["id"] == "" || o["createdAt"] == nil {
				t.Fatalf("item %v", o)
			}
			slugs = append(slugs, str(o["slug"]))
		}
		if strings.Join(slugs, ",") != p.want || page["total"] != float64(3) {
			t.Fatalf("list%s: %s", p.query, r.body)
		}
	}

	r := e.send(op, "PATCH", "/api/v1/orgs/acme", map[string]any{"name": "Acme Corporation"})
	if r.status != 200 || r.object(t)["name"] != "Acme Corporation" || r.object(t)["slug"] != "acme" {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	if got := e.send(op, "GET", "/api/v1/orgs/acme", nil).object(t); got["name"] != "Acme Corporation" {
		t.Fatalf("get after rename: %v", got)
	}
	ops, err := e.db.OperatorAuditEvents(context.Background(), "acme", 10)
	if err != nil || len(ops) != 1 || ops[0].Action != "org.rename" || ops[0].Actor != "operator-token:"+tok.ID || ops[0].Before["name"] != "acme" {
		t.Fatalf("the operator's trail: %+v %v", ops, err)
	}
}

// DELETE needs the slug again as ?confirm=; without it, or with another
// organization's slug, it is a 400 that deletes nothing. With it, the
// organization and every credential of it are gone, and the other
// organizations are untouched.
func TestOperatorDeletesAnOrganizationOnlyWhenConfirmed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, globex := e.tenant("acme"), e.tenant("globex")
	ctx := context.Background()
	_, acmeSCIM, err := e.db.CreateSCIMToken(ctx, acme.id, "idp", 0)
	if err != nil {
		t.Fatal(err)
	}
	tok, op := e.operatorToken("platform")
	refused := []struct{ name, query string }{
		{"no confirmation", ""},
		{"an empty confirmation", "?confirm="},
		{"another organization's slug", "?confirm=globex"},
		{"the slug in another case", "?confirm=ACME"},
		{"the slug twice, the first wrong", "?confirm=globex&confirm=acme"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			p := problem(t, e.in(t).send(op, "DELETE", "/api/v1/orgs/acme"+c.query, nil), 400, "invalid")
			if !strings.Contains(str(p["detail"]), "?confirm=acme") {
				t.Fatalf("detail %q does not say how to confirm", p["detail"])
			}
		})
	}
	if r := acme.do("GET", "/users", nil); r.status != 200 {
		t.Fatalf("acme after refused deletes: %d %s", r.status, r.body)
	}

	if r := e.send(op, "DELETE", "/api/v1/orgs/acme?confirm=acme", nil); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	problem(t, e.send(op, "GET", "/api/v1/orgs/acme", nil), 404, "not-found")
	problem(t, e.send(op, "DELETE", "/api/v1/orgs/acme?confirm=acme", nil), 404, "not-found")
	// Its credentials are gone with it.
	problem(t, acme.do("GET", "/users", nil), 401, "unauthorized")
	if _, _, err := e.db.AuthenticateSCIM(ctx, "acme", acmeSCIM); err == nil {
		t.Fatal("acme's SCIM token still authenticates")
	}
	// The neighbour is whole.
	if r := globex.do("GET", "/users", nil); r.status != 200 || !strings.Contains(string(r.body), postgres.BreakGlassUserName) {
		t.Fatalf("globex after acme's deletion: %d %s", r.status, r.body)
	}
	if list := e.send(op, "GET", "/api/v1/orgs", nil).object(t); list["total"] != float64(1) {
		t.Fatalf("list after delete: %v", list)
	}
	ops, err := e.db.OperatorAuditEvents(ctx, "acme", 10)
	if err != nil || len(ops) != 1 || ops[0].Action != "org.delete" || ops[0].Actor != "operator-token:"+tok.ID || ops[0].OrganizationID != acme.id {
		t.Fatalf("the operator's trail: %+v %v", ops, err)
	}
}
