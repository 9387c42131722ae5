package oidc_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/oidc"
)

// The promises of README.md about sign-in that no other test pins down.
// Times in the store are the database's clock, shared by every replica;
// the tests age rows in the database (by exactly the amount under test)
// rather than sleep.

// claimsUser is a person at the provider whose ID token and userinfo
// answer are given verbatim: the provider sends what a real one may.
type claimsUser struct {
	sub  string
	id   map[string]any // claims of the ID token besides the standard ones
	info map[string]any // the userinfo answer; nil: {"sub": sub}
}

func (u claimsUser) ID() string { return u.sub }

func (u claimsUser) Userinfo([]string) ([]byte, error) {
	if u.info == nil {
		return json.Marshal(map[string]any{"sub": u.sub})
	}
	return json.Marshal(u.info)
}

func (u claimsUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	b, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	m := jwt.MapClaims{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range u.id {
		m[k] = v
	}
	return m, nil
}

// loginAs runs the whole redirect dance for u and returns the final page.
func (e *env) loginAs(c *http.Client, org string, u mockoidc.User) (int, string) {
	e.t.Helper()
	e.idp.QueueUser(u)
	status, body, _ := get(e.t, c, e.srv.URL+"/auth/"+org+"/login?return_to="+url.QueryEscape("/auth/"+org+"/me"))
	return status, body
}

func (e *env) sessionCookie(c *http.Client, org string) string {
	u, _ := url.Parse(e.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == oidc.SessionCookieName(org) {
			return ck.Value
		}
	}
	return ""
}

// age moves a row's times back by d, as if d had passed.
func (e *env) age(table, idColumn string, id any, d time.Duration, columns ...string) {
	e.t.Helper()
	set := make([]string, len(columns))
	for i, c := range columns {
		set[i] = c + " = " + c + " - $2::interval"
	}
	tag, err := e.db.Pool.Exec(context.Background(), `UPDATE `+table+` SET `+strings.Join(set, ", ")+` WHERE `+idColumn+` = $1`, id, d)
	if err != nil || tag.RowsAffected() == 0 {
		e.t.Fatalf("age %s: %v (%d rows)", table, err, tag.RowsAffected())
	}
}

func TestBreakGlassLinkLivesFifteenMinutesAndItsSessionOneHour(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	ctx := context.Background()
	org := e.orgs["acme"]
	mint := func() string {
		t.Helper()
		secret, expires, err := e.db.CreateBreakGlassLink(ctx, directory.Actor{Kind: "cli", Name: "operator"}, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		var created time.Time
		if err := e.db.Pool.QueryRow(ctx, `SELECT created_at FROM breakglass_links WHERE token_hash = $1`, directory.HashSecret(secret)).Scan(&created); err != nil {
			t.Fatal(err)
		}
		if got := expires.Sub(created); got != 15*time.Minute {
			t.Fatalf("a link lives %s, want 15m", got)
		}
		return secret
	}
	page := func(token string) (int, string) {
		status, body, _ := get(t, browser(t, false), e.srv.URL+"/auth/acme/breakglass?token="+url.QueryEscape(token))
		return status, body
	}
	post := func(c *http.Client, token string) *http.Response {
		t.Helper()
		resp, err := c.PostForm(e.srv.URL+"/auth/acme/breakglass", url.Values{"token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	const refused = "This break-glass link is not valid: it is unknown, used already or expired."

	// Near the end of its quarter of an hour, a link still works.
	young := mint()
	e.age("breakglass_links", "token_hash", directory.HashSecret(young), 14*time.Minute+30*time.Second, "created_at", "expires_at")
	if status, body := page(young); status != 200 || !strings.Contains(body, "Break-glass sign-in to acme") {
		t.Fatalf("a link 14m30s old, page: %d %s", status, body)
	}
	c := browser(t, false)
	resp := post(c, young)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orgs/acme/" {
		t.Fatalf("a link 14m30s old, sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Its session lasts one hour: the row's absolute expiry, and the cookie.
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == oidc.SessionCookieName("acme") {
			cookie = ck
		}
	}
	if cookie == nil || cookie.MaxAge != 3600 {
		t.Fatalf("session cookie: %+v", cookie)
	}
	var lifetime time.Duration
	if err := e.db.Pool.QueryRow(ctx, `SELECT expires_at - created_at FROM sessions WHERE id_hash = $1`, directory.HashSecret(cookie.Value)).Scan(&lifetime); err != nil {
		t.Fatal(err)
	}
	if lifetime != time.Hour {
		t.Fatalf("a break-glass session lives %s, want 1h", lifetime)
	}
	// The console learns it is a break-glass session and when it ends.
	status, body, _ := get(t, c, e.srv.URL+"/auth/acme/me")
	var me struct {
		BreakGlass       bool      `json:"breakGlass"`
		SessionExpiresAt time.Time `json:"sessionExpiresAt"`
	}
	if err := json.Unmarshal([]byte(body), &me); status != 200 || err != nil || !me.BreakGlass ||
		me.SessionExpiresAt.Before(time.Now().Add(59*time.Minute)) || me.SessionExpiresAt.After(time.Now().Add(61*time.Minute)) {
		t.Fatalf("me of a break-glass session: %d %s", status, body)
	}
	// The browser that spent the link, coming back with it (the back
	// button, a second click), is sent to the console: nothing is spent
	// or counted toward the lockout. Another browser with it is refused.
	denials := func() int {
		var n int
		if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE org_id = $1 AND action = 'breakglass.denied'`, org.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if resp := post(c, young); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orgs/acme/" || denials() != 0 {
		t.Fatalf("the spent link again from its browser: %d %q, %d denials", resp.StatusCode, resp.Header.Get("Location"), denials())
	}
	if status, _, resp := get(t, c, e.srv.URL+"/auth/acme/breakglass?token="+url.QueryEscape(young)); status != http.StatusSeeOther || resp.Header.Get("Location") != "/orgs/acme/" {
		t.Fatalf("the spent link's page from its browser: %d", status)
	}
	if resp := post(browser(t, false), young); resp.StatusCode != 401 || denials() != 1 {
		t.Fatalf("the spent link from another browser: %d, %d denials", resp.StatusCode, denials())
	}

	// Past it, the link is refused on GET and POST alike, with nothing spent.
	old := mint()
	e.age("breakglass_links", "token_hash", directory.HashSecret(old), 15*time.Minute+time.Second, "created_at", "expires_at")
	if status, body := page(old); status != 401 || !strings.Contains(body, refused) || strings.Contains(body, "acme") {
		t.Fatalf("an expired link, page: %d %s", status, body)
	}
	if resp := post(browser(t, false), old); resp.StatusCode != 401 || len(resp.Cookies()) != 0 {
		t.Fatalf("an expired link, sign-in: %d %v", resp.StatusCode, resp.Cookies())
	}
}

func TestBreakGlassFailuresAreCountedOverAQuarterOfAnHour(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	ctx := context.Background()
	org := e.orgs["acme"]
	bad := "scb_brk_" + strings.Repeat("y", 43)
	fail := func() {
		t.Helper()
		resp, err := browser(t, false).PostForm(e.srv.URL+"/auth/acme/breakglass", url.Values{"token": {bad}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("a bad link: %d", resp.StatusCode)
		}
	}
	denials := func() int {
		t.Helper()
		var n int
		if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE org_id = $1 AND action = 'breakglass.denied'`, org.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range directory.BreakGlassMaxFailures + 1 {
		fail()
	}
	if n := denials(); n != directory.BreakGlassMaxFailures {
		t.Fatalf("%d denials recorded, want %d", n, directory.BreakGlassMaxFailures)
	}
	// 14 minutes later the window still holds them: nothing more is written.
	if _, err := e.db.Pool.Exec(ctx, `UPDATE audit_events SET occurred_at = occurred_at - interval '14 minutes'
		WHERE org_id = $1 AND action = 'breakglass.denied'`, org.ID); err != nil {
		t.Fatal(err)
	}
	fail()
	if n := denials(); n != directory.BreakGlassMaxFailures {
		t.Fatalf("14 minutes on: %d denials recorded, want %d", n, directory.BreakGlassMaxFailures)
	}
	// Past 15 minutes they have left the window: failures are recorded again.
	if _, err := e.db.Pool.Exec(ctx, `UPDATE audit_events SET occurred_at = occurred_at - interval '61 seconds'
		WHERE org_id = $1 AND action = 'breakglass.denied'`, org.ID); err != nil {
		t.Fatal(err)
	}
	fail()
	if n := denials(); n != directory.BreakGlassMaxFailures+1 {
		t.Fatalf("15 minutes on: %d denials recorded, want %d", n, directory.BreakGlassMaxFailures+1)
	}
}

func TestLogoutEndsTheSessionAtTheProviderWhenItOffersRPInitiatedLogout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, endSession string
		want             func(e *env) string
	}{
		{"the provider names end_session_endpoint", "/oidc/logout?ui_locales=en", func(e *env) string {
			return e.idp.Addr() + "/oidc/logout?" + url.Values{"client_id": {e.idp.ClientID}, "post_logout_redirect_uri": {e.srv.URL + "/"},
				"ui_locales": {"en"}}.Encode()
		}},
		{"the provider names none", "", func(*env) string { return "/" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, directory.JITPolicy{Mode: directory.JITAny})
			if tc.endSession != "" {
				end := e.idp.Addr() + tc.endSession
				e.endSession.Store(&end)
			}
			c := browser(t, true)
			status, body := e.login(c, "acme", idpUser{sub: "s-lou", email: "lou@example.com", verified: true})
			if status != 200 {
				t.Fatalf("login: %d %s", status, body)
			}
			id := e.sessionCookie(c, "acme")
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := c.PostForm(e.srv.URL+"/auth/acme/logout", url.Values{"csrf_token": {me(t, body)["csrfToken"].(string)}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.want(e) {
				t.Fatalf("logout: %d → %q, want %q", resp.StatusCode, resp.Header.Get("Location"), tc.want(e))
			}
			var revoked bool
			if err := e.db.Pool.QueryRow(context.Background(), `SELECT revoked_at IS NOT NULL FROM sessions WHERE id_hash = $1`,
				directory.HashSecret(id)).Scan(&revoked); err != nil || !revoked {
				t.Fatalf("session not ended: %v %v", revoked, err)
			}
		})
	}
}

func TestClaimsMissingFromTheIDTokenComeFromUserinfoOfTheSameSubject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITAny})
	ctx := context.Background()
	ws, err := e.db.CreateWorkspace(ctx, directory.Actor{Kind: "cli", Name: "t"}, e.orgs["acme"].ID, "ops", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateBinding(ctx, directory.Actor{Kind: "cli", Name: "t"}, directory.Binding{OrgID: e.orgs["acme"].ID,
		Role: directory.RoleEditor, WorkspaceID: ws.ID, GroupMatch: directory.MatchGroupDisplayName, GroupValue: "Ops"}); err != nil {
		t.Fatal(err)
	}

	t.Run("fallback", func(t *testing.T) {
		// An Entra-like ID token with nothing but the subject.
		status, body := e.loginAs(browser(t, true), "acme", claimsUser{sub: "s-una", info: map[string]any{
			"sub": "s-una", "email": "una@example.com", "email_verified": true, "name": "Una From Userinfo", "groups": []any{"Ops"}}})
		if status != 200 {
			t.Fatalf("login: %d %s", status, body)
		}
		m := me(t, body)
		if m["userName"] != "una@example.com" || m["displayName"] != "Una From Userinfo" || m["source"] != directory.SourceJIT {
			t.Fatalf("me: %v", m)
		}
		acc, err := e.db.Access(ctx, e.orgs["acme"].ID, m["id"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if d := acc.Authorize(directory.ActionViewPipes, ws.ID); d.Role != directory.RoleEditor {
			t.Fatalf("the userinfo groups were not read: %s (%s)", d.Role, d.Reason)
		}
	})
	t.Run("the ID token wins over userinfo", func(t *testing.T) {
		status, body := e.loginAs(browser(t, true), "acme", claimsUser{sub: "s-vic",
			id:   map[string]any{"name": "Vic From The ID Token"},
			info: map[string]any{"sub": "s-vic", "email": "vic@example.com", "email_verified": true, "name": "Vic From Userinfo"}})
		if m := me(t, body); status != 200 || m["displayName"] != "Vic From The ID Token" || m["userName"] != "vic@example.com" {
			t.Fatalf("login: %d %s", status, body)
		}
	})
	t.Run("userinfo of another subject is refused", func(t *testing.T) {
		c := browser(t, true)
		status, body := e.loginAs(c, "acme", claimsUser{sub: "s-wes", info: map[string]any{
			"sub": "s-someone-else", "email": "ceo@example.com", "email_verified": true}})
		if status != http.StatusBadGateway || !strings.Contains(body, "The identity provider&#39;s claims could not be read.") {
			t.Fatalf("login: %d %s", status, body)
		}
		if id := e.sessionCookie(c, "acme"); id != "" {
			t.Fatalf("a session was set: %s", id)
		}
		var n int
		if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE org_id = $1 AND user_name = 'ceo@example.com'`, e.orgs["acme"].ID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("a user was created from another subject's userinfo: %d %v", n, err)
		}
	})
}

func TestTheProvidersErrorReplyIsAClearPageAndNoSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITAny})
	c := browser(t, false)
	cb, _ := url.Parse(e.dance(c, "acme", idpUser{sub: "s-x", email: "x@example.com", verified: true}))
	q := cb.Query()
	q.Del("code")
	q.Set("error", "access_denied")
	q.Set("error_description", "The user is not assigned to this application")
	cb.RawQuery = q.Encode()
	status, body, resp := get(t, c, cb.String())
	want := "<h1>Cannot sign in</h1><p>The identity provider refused the sign-in (access_denied): The user is not assigned to this application.</p>"
	if status != http.StatusForbidden || !strings.Contains(body, want) {
		t.Fatalf("got %d %s", status, body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == oidc.SessionCookieName("acme") && ck.MaxAge >= 0 {
			t.Fatalf("a session cookie was set: %v", ck)
		}
	}
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE org_id = $1`, e.orgs["acme"].ID).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d sessions, %v", n, err)
	}
}

func TestEmailVerifiedSentAsAString(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	pat := e.scimUser("acme", "pat@example.com", "", true)
	verified := func(v any) func(jwt.MapClaims) { return func(m jwt.MapClaims) { m["email_verified"] = v } }
	// "false" is a non-empty string, yet it verifies nothing.
	status, body := e.login(browser(t, true), "acme", idpUser{sub: "s-pat-1", email: "pat@example.com", tweak: verified("false")})
	if status != http.StatusForbidden || !strings.Contains(body, "has no account in this organization") {
		t.Fatalf(`email_verified "false": %d %s`, status, body)
	}
	status, body = e.login(browser(t, true), "acme", idpUser{sub: "s-pat-2", email: "pat@example.com", tweak: verified("true")})
	if status != 200 || me(t, body)["id"] != pat.ID {
		t.Fatalf(`email_verified "true": %d %s`, status, body)
	}
}

func TestGroupsClaimOfASingleString(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITAny})
	ctx := context.Background()
	org := e.orgs["acme"]
	ws, err := e.db.CreateWorkspace(ctx, directory.Actor{Kind: "cli", Name: "t"}, org.ID, "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateBinding(ctx, directory.Actor{Kind: "cli", Name: "t"}, directory.Binding{OrgID: org.ID,
		Role: directory.RoleEditor, WorkspaceID: ws.ID, GroupMatch: directory.MatchGroupDisplayName, GroupValue: "Data-Platform"}); err != nil {
		t.Fatal(err)
	}
	status, body := e.login(browser(t, true), "acme", idpUser{sub: "s-ida", email: "ida@example.com", verified: true,
		tweak: func(m jwt.MapClaims) { m["groups"] = "Data-Platform" }})
	if status != 200 {
		t.Fatalf("login: %d %s", status, body)
	}
	acc, err := e.db.Access(ctx, org.ID, me(t, body)["id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if d := acc.Authorize(directory.ActionViewPipes, ws.ID); d.Role != directory.RoleEditor || !strings.Contains(d.Reason, `via group "Data-Platform"`) {
		t.Fatalf("a single-string groups claim: %s (%s)", d.Role, d.Reason)
	}
}
