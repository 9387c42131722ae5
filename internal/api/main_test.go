package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/secretbox"
	"github.com/scimbridge/scimbridge/internal/webhooks"
	"github.com/scimbridge/scimbridge/oidc"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The store the server runs on is the admin API's Store.
var _ api.Store = (*postgres.DB)(nil)

// The subscription manager serve wires is the API's SubscriptionService.
var _ api.SubscriptionService = webhooks.Subscriptions{}

var seed = directory.Actor{Kind: "test", Name: "seed"}

// env is the real HTTP stack on a fresh database.
type env struct {
	t   testing.TB
	db  *postgres.DB
	box *secretbox.Box // seals the IdP client secrets
	srv *httptest.Server
}

// envOption configures newEnv: the store, the admin API's Config, or a
// middleware around the whole server.
type envOption struct {
	store  func(*postgres.DB)
	config func(*api.Config)
	wrap   func(http.Handler) http.Handler
}

// withStore configures the store before the server starts.
func withStore(f func(*postgres.DB)) envOption { return envOption{store: f} }

func withConfig(f func(*api.Config)) envOption { return envOption{config: f} }

func withMiddleware(f func(http.Handler) http.Handler) envOption { return envOption{wrap: f} }

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	db := pgtest.DB(t)
	for _, o := range opts {
		if o.store != nil {
			o.store(db)
		}
	}
	hs := httpserver.New(httpserver.Config{Ready: db.Ready})
	box, err := secretbox.New(bytes.Repeat([]byte{9}, secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	// The IdP settings go the way serve sends them: sealed, and checked
	// against the provider's discovery, which the tests run on loopback
	// (the operator's flag for private networks).
	c := api.Config{Store: db, MaxBody: 64 << 10,
		IdP: oidc.Settings{Store: db, Box: box, Egress: egress.Policy{AllowPrivate: true}},
		// Subscriptions under the strict default policy: public https only.
		Subscriptions: webhooks.Subscriptions{Store: db, Box: box}}
	for _, o := range opts {
		if o.config != nil {
			o.config(&c)
		}
	}
	api.New(c).Mount(hs)
	h := hs.Handler()
	for _, o := range opts {
		if o.wrap != nil {
			h = o.wrap(h)
		}
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, box: box, srv: srv}
}

// tenant is an organization with an admin API token of its break-glass
// owner (an org admin).
type tenant struct {
	*env
	id, slug string
	ownerID  string
	token    string
}

func (e *env) tenant(slug string) *tenant {
	e.t.Helper()
	ctx := context.Background()
	o, err := e.db.CreateOrganization(ctx, slug, "")
	if err != nil {
		e.t.Fatal(err)
	}
	owner, err := e.db.FindMember(ctx, o.ID, postgres.BreakGlassUserName)
	if err != nil {
		e.t.Fatal(err)
	}
	_, secret, err := e.db.CreateAPIToken(ctx, seed, o.ID, owner.ID, "t", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return &tenant{env: e, id: o.ID, slug: slug, ownerID: owner.ID, token: secret}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return m
}

// send makes a request to the server; token "" sends no Authorization.
// body may be nil, a string, []byte or anything JSON-encodable.
func (e *env) send(token, method, path string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// in returns the tenant as seen by a subtest: failures go to t.
func (tn *tenant) in(t testing.TB) *tenant {
	e := *tn.env
	e.t = t
	c := *tn
	c.env = &e
	return &c
}

// url is a path of the tenant's API.
func (tn *tenant) url(rel string) string { return "/api/v1/orgs/" + tn.slug + rel }

// do calls the tenant's API with its admin token.
func (tn *tenant) do(method, rel string, body any) response {
	tn.t.Helper()
	return tn.send(tn.token, method, tn.url(rel), body)
}

// must calls the tenant's API and fails unless the status is want.
func (tn *tenant) must(want int, method, rel string, body any) map[string]any {
	tn.t.Helper()
	r := tn.do(method, rel, body)
	if r.status != want {
		tn.t.Fatalf("%s %s: status %d, want %d: %s", method, rel, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.object(tn.t)
}

// problem checks that r is an RFC 9457 problem of this status and type.
func problem(t testing.TB, r response, status int, typ string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	m := r.object(t)
	if m["type"] != api.ProblemBase+typ || m["status"] != float64(status) || m["title"] == "" || m["detail"] == "" {
		t.Fatalf("not a %d %s problem: %s", status, typ, r.body)
	}
	for k := range m {
		switch k {
		case "type", "title", "status", "detail":
		default:
			t.Fatalf("problem has member %q: %s", k, r.body)
		}
	}
	return m
}

// scimUser creates a user as the IdP's SCIM push would.
func (tn *tenant) scimUser(userName string) directory.User {
	tn.t.Helper()
	u, err := tn.db.CreateUser(context.Background(), directory.Actor{Kind: "scim-token", Name: "idp"}, directory.User{
		OrgID: tn.id, ExternalID: "ext-" + userName,
		Attributes: map[string]any{"userName": userName, "active": true, "displayName": userName,
			"emails": []any{map[string]any{"value": userName, "type": "work", "primary": true}}},
	})
	if err != nil {
		tn.t.Fatal(err)
	}
	return u
}

// user creates a user of another source (jit, service, invitation).
func (tn *tenant) user(userName, source string) directory.User {
	tn.t.Helper()
	kind := directory.KindHuman
	if source == directory.SourceService {
		kind = directory.KindService
	}
	u, err := tn.db.CreateUser(context.Background(), seed, directory.User{
		OrgID: tn.id, Kind: kind, Source: source,
		Attributes: map[string]any{"userName": userName, "emails": []any{map[string]any{"value": userName}}},
	})
	if err != nil {
		tn.t.Fatal(err)
	}
	if u.Source != source {
		tn.t.Fatalf("CreateUser stored source %q, want %q", u.Source, source)
	}
	return u
}

// group creates an IdP group with members, as SCIM would.
func (tn *tenant) group(name string, members ...directory.User) directory.Group {
	tn.t.Helper()
	ids := make([]string, len(members))
	for i, u := range members {
		ids[i] = u.ID
	}
	g, err := tn.db.CreateGroup(context.Background(), directory.Actor{Kind: "scim-token", Name: "idp"},
		directory.Group{OrgID: tn.id, DisplayName: name, ExternalID: "ext-" + name, Attributes: map[string]any{}}, directory.MemberChange{Add: ids})
	if err != nil {
		tn.t.Fatal(err)
	}
	return g
}

// workspace creates a workspace with one target per cluster/namespace pair.
func (tn *tenant) workspace(name string, targets ...string) directory.Workspace {
	tn.t.Helper()
	var ts []directory.Target
	for i := 0; i+1 < len(targets); i += 2 {
		ts = append(ts, directory.Target{Cluster: targets[i], Namespace: targets[i+1]})
	}
	w, err := tn.db.CreateWorkspace(context.Background(), seed, tn.id, name, ts)
	if err != nil {
		tn.t.Fatal(err)
	}
	return w
}

// tokenFor creates an admin API token owned by u.
func (tn *tenant) tokenFor(u directory.User, name string) string {
	tn.t.Helper()
	_, secret, err := tn.db.CreateAPIToken(context.Background(), seed, tn.id, u.ID, name, 0)
	if err != nil {
		tn.t.Fatal(err)
	}
	return secret
}

// admin makes a person (an IdP user) Org Admin and returns the tenant as
// that person calls it, with an API token of theirs: the break-glass
// owner, whose token the tenant holds, may mint no API tokens through
// the API.
func (tn *tenant) admin(userName string) (*tenant, directory.User) {
	tn.t.Helper()
	u := tn.scimUser(userName)
	if _, err := tn.db.CreateBinding(context.Background(), seed, directory.Binding{OrgID: tn.id, Role: directory.RoleOrgAdmin, UserID: u.ID}); err != nil {
		tn.t.Fatal(err)
	}
	c := *tn
	c.token = tn.tokenFor(u, "admin-"+userName)
	return &c, u
}

// authorize asks the API and returns the decision.
func (tn *tenant) authorize(user, action, workspace string) map[string]any {
	tn.t.Helper()
	return tn.must(200, "POST", "/authorize", map[string]any{"user": user, "action": action, "workspace": workspace})
}

func str(v any) string { return fmt.Sprint(v) }

// provider is an OpenID Provider on this machine, for the IdP settings,
// whose discovery is checked before they are saved.
func provider(t testing.TB) *mockoidc.MockOIDC {
	t.Helper()
	p, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown() })
	return p
}
