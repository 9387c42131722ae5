package oidc_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

func do(t *testing.T, c *http.Client, method, u string, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) makeAdmin(org, userID string) {
	e.t.Helper()
	if _, err := e.db.CreateBinding(context.Background(), directory.Actor{Kind: "cli", Name: "test"},
		directory.Binding{OrgID: e.orgs[org].ID, Role: directory.RoleOrgAdmin, UserID: userID}); err != nil {
		e.t.Fatal(err)
	}
}

func TestAdminAPIWithTheLoginSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly}, "a", "b")
	admin := e.scimUser("a", "admin@a.example", "", true)
	e.makeAdmin("a", admin.ID)
	c := browser(t, true)
	status, body := e.login(c, "a", idpUser{sub: "s-admin", email: "admin@a.example", verified: true})
	if status != 200 {
		t.Fatalf("login: %d %s", status, body)
	}
	csrf, _ := me(t, body)["csrfToken"].(string)
	if csrf == "" {
		t.Fatalf("me has no csrfToken: %s", body)
	}
	base := e.srv.URL + "/api/v1/orgs/"
	invite := `{"email":"new@a.example"}`
	cases := []struct {
		name   string
		method string
		url    string
		body   string
		header map[string]string
		want   int
	}{
		{"a read needs no CSRF token", "GET", base + "a/users", "", nil, 200},
		{"a write without the CSRF token is refused", "POST", base + "a/invitations", invite, nil, 403},
		{"a write with a wrong CSRF token is refused", "POST", base + "a/invitations", invite, map[string]string{"X-CSRF-Token": "forged"}, 403},
		{"a write from another origin is refused", "POST", base + "a/invitations", invite,
			map[string]string{"X-CSRF-Token": csrf, "Origin": "https://evil.example"}, 403},
		{"a write with the CSRF token and our origin passes", "POST", base + "a/invitations", invite,
			map[string]string{"X-CSRF-Token": csrf, "Origin": e.srv.URL}, 201},
		{"the session is no credential for another organization", "GET", base + "b/users", "", nil, 401},
	}
	for _, tc := range cases {
		if got, body := do(t, c, tc.method, tc.url, tc.body, tc.header); got != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.name, got, tc.want, body)
		}
	}
	// The invitation was written once, by the session's user.
	invs, err := e.db.Invitations(context.Background(), e.orgs["a"].ID, true)
	if err != nil || len(invs) != 1 || !strings.Contains(invs[0].InvitedBy, "admin@a.example") {
		t.Fatalf("invitations: %+v %v", invs, err)
	}

	// A member who is no admin is refused management, with the session.
	e.scimUser("a", "bea@a.example", "", true)
	c2 := browser(t, true)
	if status, body := e.login(c2, "a", idpUser{sub: "s-bea", email: "bea@a.example", verified: true}); status != 200 {
		t.Fatalf("login: %d %s", status, body)
	}
	if got, body := do(t, c2, "GET", base+"a/users", "", nil); got != 403 {
		t.Fatalf("non-admin: %d %s", got, body)
	}
	// Deactivating the admin ends the session for the API at once.
	if _, err := e.db.UpdateUser(context.Background(), directory.Actor{Kind: "scim-token", Name: "t"}, e.orgs["a"].ID, admin.ID, 0,
		func(u directory.User) (directory.User, error) {
			u.Attributes["active"] = false
			return u, nil
		}); err != nil {
		t.Fatal(err)
	}
	if got, body := do(t, c, "GET", base+"a/users", "", nil); got != 401 {
		t.Fatalf("after deactivation: %d %s", got, body)
	}
}

// invitationLink queues and "sends" the invitation's mail, returning the
// join link's token as the mail would carry it.
func (e *env) invitationLink(org, email string, anyEmail bool) string {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.db.CreateInvitation(ctx, directory.Actor{Kind: "cli", Name: "test"}, e.orgs[org].ID, email, anyEmail,
		[]directory.Binding{{OrgID: e.orgs[org].ID, Role: directory.RoleOrgAdmin}}, 0); err != nil {
		e.t.Fatal(err)
	}
	var secret string
	if _, err := e.db.DeliverNext(ctx, func(_ context.Context, _ directory.Invitation, s string) error {
		secret = s
		return nil
	}); err != nil || secret == "" {
		e.t.Fatalf("deliver: %v", err)
	}
	return secret
}

