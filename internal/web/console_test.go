package web_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/secretbox"
	"github.com/scimbridge/scimbridge/internal/web"
	"github.com/scimbridge/scimbridge/internal/webhooks"
	"github.com/scimbridge/scimbridge/oidc"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// site is the service as serve wires it (login, admin API with the
// session, console) on a real listener, with an in-process OpenID
// Provider and a real PostgreSQL.
type site struct {
	db  *postgres.DB
	idp *mockoidc.MockOIDC
	url string
	org directory.Organization
}

func newSite(t *testing.T) *site {
	t.Helper()
	ctx := context.Background()
	s := &site{db: pgtest.DB(t)}
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	s.idp = idp
	box, err := secretbox.New(randomBytes(secretbox.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	// The provider runs on 127.0.0.1: the operator's flag for test and
	// on-premises IdPs lets the service reach it.
	local := egress.Policy{AllowPrivate: true}
	login, err := oidc.New(oidc.Config{Store: s.db, Box: box, CookieKey: randomBytes(32), PublicURL: srv.URL, Egress: local})
	if err != nil {
		t.Fatal(err)
	}
	login.Mount(mux)
	api.New(api.Config{Store: s.db, Authenticators: []api.Authenticator{api.SessionFunc(login.Session)},
		CSRF:          func(r *http.Request) error { return login.CheckCSRF(r, r.PathValue("org")) },
		Subscriptions: webhooks.Subscriptions{Store: s.db, Box: box, Egress: local}}).Mount(mux)
	web.New().Mount(mux)

	if s.org, err = s.db.CreateOrganization(ctx, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := (oidc.Settings{Store: s.db, Box: box, Egress: local}).SaveIdPSettings(ctx, actor, directory.IdPSettings{OrgID: s.org.ID, Issuer: idp.Issuer(),
		ClientID: idp.ClientID, JIT: directory.JITPolicy{Mode: directory.JITSCIMOnly}}, idp.ClientSecret); err != nil {
		t.Fatal(err)
	}
	return s
}

var actor = directory.Actor{Kind: "cli", Name: "test"}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func (s *site) user(t *testing.T, userName, displayName string) directory.User {
	t.Helper()
	u, err := s.db.CreateUser(context.Background(), directory.Actor{Kind: "scim-token", Name: "okta"}, directory.User{OrgID: s.org.ID,
		Attributes: map[string]any{"userName": userName, "displayName": displayName, "active": true,
			"emails": []any{map[string]any{"value": userName}}}})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// browserPath finds Chromium or Chrome; `make test` installs Chromium
// where it can, so a missing browser is a failure, not a skip.
func browserPath(t *testing.T) string {
	if p := os.Getenv("SCIMBRIDGE_CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium or Chrome found for the console's browser tests: run scripts/ensure-chromium (or apt-get install chromium), or set SCIMBRIDGE_CHROME")
	return ""
}

func browse(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browserPath(t)),
		chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func steps(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage: %s", what, err, body)
	}
}

func read[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// signIn opens a browser and signs in as email from the landing page, by
// organization name, through the IdP, into the console.
func (s *site) signIn(t *testing.T, email string) context.Context {
	t.Helper()
	b := browse(t)
	s.idp.QueueUser(&mockoidc.MockUser{Subject: "okta-" + email, Email: email, EmailVerified: true})
	steps(t, b, "sign in",
		chromedp.Navigate(s.url+"/"),
		chromedp.SendKeys(css("#org"), "acme"),
		chromedp.Submit(css("#org")),
		chromedp.WaitVisible(css(row(email))),
	)
	return b
}

func (s *site) admin(t *testing.T, userName string) directory.User {
	t.Helper()
	u := s.user(t, userName, "")
	if _, err := s.db.CreateBinding(context.Background(), actor, directory.Binding{OrgID: s.org.ID, Role: directory.RoleOrgAdmin, UserID: u.ID}); err != nil {
		t.Fatal(err)
	}
	return u
}

func row(userName string) string { return `#users tbody tr[data-user="` + userName + `"]` }

func TestConsoleManagesUsersThroughTheAPI(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	s.admin(t, "admin@acme.example")
	s.user(t, "sam@acme.example", `<img src=x id=pwned onerror="document.title='pwned'">`)
	ws, err := s.db.CreateWorkspace(ctx, actor, s.org.ID, "data-eng", []directory.Target{{Cluster: "c1", Namespace: "data"}})
	if err != nil {
		t.Fatal(err)
	}
	// Ivy joined by invitation: an org admin may remove her (not a SCIM user).
	ivyInv, err := s.db.CreateInvitation(ctx, actor, s.org.ID, "ivy@acme.example", false, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ivySecret string
	if _, err := s.db.DeliverNext(ctx, func(_ context.Context, _ directory.Invitation, secret string) error { ivySecret = secret; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.db.AcceptInvitation(ctx, ivySecret, directory.Login{Email: "ivy@acme.example", EmailVerified: true}); err != nil {
		t.Fatal(err, ivyInv.ID)
	}

	b := s.signIn(t, "admin@acme.example")
	who := read(t, b, chromedp.Text(css("#whoami")))
	samName := read(t, b, chromedp.Text(css(row("sam@acme.example")+" td:nth-child(2)")))
	pwned := read(t, b, chromedp.Evaluate[int](`document.querySelectorAll("#pwned").length`))
	samRemove := read(t, b, chromedp.Evaluate[int](`document.querySelectorAll('`+row("sam@acme.example")+` [data-action=remove]').length`))
	ivyRemove := read(t, b, chromedp.Evaluate[int](`document.querySelectorAll('`+row("ivy@acme.example")+` [data-action=remove]').length`))
	title := read(t, b, chromedp.Title())
	if who != "Signed in as admin@acme.example" {
		t.Errorf("whoami = %q", who)
	}
	if !strings.HasPrefix(samName, "<img") || pwned != 0 || title == "pwned" {
		t.Errorf("a displayName was rendered as markup: text %q, injected elements %d, title %q", samName, pwned, title)
	}
	if samRemove != 0 || ivyRemove != 1 {
		t.Errorf("remove offered: SCIM user %d (want 0), invited member %d (want 1)", samRemove, ivyRemove)
	}

	// Invite with an initial role: the invitation shows as an invited user.
	steps(t, b, "invite",
		chromedp.SendKeys(css("#invite-email"), "newbie@acme.example"),
		chromedp.SetValue(css("#invite-role"), "editor"),
		chromedp.SetValue(css("#invite-workspace"), "data-eng"),
		chromedp.Click(css("#invite button")),
		chromedp.WaitVisible(css(row("newbie@acme.example")+" .status-invited")),
	)
	invs, err := s.db.Invitations(ctx, s.org.ID, true)
	if err != nil || len(invs) != 1 || invs[0].Email != "newbie@acme.example" || len(invs[0].Bindings) != 1 ||
		invs[0].Bindings[0].Role != directory.RoleEditor || invs[0].Bindings[0].WorkspaceID != ws.ID {
		t.Fatalf("invitation: %+v %v", invs, err)
	}
	// Inviting a member's address: the API's 409 detail is shown.
	steps(t, b, "invite a member",
		chromedp.SendKeys(css("#invite-email"), "sam@acme.example"),
		chromedp.SetValue(css("#invite-role"), ""),
		chromedp.Click(css("#invite button")),
		chromedp.WaitVisible(css("#error")),
	)
	if errText := read(t, b, chromedp.Text(css("#error"))); !strings.Contains(errText, "already a member") {
		t.Errorf("error shown: %q", errText)
	}

	// Grant a direct role, then read it back as effective permissions.
	steps(t, b, "grant and show permissions",
		chromedp.SendKeys(css("#grant-user"), "sam@acme.example"),
		chromedp.SetValue(css("#grant-role"), "viewer"),
		chromedp.SetValue(css("#grant-workspace"), "data-eng"),
		chromedp.Click(css("#grant button")),
		chromedp.WaitVisible(css("#notice")),
		chromedp.Click(css(row("sam@acme.example")+" [data-action=permissions]")),
		chromedp.WaitVisible(css("#perm-summary li")),
	)
	summary := read(t, b, chromedp.Text(css("#perm-summary")))
	sam, _ := s.db.FindMember(ctx, s.org.ID, "sam@acme.example")
	acc, err := s.db.Access(ctx, s.org.ID, sam.ID)
	if err != nil || !acc.Authorize(directory.ActionViewPipes, ws.ID).Allowed || acc.Authorize(directory.ActionRunPipes, ws.ID).Allowed {
		t.Fatalf("grant did not land as viewer: %v", err)
	}
	if !strings.Contains(strings.ToLower(summary), "viewer") || !strings.Contains(summary, "data-eng") {
		t.Errorf("permissions shown: %q", summary)
	}

	// Remove Ivy (the confirm dialog is accepted).
	read(t, b, chromedp.Evaluate[bool](`window.confirm = () => true, true`))
	steps(t, b, "remove",
		chromedp.Click(css(row("ivy@acme.example")+" [data-action=remove]")),
		chromedp.WaitVisible(css(row("ivy@acme.example")+" .status-removed")),
	)
	if ivy, err := s.db.FindMember(ctx, s.org.ID, "ivy@acme.example"); err != nil || ivy.Status() != directory.StatusRemoved {
		t.Fatalf("ivy: %+v %v", ivy, err)
	}

	// Signing out ends the session.
	steps(t, b, "sign out",
		chromedp.Click(css("#logout button")),
		chromedp.WaitVisible(css("#org")),
	)
	if status := read(t, b, chromedp.Evaluate[int](`fetch("/auth/acme/me").then(r => r.status)`, chromedp.EvalAwaitPromise)); status != http.StatusUnauthorized {
		t.Fatalf("after sign out, /auth/acme/me = %d", status)
	}
}

func TestConsoleMapsGitIdentities(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	s.admin(t, "admin@acme.example")
	sam := s.user(t, "sam@acme.example", "Sam")
	now := time.Now()
	if _, err := s.db.IngestGitObservations(ctx, s.org.ID, []directory.GitObservation{
		{Provider: "github", Repo: "acme/pipes", SHA: strings.Repeat("a", 40), Name: "Sam", Email: "Sam@Acme.example", Login: "samgh", At: now, Role: "author"},
		{Provider: "github", Repo: "acme/pipes", SHA: strings.Repeat("b", 40), Name: "CI", Email: "ci@build.local", At: now, Role: "author"},
	}); err != nil {
		t.Fatal(err)
	}
	b := s.signIn(t, "admin@acme.example")
	samRow := `#git tbody tr[data-identity="sam@acme.example"]`
	// The suggestion (Sam's verified email) is offered; mapping takes one click.
	steps(t, b, "map",
		chromedp.WaitVisible(css(samRow+" [data-action=map]")),
		chromedp.Click(css(samRow+" [data-action=map]")),
		chromedp.WaitVisible(css(samRow+" [data-action=unmap]")),
	)
	if got := read(t, b, chromedp.Text(css(samRow+" .mapped-to"))); got != "sam@acme.example" {
		t.Fatalf("mapped to %q", got)
	}
	who, err := s.db.ResolveGit(ctx, s.org.ID, "github", "sam@acme.example", "")
	if err != nil || who.User.ID != sam.ID {
		t.Fatalf("resolve after mapping: %+v %v", who, err)
	}
	// Mapping the robot's identity to nobody known is refused with the API's reason.
	ciRow := `#git tbody tr[data-identity="ci@build.local"]`
	steps(t, b, "map to an unknown user",
		chromedp.SendKeys(css(ciRow+" input"), "nobody@acme.example"),
		chromedp.Click(css(ciRow+" [data-action=map]")),
		chromedp.WaitVisible(css("#error")),
	)
	if msg := read(t, b, chromedp.Text(css("#error"))); !strings.Contains(msg, "nobody@acme.example") {
		t.Fatalf("error %q", msg)
	}
	read(t, b, chromedp.Evaluate[bool](`window.confirm = () => true, true`))
	steps(t, b, "unmap",
		chromedp.Click(css(samRow+" [data-action=unmap]")),
		chromedp.WaitVisible(css(samRow+" [data-action=map]")),
	)
	if _, err := s.db.ResolveGit(ctx, s.org.ID, "github", "sam@acme.example", ""); err == nil {
		t.Fatal("still resolves after unmapping")
	}
}

func TestConsoleMapsGroupsToRoles(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	s.admin(t, "admin@acme.example")
	sam := s.user(t, "sam@acme.example", "Sam")
	if _, err := s.db.CreateGroup(ctx, directory.Actor{Kind: "scim-token", Name: "okta"},
		directory.Group{OrgID: s.org.ID, DisplayName: "Data-Platform", Attributes: map[string]any{}}, directory.MemberChange{Add: []string{sam.ID}}); err != nil {
		t.Fatal(err)
	}
	ws, err := s.db.CreateWorkspace(ctx, actor, s.org.ID, "data-eng", nil)
	if err != nil {
		t.Fatal(err)
	}
	roleOfSam := func() directory.Role {
		t.Helper()
		acc, err := s.db.Access(ctx, s.org.ID, sam.ID)
		if err != nil {
			t.Fatal(err)
		}
		return acc.RoleOn(ws.ID)
	}
	b := s.signIn(t, "admin@acme.example")
	mapped := `#mappings tbody tr[data-group="Data-Platform"]`
	steps(t, b, "add a mapping",
		chromedp.SendKeys(css("#map-group-value"), "Data-Platform"),
		chromedp.SetValue(css("#map-group-role"), "editor"),
		chromedp.SetValue(css("#map-group-workspace"), "data-eng"),
		chromedp.Click(css("#map-group button")),
		chromedp.WaitVisible(css(mapped)),
	)
	if got := read(t, b, chromedp.Text(css(mapped+" td:nth-child(3)"))); got != "editor" {
		t.Fatalf("role shown %q", got)
	}
	if got := roleOfSam(); got != directory.RoleEditor {
		t.Fatalf("Sam's role after the mapping: %s", got)
	}
	read(t, b, chromedp.Evaluate[bool](`window.confirm = () => true, true`))
	steps(t, b, "remove it",
		chromedp.Click(css(mapped+" [data-action=remove-mapping]")),
		chromedp.WaitNotPresent(css(mapped)),
	)
	if got := roleOfSam(); got != directory.RoleNone {
		t.Fatalf("Sam's role after removal: %s", got)
	}
}

// Removing the mapping that is the signed-in admin's only way to Org
// Admin shows that consequence in a second question; declining it keeps
// the mapping and the admin's access, accepting it goes through.
func TestConsoleWarnsBeforeAnAdminLocksThemselvesOut(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	admin := s.user(t, "admin@acme.example", "")
	if _, err := s.db.CreateGroup(ctx, directory.Actor{Kind: "scim-token", Name: "okta"},
		directory.Group{OrgID: s.org.ID, DisplayName: "Platform-Admins", Attributes: map[string]any{}}, directory.MemberChange{Add: []string{admin.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.CreateBinding(ctx, actor, directory.Binding{OrgID: s.org.ID, Role: directory.RoleOrgAdmin,
		GroupMatch: directory.MatchGroupDisplayName, GroupValue: "Platform-Admins"}); err != nil {
		t.Fatal(err)
	}
	b := s.signIn(t, "admin@acme.example")
	mapped := `#mappings tbody tr[data-group="Platform-Admins"]`
	// Yes to "remove the mapping?", no to "and lose Org Admin now?".
	read(t, b, chromedp.Evaluate[bool](`window.asked = [], window.confirm = (q) => (window.asked.push(q), window.asked.length === 1), true`))
	steps(t, b, "remove the mapping, then decline",
		chromedp.WaitVisible(css(mapped)),
		chromedp.Click(css(mapped+" [data-action=remove-mapping]")),
		chromedp.Poll[chromedp.Void](`window.asked.length === 2`),
	)
	asked := read(t, b, chromedp.Evaluate[[]string](`window.asked`))
	if !strings.Contains(asked[0], "Remove the mapping Platform-Admins → org-admin on the organization?") ||
		!strings.Contains(asked[1], "takes away your own Org Admin") || !strings.Contains(asked[1], "lose Org Admin now?") {
		t.Fatalf("the questions: %q", asked)
	}
	if acc, err := s.db.Access(ctx, s.org.ID, admin.ID); err != nil || len(acc.OrgAdmin) != 1 {
		t.Fatalf("declined, yet: %+v %v", acc, err)
	}
	read(t, b, chromedp.Evaluate[bool](`window.confirm = () => true, true`))
	steps(t, b, "remove it for good",
		chromedp.Click(css(mapped+" [data-action=remove-mapping]")),
		chromedp.WaitVisible(css("#error")),
	)
	if acc, err := s.db.Access(ctx, s.org.ID, admin.ID); err != nil || len(acc.OrgAdmin) != 0 {
		t.Fatalf("confirmed, yet still admin: %+v %v", acc, err)
	}
}

func TestConsoleManagesWebhookSubscriptions(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	s.admin(t, "admin@acme.example")
	b := s.signIn(t, "admin@acme.example")
	sub := `#subscriptions tbody tr[data-subscription="https://hooks.example.com/scim"]`
	// Subscribing shows the signing secret once, and the subscription.
	steps(t, b, "subscribe",
		chromedp.SendKeys(css("#subscribe-url"), "https://hooks.example.com/scim"),
		chromedp.SendKeys(css("#subscribe-events"), "user.*, group.deleted"),
		chromedp.Click(css("#subscribe button")),
		chromedp.WaitVisible(css("#webhook-secret")),
		chromedp.WaitVisible(css(sub)),
	)
	secret := read(t, b, chromedp.Text(css("#webhook-secret-value")))
	list, err := s.db.Subscriptions(ctx, s.org.ID)
	if err != nil || len(list) != 1 || len(list[0].EventTypes) != 6 || !list[0].Enabled {
		t.Fatalf("stored: %+v %v", list, err)
	}
	if !strings.HasPrefix(secret, "scb_whsec_") {
		t.Fatalf("secret shown: %q", secret)
	}
	// Disable, then see the warning of an automatic disable, then enable.
	steps(t, b, "disable",
		chromedp.Click(css(sub+" [data-action=disable]")),
		chromedp.WaitVisible(css(sub+" [data-action=enable]")),
	)
	if got, _ := s.db.Subscription(ctx, s.org.ID, list[0].ID); got.Enabled {
		t.Fatal("still enabled after Disable")
	}
	if _, err := s.db.Pool.Exec(ctx, `UPDATE subscriptions SET disabled_reason = 'failing', disabled_at = now(),
		failing_since = now() - interval '25 hours' WHERE org_id = $1`, s.org.ID); err != nil {
		t.Fatal(err)
	}
	steps(t, b, "reload",
		chromedp.Reload(),
		chromedp.WaitVisible(css(sub+" .warning")),
	)
	if warn := read(t, b, chromedp.Text(css(sub+" .warning"))); !strings.Contains(warn, "Disabled automatically") {
		t.Fatalf("warning %q", warn)
	}
	if n := read(t, b, chromedp.Evaluate[int](`document.querySelectorAll("#webhook-secret:not([hidden])").length`)); n != 0 {
		t.Fatal("the secret is shown again after a reload")
	}
	steps(t, b, "enable",
		chromedp.Click(css(sub+" [data-action=enable]")),
		chromedp.WaitVisible(css(sub+" [data-action=disable]")),
	)
	if got, _ := s.db.Subscription(ctx, s.org.ID, list[0].ID); !got.Enabled || got.DisabledReason != "" || got.FailingSince != nil {
		t.Fatalf("after Enable: %+v", got)
	}
}
