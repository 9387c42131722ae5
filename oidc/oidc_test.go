package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/secretbox"
	"github.com/scimbridge/scimbridge/oidc"
)

// idpUser is a person at the mock provider, with the claims a real IdP
// sends (name, Entra's oid) and a hook to tamper with the ID token.
type idpUser struct {
	sub, email string
	verified   bool
	name, oid  string
	tweak      func(jwt.MapClaims)
}

func (u idpUser) ID() string { return u.sub }

func (u idpUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]any{"sub": u.sub, "email": u.email, "name": u.name})
}

func (u idpUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	b, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	m := jwt.MapClaims{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if u.email != "" {
		m["email"], m["email_verified"] = u.email, u.verified
	}
	if u.name != "" {
		m["name"] = u.name
	}
	if u.oid != "" {
		m["oid"] = u.oid
	}
	if u.tweak != nil {
		u.tweak(m)
	}
	return m, nil
}

type env struct {
	t    *testing.T
	db   *postgres.DB
	idp  *mockoidc.MockOIDC
	srv  *httptest.Server
	orgs map[string]directory.Organization
	// realKey is what the provider's JWKS always publishes.
	realKey *mockoidc.Keypair
	// endSession, when set, is the end_session_endpoint the provider's
	// discovery document names (mockoidc names none).
	endSession atomic.Pointer[string]
}

func newEnv(t *testing.T, policy directory.JITPolicy, orgs ...string) *env {
	t.Helper()
	return newEnvWith(t, policy, nil, orgs...)
}

// newEnvWith is newEnv with the handler's configuration changed by
// configure (nil: as newEnv).
func newEnvWith(t *testing.T, policy directory.JITPolicy, configure func(*oidc.Config), orgs ...string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, db: pgtest.DB(t), orgs: map[string]directory.Organization{}}
	idp, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	e.idp, e.realKey = idp, idp.Keypair
	// The JWKS always publishes the provider's real key, so that a test
	// can sign tokens with another one (an attacker's).
	_ = idp.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.JWKSEndpoint {
				b, _ := e.realKey.JWKS()
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(b)
				return
			}
			if end := e.endSession.Load(); end != nil && r.URL.Path == mockoidc.DiscoveryEndpoint {
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				var doc map[string]any
				_ = json.Unmarshal(rec.Body.Bytes(), &doc)
				doc["end_session_endpoint"] = *end
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(doc)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })

	key := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	cookieKey := make([]byte, 32)
	_, _ = rand.Read(cookieKey)
	// The provider runs on 127.0.0.1: the operator's flag for test and
	// on-premises IdPs lets the service reach it.
	cfg := oidc.Config{Store: e.db, Box: box, CookieKey: cookieKey, PublicURL: e.srv.URL, Egress: egress.Policy{AllowPrivate: true}, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		SessionTTL: time.Hour, IdleTimeout: 30 * time.Minute}
	if configure != nil {
		configure(&cfg)
	}
	h, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Mount(mux)
	// The admin API on the same server, authenticated by the login
	// session, as serve wires it.
	api.New(api.Config{Store: e.db, Authenticators: []api.Authenticator{api.SessionFunc(h.Session)},
		CSRF: func(r *http.Request) error { return h.CheckCSRF(r, r.PathValue("org")) },
		IdP:  oidc.Settings{Store: e.db, Box: box, Egress: egress.Policy{AllowPrivate: true}}}).Mount(mux)
	if len(orgs) == 0 {
		orgs = []string{"acme"}
	}
	for _, slug := range orgs {
		o, err := e.db.CreateOrganization(ctx, slug, "")
		if err != nil {
			t.Fatal(err)
		}
		e.orgs[slug] = o
		_, err = (oidc.Settings{Store: e.db, Box: box, Egress: egress.Policy{AllowPrivate: true}}).SaveIdPSettings(ctx, directory.Actor{Kind: "cli", Name: "test"}, directory.IdPSettings{
			OrgID: o.ID, Issuer: idp.Issuer(), ClientID: idp.ClientID, OIDClaim: "oid", JIT: policy,
		}, idp.ClientSecret)
		if err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) scimUser(org, userName, externalID string, active bool) directory.User {
	e.t.Helper()
	u, err := e.db.CreateUser(context.Background(), directory.Actor{Kind: "scim-token", Name: "t"}, directory.User{
		OrgID: e.orgs[org].ID, ExternalID: externalID,
		Attributes: map[string]any{"userName": userName, "active": active, "emails": []any{map[string]any{"value": userName}}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// browser is a cookie-keeping client; follow=false stops at each redirect.
func browser(t *testing.T, follow bool) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (int, string, *http.Response) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// login runs the whole redirect dance for u and returns the final page.
func (e *env) login(c *http.Client, org string, u idpUser) (int, string) {
	e.t.Helper()
	e.idp.QueueUser(u)
	status, body, _ := get(e.t, c, e.srv.URL+"/auth/"+org+"/login?return_to="+url.QueryEscape("/auth/"+org+"/me"))
	return status, body
}

func me(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	return m
}

func TestSCIMUserLogsIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	alice := e.scimUser("acme", "Alice@Example.com", "ext-alice", true)
	c := browser(t, true)
	status, body := e.login(c, "acme", idpUser{sub: "sub-alice", email: "alice@example.com", verified: true, name: "Alice"})
	if status != 200 || me(t, body)["id"] != alice.ID {
		t.Fatalf("login: %d %s", status, body)
	}
	// The session cookie alone keeps her signed in.
	if status, body, _ := get(t, c, e.srv.URL+"/auth/acme/me"); status != 200 || me(t, body)["userName"] != "Alice@Example.com" {
		t.Fatalf("me: %d %s", status, body)
	}
	events, _ := e.db.AuditEvents(context.Background(), e.orgs["acme"].ID, "User", alice.ID)
	if last := events[len(events)-1]; last.Action != "user.link" || last.After["matchedBy"] != "email" || last.After["subject"] != "sub-alice" {
		t.Fatalf("link not audited: %+v", last)
	}
	// A second login uses the link, even with another email.
	c2 := browser(t, true)
	if status, body := e.login(c2, "acme", idpUser{sub: "sub-alice", email: "alice@new.example"}); status != 200 || me(t, body)["id"] != alice.ID {
		t.Fatalf("second login: %d %s", status, body)
	}
	// Unverified emails claim nothing.
	if status, body := e.login(browser(t, true), "acme", idpUser{sub: "sub-mallory", email: "alice@example.com"}); status != 403 {
		t.Fatalf("unverified email: %d %s", status, body)
	}
}

func TestJITPolicies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		policy directory.JITPolicy
		user   idpUser
		want   int
	}{
		{"scim-only refuses strangers", directory.JITPolicy{Mode: directory.JITSCIMOnly}, idpUser{sub: "s1", email: "new@corp.example", verified: true}, 403},
		{"jit creates", directory.JITPolicy{Mode: directory.JITAny}, idpUser{sub: "s2", email: "new@corp.example", name: "New Person"}, 200},
		{"jit-with-domain creates for a listed verified domain", directory.JITPolicy{Mode: directory.JITDomain, Domains: []string{"corp.example"}},
			idpUser{sub: "s3", email: "New@Corp.example", verified: true}, 200},
		{"jit-with-domain refuses an unverified email", directory.JITPolicy{Mode: directory.JITDomain, Domains: []string{"corp.example"}},
			idpUser{sub: "s4", email: "new@corp.example"}, 403},
		{"jit-with-domain refuses another domain", directory.JITPolicy{Mode: directory.JITDomain, Domains: []string{"corp.example"}},
			idpUser{sub: "s5", email: "new@evil.example", verified: true}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.policy)
			status, body := e.login(browser(t, true), "acme", tc.user)
			if status != tc.want {
				t.Fatalf("got %d %s", status, body)
			}
			if status == 200 {
				m := me(t, body)
				if m["source"] != directory.SourceJIT || m["userName"] != strings.ToLower(tc.user.email) {
					t.Fatalf("JIT user: %v", m)
				}
			} else if !strings.Contains(body, "has no account in this organization") {
				t.Fatalf("page does not say why: %s", body)
			}
		})
	}
}