func TestInvitationAcceptedThroughLogin(t *testing.T) {
	t.Parallel()
	// scim-only: the invitation, not the JIT policy, lets the new member in.
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	token := e.invitationLink("acme", "cleo@example.com", false)
	join := e.srv.URL + "/invite/accept?token=" + url.QueryEscape(token)

	// Another address may not use Cleo's invitation.
	e.idp.QueueUser(idpUser{sub: "s-eve", email: "eve@example.com", verified: true})
	status, body, _ := get(t, browser(t, true), join)
	if status != 403 || !strings.Contains(body, "cleo@example.com") {
		t.Fatalf("another address: %d %s", status, body)
	}
	// The page is no dead end: it offers to sign in with another account
	// (the IdP asked to authenticate afresh) and the way back, and its
	// message reads as a sentence.
	another := `<a href="/invite/accept?another=1&amp;token=` + url.QueryEscape(token) + `">Use another account</a>`
	if !strings.Contains(body, another) || !strings.Contains(body, `<a href="/">Back to the start page</a>`) {
		t.Fatalf("the wrong-account page offers no way on: %s", body)
	}
	if _, reason, _ := strings.Cut(body, "<p>"); reason == "" || reason[0] < 'A' || reason[0] > 'Z' {
		t.Fatalf("the message starts %q", reason[:min(len(reason), 20)])
	}
	_, _, resp := get(t, browser(t, false), e.srv.URL+"/invite/accept?another=1&token="+url.QueryEscape(token))
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.Contains(loc, "prompt=login") {
		t.Fatalf("use another account: %d → %q, want the IdP with prompt=login", resp.StatusCode, loc)
	}
	_, _, resp = get(t, browser(t, false), join)
	if loc := resp.Header.Get("Location"); strings.Contains(loc, "prompt=") {
		t.Fatalf("a first join asks the IdP for %q: it should reuse the IdP's session", loc)
	}
	// Cleo joins: she lands in the console, a member with the invitation's grant.
	e.idp.QueueUser(idpUser{sub: "s-cleo", email: "Cleo@example.com", verified: true, name: "Cleo"})
	c := browser(t, false)
	status, _, resp = get(t, c, join)
	for status == http.StatusFound && !strings.HasPrefix(resp.Header.Get("Location"), "/orgs/") {
		status, _, resp = get(t, c, resp.Request.URL.ResolveReference(mustURL(t, resp.Header.Get("Location"))).String())
	}
	if loc := resp.Header.Get("Location"); status != http.StatusFound || loc != "/orgs/acme/" {
		t.Fatalf("after acceptance: %d → %q", status, loc)
	}
	status, body, _ = get(t, c, e.srv.URL+"/auth/acme/me")
	if status != 200 || me(t, body)["source"] != "invitation" {
		t.Fatalf("me: %d %s", status, body)
	}
	id := me(t, body)["id"].(string)
	acc, err := e.db.Access(context.Background(), e.orgs["acme"].ID, id)
	if err != nil || !acc.Authorize(directory.ActionManageOrg, "").Allowed {
		t.Fatalf("the invitation's grant did not come with it: %+v %v", acc, err)
	}
	// The link works once.
	e.idp.QueueUser(idpUser{sub: "s-cleo", email: "cleo@example.com", verified: true})
	if status, body, _ := get(t, browser(t, true), join); status != 404 && status != 410 {
		t.Fatalf("second use: %d %s", status, body)
	}
	// Her next login finds her by the stored link, under scim-only, even
	// with another email.
	if status, body := e.login(browser(t, true), "acme", idpUser{sub: "s-cleo", email: "cleo@elsewhere.example", verified: true}); status != 200 || me(t, body)["id"] != id {
		t.Fatalf("next login: %d %s", status, body)
	}
	if status, body, _ := get(t, browser(t, true), e.srv.URL+"/invite/accept?token=scb_inv_made-up"); status != 404 {
		t.Fatalf("made-up link: %d %s", status, body)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestRemovedMemberInvitedBackIsTheSameUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	ctx := context.Background()
	token := e.invitationLink("acme", "dan@example.com", false)
	e.idp.QueueUser(idpUser{sub: "s-dan", email: "dan@example.com", verified: true})
	if status, body, _ := get(t, browser(t, true), e.srv.URL+"/invite/accept?token="+url.QueryEscape(token)); status != 200 && status != 404 {
		t.Fatalf("accept: %d %s", status, body)
	}
	dan, err := e.db.FindMember(ctx, e.orgs["acme"].ID, "dan@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.RemoveMember(ctx, directory.Actor{Kind: "cli", Name: "test"}, e.orgs["acme"].ID, dan.ID); err != nil {
		t.Fatal(err)
	}
	// Removal ended his login link: his IdP account signs in as nobody.
	if status, body := e.login(browser(t, true), "acme", idpUser{sub: "s-dan", email: "dan@elsewhere.example", verified: true}); status != 403 {
		t.Fatalf("a removed member's old login: %d %s", status, body)
	}
	token = e.invitationLink("acme", "dan@example.com", false) // no 409 for a removed member
	// He comes back with the same IdP account.
	e.idp.QueueUser(idpUser{sub: "s-dan", email: "dan@example.com", verified: true})
	if status, body, _ := get(t, browser(t, true), e.srv.URL+"/invite/accept?token="+url.QueryEscape(token)); status != 200 && status != 404 {
		t.Fatalf("accept again: %d %s", status, body)
	}
	back, err := e.db.FindMember(ctx, e.orgs["acme"].ID, "dan@example.com")
	if err != nil || back.ID != dan.ID || back.Status() != directory.StatusActive {
		t.Fatalf("revived: %+v %v (was %s)", back, err, dan.ID)
	}
}

func TestBreakGlassLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	ctx := context.Background()
	org := e.orgs["acme"]
	secret, _, err := e.db.CreateBreakGlassLink(ctx, directory.Actor{Kind: "cli", Name: "operator"}, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := browser(t, false)
	// Opening the link spends nothing: it asks to confirm with a POST.
	status, body, _ := get(t, c, e.srv.URL+"/auth/acme/breakglass?token="+url.QueryEscape(secret))
	if status != 200 || !strings.Contains(body, `method="post"`) {
		t.Fatalf("page: %d %s", status, body)
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
	if resp := post(c, secret); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orgs/acme/" {
		t.Fatalf("confirm: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	status, body, _ = get(t, c, e.srv.URL+"/auth/acme/me")
	if status != 200 || me(t, body)["userName"] != postgres.BreakGlassUserName {
		t.Fatalf("me: %d %s", status, body)
	}
	// The owner is Org Admin, through the session, without any IdP.
	if got, body := do(t, c, "GET", e.srv.URL+"/api/v1/orgs/acme/users", "", nil); got != 200 {
		t.Fatalf("admin API: %d %s", got, body)
	}
	// Once only.
	if resp := post(browser(t, false), secret); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("reuse: %d", resp.StatusCode)
	}
	events, _, err := e.db.QueryAudit(ctx, org.ID, postgres.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, ev := range events {
		seen[ev.Action]++
	}
	if seen["breakglass.link"] != 1 || seen["breakglass.login"] != 1 || seen["breakglass.denied"] != 1 {
		t.Fatalf("audit: %v", seen)
	}
	// Failures are recorded up to the limit, no further, and answered
	// alike under and over it (TestBreakGlassAnswersAlike…); a valid link
	// still works, so junk requests cannot lock the owner out.
	bad := "scb_brk_" + strings.Repeat("x", 43)
	for range 10 {
		if resp := post(browser(t, false), bad); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a bad link: %d", resp.StatusCode)
		}
	}
	if _, _, err := e.db.UseBreakGlassLink(ctx, "acme", bad, "test"); !errors.Is(err, directory.ErrRateLimited) {
		t.Fatalf("store: %v", err)
	}
	good, _, err := e.db.CreateBreakGlassLink(ctx, directory.Actor{Kind: "cli", Name: "operator"}, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if resp := post(browser(t, false), good); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a valid link after the failures: %d", resp.StatusCode)
	}
	events, _, _ = e.db.QueryAudit(ctx, org.ID, postgres.AuditQuery{Action: "breakglass.denied", Limit: 100})
	if len(events) != directory.BreakGlassMaxFailures {
		t.Fatalf("%d denials audited, want %d (none past the limit)", len(events), directory.BreakGlassMaxFailures)
	}
}

func TestIdPSettingsThroughTheAdminAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	admin := e.scimUser("acme", "admin@example.com", "", true)
	e.makeAdmin("acme", admin.ID)
	c := browser(t, true)
	_, body := e.login(c, "acme", idpUser{sub: "s-admin", email: "admin@example.com", verified: true})
	w := map[string]string{"X-CSRF-Token": me(t, body)["csrfToken"].(string)}
	u := e.srv.URL + "/api/v1/orgs/acme/idp"

	status, body := do(t, c, "GET", u, "", nil)
	if status != 200 || strings.Contains(body, e.idp.ClientSecret) || !strings.Contains(body, `"clientSecretSet":true`) {
		t.Fatalf("get: %d %s", status, body)
	}
	cases := []struct {
		name, body, want string
		status           int
	}{
		{"an issuer that does not answer discovery", `{"issuer":"http://127.0.0.1:1/nothing","clientId":"x"}`, "discovery", 400},
		{"plain http to another host", `{"issuer":"http://idp.example","clientId":"x"}`, "https", 400},
		{"an unknown policy", `{"issuer":"` + e.idp.Issuer() + `","clientId":"x","jit":"anyone"}`, "JIT policy", 400},
		{"a domain policy without domains", `{"issuer":"` + e.idp.Issuer() + `","clientId":"x","jit":"jit-with-domain"}`, "domain", 400},
		{"an unknown field", `{"issuer":"` + e.idp.Issuer() + `","clientId":"x","secret":"s"}`, "secret", 400},
		{"jit for one domain, the secret kept", `{"issuer":"` + e.idp.Issuer() + `","clientId":"` + e.idp.ClientID +
			`","jit":"jit-with-domain","jitDomains":["@Example.com"]}`, `"jitDomains":["example.com"]`, 200},
	}
	for _, tc := range cases {
		status, body := do(t, c, "PUT", u, tc.body, w)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s", tc.name, status, body)
		}
	}
	// The saved policy applies to the next login, and the kept secret
	// still works at the token endpoint.
	if status, body := e.login(browser(t, true), "acme", idpUser{sub: "s-new", email: "new@example.com", verified: true}); status != 200 {
		t.Fatalf("JIT login after the change: %d %s", status, body)
	}
	if status, body := do(t, c, "PUT", u, `{"issuer":"`+e.idp.Issuer()+`","clientId":"x"}`, nil); status != 403 {
		t.Fatalf("a write without the CSRF token: %d %s", status, body)
	}
}

// A user no SCIM client manages gets the group bindings of the groups
// their IdP names at sign-in (the configured groups claim); a SCIM user's
// groups come from SCIM only.
func TestGroupsClaimOfSignInGrantsMappedRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITAny})
	ctx := context.Background()
	org := e.orgs["acme"]
	ws, err := e.db.CreateWorkspace(ctx, directory.Actor{Kind: "cli", Name: "t"}, org.ID, "data-eng", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []directory.Binding{
		{OrgID: org.ID, Role: directory.RoleEditor, WorkspaceID: ws.ID, GroupMatch: directory.MatchGroupDisplayName, GroupValue: "Data-Platform"},
		{OrgID: org.ID, Role: directory.RoleViewer, WorkspaceID: ws.ID, GroupMatch: directory.MatchGroupExternalID, GroupValue: "6f1c-entra-object-id"},
	} {
		if _, err := e.db.CreateBinding(ctx, directory.Actor{Kind: "cli", Name: "t"}, b); err != nil {
			t.Fatal(err)
		}
	}
	withGroups := func(groups ...any) func(m jwt.MapClaims) {
		return func(m jwt.MapClaims) { m["groups"] = groups }
	}
	role := func(userID string) (directory.Role, string) {
		t.Helper()
		acc, err := e.db.Access(ctx, org.ID, userID)
		if err != nil {
			t.Fatal(err)
		}
		d := acc.Authorize(directory.ActionViewPipes, ws.ID)
		return d.Role, d.Reason
	}
	cases := []struct {
		name   string
		groups []any
		want   directory.Role
		reason string
	}{
		{"a named group's binding applies", []any{"Data-Platform", "Other"}, directory.RoleEditor, `via group "Data-Platform" (from the last sign-in)`},
		{"an Entra group object id matches by externalId", []any{"6f1c-entra-object-id"}, directory.RoleViewer, "6f1c-entra-object-id"},
		{"the next sign-in without the group takes it away", []any{"Other"}, directory.RoleNone, ""},
		{"no groups claim: no groups", nil, directory.RoleNone, ""},
	}
	var id string
	for _, c := range cases {
		u := idpUser{sub: "s-jay", email: "jay@example.com", verified: true}
		if c.groups != nil {
			u.tweak = withGroups(c.groups...)
		}
		status, body := e.login(browser(t, true), "acme", u)
		if status != 200 {
			t.Fatalf("%s: login %d %s", c.name, status, body)
		}
		id = me(t, body)["id"].(string)
		if got, reason := role(id); got != c.want || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: %s (%s), want %s", c.name, got, reason, c.want)
		}
	}
	// A SCIM user's groups claim is ignored: SCIM says which groups they are in.
	sam := e.scimUser("acme", "sam@example.com", "", true)
	if status, body := e.login(browser(t, true), "acme", idpUser{sub: "s-sam", email: "sam@example.com", verified: true,
		tweak: withGroups("Data-Platform")}); status != 200 {
		t.Fatalf("SCIM user login: %d %s", status, body)
	}
	if got, _ := role(sam.ID); got != directory.RoleNone {
		t.Fatalf("a SCIM user got %s from a groups claim", got)
	}
}