func TestEntraOIDLinksToSCIMExternalID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	bob := e.scimUser("acme", "bob@corp.example", "0f1e2d3c-oid", true)
	// The login's email matches nothing; the oid claim does.
	status, body := e.login(browser(t, true), "acme", idpUser{sub: "pairwise-sub", email: "robert@other.example", oid: "0f1e2d3c-oid"})
	if status != 200 || me(t, body)["id"] != bob.ID {
		t.Fatalf("got %d %s", status, body)
	}
	events, _ := e.db.AuditEvents(context.Background(), e.orgs["acme"].ID, "User", bob.ID)
	if last := events[len(events)-1]; last.After["matchedBy"] != "oid" {
		t.Fatalf("want a link by oid: %+v", last)
	}
}

// dance runs the flow step by step: it returns the callback URL the IdP
// redirects to.
func (e *env) dance(c *http.Client, org string, u idpUser) string {
	e.t.Helper()
	e.idp.QueueUser(u)
	status, _, resp := get(e.t, c, e.srv.URL+"/auth/"+org+"/login")
	if status != http.StatusFound {
		e.t.Fatalf("login: %d", status)
	}
	auth := resp.Header.Get("Location")
	au, _ := url.Parse(auth)
	if au.Query().Get("code_challenge_method") != "S256" || au.Query().Get("nonce") == "" || au.Query().Get("state") == "" {
		e.t.Fatalf("authorization request lacks PKCE, nonce or state: %s", auth)
	}
	status, _, resp = get(e.t, c, auth)
	if status != http.StatusFound {
		e.t.Fatalf("authorize: %d", status)
	}
	return resp.Header.Get("Location")
}

func TestCallbackRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITAny})
	who := idpUser{sub: "s", email: "p@corp.example", verified: true}

	t.Run("wrong state", func(t *testing.T) {
		c := browser(t, false)
		cb, _ := url.Parse(e.dance(c, "acme", who))
		q := cb.Query()
		q.Set("state", "forged")
		cb.RawQuery = q.Encode()
		status, body, _ := get(t, c, cb.String())
		if status != 400 || !strings.Contains(body, "state mismatch") {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("no state cookie", func(t *testing.T) {
		cb := e.dance(browser(t, false), "acme", who)
		status, body, _ := get(t, browser(t, false), cb)
		if status != 400 || !strings.Contains(body, "unknown or has expired") {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("replayed code", func(t *testing.T) {
		c := browser(t, false)
		cb := e.dance(c, "acme", who)
		if status, body, _ := get(t, c, cb); status != http.StatusFound {
			t.Fatalf("first use: %d %s", status, body)
		}
		// A fresh attempt's state, with the old code.
		old, _ := url.Parse(cb)
		fresh, _ := url.Parse(e.dance(c, "acme", who))
		q := fresh.Query()
		q.Set("code", old.Query().Get("code"))
		fresh.RawQuery = q.Encode()
		status, body, _ := get(t, c, fresh.String())
		if status != 400 || !strings.Contains(body, "did not accept the sign-in code") {
			t.Fatalf("replay: %d %s", status, body)
		}
	})
	tampered := func(name string, tweak func(jwt.MapClaims), want string) {
		t.Run(name, func(t *testing.T) {
			u := who
			u.tweak = tweak
			status, body := e.login(browser(t, true), "acme", u)
			if status != 401 || !strings.Contains(body, want) {
				t.Fatalf("got %d %s", status, body)
			}
		})
	}
	tampered("nonce mismatch", func(m jwt.MapClaims) { m["nonce"] = "another-attempt" }, "nonce mismatch")
	tampered("wrong audience", func(m jwt.MapClaims) { m["aud"] = "another-client" }, "did not verify")
	tampered("expired ID token", func(m jwt.MapClaims) { m["exp"] = time.Now().Add(-time.Hour).Unix() }, "did not verify")
	t.Run("unknown signing key", func(t *testing.T) {
		c := browser(t, false)
		cb := e.dance(c, "acme", who)
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		other, _ := mockoidc.NewKeypair(k)
		other.Kid, _ = e.realKey.KeyID() // the attacker even claims the real key's id
		e.idp.Keypair = other
		defer func() { e.idp.Keypair = e.realKey }()
		status, body, _ := get(t, c, cb)
		if status != 401 || !strings.Contains(body, "did not verify") {
			t.Fatalf("got %d %s", status, body)
		}
	})
	t.Run("open redirect", func(t *testing.T) {
		for _, rt := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "evil"} {
			status, body, _ := get(t, browser(t, false), e.srv.URL+"/auth/acme/login?return_to="+url.QueryEscape(rt))
			if status != 400 || !strings.Contains(body, "return_to") {
				t.Errorf("return_to=%q: %d %s", rt, status, body)
			}
		}
	})
}

func TestSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly}, "a", "b")
	carol := e.scimUser("a", "carol@corp.example", "", true)
	e.scimUser("b", "carol@corp.example", "", true)
	who := idpUser{sub: "carol", email: "carol@corp.example", verified: true}
	sessionOf := func(c *http.Client, org string) string {
		u, _ := url.Parse(e.srv.URL)
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == oidc.SessionCookieName(org) {
				return ck.Value
			}
		}
		return ""
	}
	meWith := func(org, name, value string) int {
		req, _ := http.NewRequest("GET", e.srv.URL+"/auth/"+org+"/me", nil)
		req.AddCookie(&http.Cookie{Name: name, Value: value})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("tenant isolation", func(t *testing.T) {
		c := browser(t, true)
		if status, body := e.login(c, "a", who); status != 200 {
			t.Fatalf("login: %d %s", status, body)
		}
		id := sessionOf(c, "a")
		if !strings.HasPrefix(id, directory.SessionPrefix) {
			t.Fatalf("session cookie: %q", id)
		}
		if got := meWith("a", oidc.SessionCookieName("a"), id); got != 200 {
			t.Fatalf("own org: %d", got)
		}
		// The same person exists in b; a's session still means nothing there.
		if got := meWith("b", oidc.SessionCookieName("b"), id); got != 401 {
			t.Fatalf("other org: %d", got)
		}
	})
	t.Run("logout", func(t *testing.T) {
		c := browser(t, true)
		_, body := e.login(c, "a", who)
		id := sessionOf(c, "a")
		// Without the page's token (a cross-site form), nothing ends.
		resp, err := c.Post(e.srv.URL+"/auth/a/logout", "application/x-www-form-urlencoded", strings.NewReader("csrf_token=forged"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || meWith("a", oidc.SessionCookieName("a"), id) != 200 {
			t.Fatalf("logout without the CSRF token: %d", resp.StatusCode)
		}
		resp, err = c.PostForm(e.srv.URL+"/auth/a/logout", url.Values{"csrf_token": {me(t, body)["csrfToken"].(string)}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if sessionOf(c, "a") != "" {
			t.Fatal("cookie not cleared")
		}
		if got := meWith("a", oidc.SessionCookieName("a"), id); got != 401 {
			t.Fatalf("after logout: %d", got)
		}
	})
	t.Run("idle and absolute timeouts", func(t *testing.T) {
		c := browser(t, true)
		e.login(c, "a", who)
		id := sessionOf(c, "a")
		if _, err := e.db.Pool.Exec(ctx, `UPDATE sessions SET last_seen_at = now() - interval '31 minutes' WHERE id_hash = $1`, directory.HashSecret(id)); err != nil {
			t.Fatal(err)
		}
		if got := meWith("a", oidc.SessionCookieName("a"), id); got != 401 {
			t.Fatalf("idle: %d", got)
		}
		e.login(c, "a", who)
		id = sessionOf(c, "a")
		if _, err := e.db.Pool.Exec(ctx, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id_hash = $1`, directory.HashSecret(id)); err != nil {
			t.Fatal(err)
		}
		if got := meWith("a", oidc.SessionCookieName("a"), id); got != 401 {
			t.Fatalf("expired: %d", got)
		}
	})
	t.Run("deactivation ends a live session", func(t *testing.T) {
		c := browser(t, true)
		e.login(c, "a", who)
		id := sessionOf(c, "a")
		n, err := e.db.RevokeUserSessions(ctx, e.orgs["a"].ID, carol.ID)
		if err != nil || n == 0 {
			t.Fatalf("revoke: %d %v", n, err)
		}
		if got := meWith("a", oidc.SessionCookieName("a"), id); got != 401 {
			t.Fatalf("after revocation: %d", got)
		}
		// Deactivating over SCIM alone also ends it (SessionUser checks
		// the user), and the next login gets a clear page.
		e.login(c, "a", who)
		id = sessionOf(c, "a")
		if _, err := e.db.UpdateUser(ctx, directory.Actor{Kind: "scim-token", Name: "t"}, e.orgs["a"].ID, carol.ID, 0, func(u directory.User) (directory.User, error) {
			u.Attributes["active"] = false
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := meWith("a", oidc.SessionCookieName("a"), id); got != 401 {
			t.Fatalf("after deactivation: %d", got)
		}
		status, body := e.login(browser(t, true), "a", who)
		if status != 403 || !strings.Contains(body, "is deactivated") {
			t.Fatalf("deactivated login: %d %s", status, body)
		}
	})
}

func TestNeverThroughOIDC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITAny})
	org := e.orgs["acme"].ID
	if _, err := e.db.CreateServiceAccount(ctx, directory.Actor{Kind: "cli", Name: "t"}, org, "ci-bot", "", ""); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{postgres.BreakGlassUserName, "ci-bot"} {
		_, _, err := e.db.LinkLogin(ctx, org, directory.LoginClaims{Issuer: e.idp.Issuer(), Subject: "x-" + name, Email: name, EmailVerified: true},
			directory.JITPolicy{Mode: directory.JITAny})
		if err == nil || !strings.Contains(err.Error(), "cannot sign in") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An unknown organization or one without an IdP: a page, not a crash.
	status, body, _ := get(t, browser(t, false), e.srv.URL+"/auth/nope/login")
	if status != 404 || !strings.Contains(body, "no identity provider") {
		t.Fatalf("unknown org: %d %s", status, body)
	}
}

func TestValidateSettings(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	err := oidc.ValidateSettings(context.Background(), egress.Policy{AllowPrivate: true}, nil, dead.URL)
	if err == nil || err.Error() != "the issuer "+dead.URL+" is not reachable for OpenID Connect discovery" {
		t.Fatalf("got %v", err)
	}
}