func TestLoginWithoutReturnToLandsOnTheConsole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITAny})
	e.idp.QueueUser(idpUser{sub: "s-kim", email: "kim@example.com", verified: true})
	c := browser(t, false)
	status, _, resp := get(t, c, e.srv.URL+"/auth/acme/login")
	for status == http.StatusFound && !strings.HasPrefix(resp.Header.Get("Location"), "/") {
		status, _, resp = get(t, c, resp.Header.Get("Location"))
	}
	if loc := resp.Header.Get("Location"); status != http.StatusFound || loc != "/orgs/acme/" {
		t.Fatalf("after sign-in: %d → %q", status, loc)
	}
}

// Signing in first with an unverified address and then letting the IdP
// push that address's real owner takes over nothing.
func TestUnverifiedFirstLoginCannotInheritAProvisionedAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITAny})
	ctx := context.Background()
	status, body := e.login(browser(t, true), "acme", idpUser{sub: "s-mallory", email: "ceo@example.com", verified: false})
	if status != 200 {
		t.Fatalf("mallory: %d %s", status, body)
	}
	mallory := me(t, body)["id"]
	ceo, err := e.db.CreateUser(ctx, directory.Actor{Kind: "scim-token", Name: "okta"}, directory.User{OrgID: e.orgs["acme"].ID,
		Attributes: map[string]any{"userName": "ceo", "active": true, "emails": []any{map[string]any{"value": "ceo@example.com"}}}})
	if err != nil {
		t.Fatal(err)
	}
	e.makeAdmin("acme", ceo.ID)
	if ceo.ID == mallory {
		t.Fatal("the push adopted the unverified JIT user")
	}
	if _, body := e.login(browser(t, true), "acme", idpUser{sub: "s-mallory", email: "ceo@example.com"}); me(t, body)["id"] != mallory {
		t.Fatalf("mallory's next login: %s", body)
	}
	if _, body := e.login(browser(t, true), "acme", idpUser{sub: "s-ceo", email: "ceo@example.com", verified: true}); me(t, body)["id"] != ceo.ID {
		t.Fatalf("the CEO's verified login did not find the provisioned account: %s", body)
	}
}
