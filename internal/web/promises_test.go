package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/scimbridge/scimbridge/internal/postgres"
)

// rows is the userNames of the users table, in order.
func rows(t *testing.T, b context.Context) string {
	t.Helper()
	return read(t, b, chromedp.Evaluate[string](`[...document.querySelectorAll("#users tbody tr")].map(r => r.dataset.user).join(" ")`))
}

func TestConsoleSearchesResendsAndRevokes(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	ctx := context.Background()
	s.admin(t, "admin@acme.example")
	s.user(t, "sam@acme.example", "Sam Smith")
	s.user(t, "pat@acme.example", "Pat Jones")
	inv, err := s.db.CreateInvitation(ctx, actor, s.org.ID, "smithers@acme.example", false, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	queued := func() int {
		t.Helper()
		var n int
		if err := s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE org_id = $1 AND ref_id = $2 AND sent_at IS NULL`, s.org.ID, inv.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := queued(); n != 1 {
		t.Fatalf("%d mails queued at creation", n)
	}

	b := s.signIn(t, "admin@acme.example")
	if got := rows(t, b); !strings.Contains(got, "pat@acme.example") || !strings.Contains(got, "smithers@acme.example") {
		t.Fatalf("all users: %q", got)
	}
	// The search matches a display name and an invited address alike,
	// case aside, and nothing else.
	steps(t, b, "search",
		chromedp.SendKeys(css("#search"), "SMITH"),
		chromedp.Click(css("#filter button")),
		chromedp.WaitNotPresent(css(row("pat@acme.example"))),
		chromedp.WaitVisible(css(row("sam@acme.example"))),
	)
	if got := rows(t, b); got != "sam@acme.example smithers@acme.example" && got != "smithers@acme.example sam@acme.example" {
		t.Fatalf("search SMITH: %q", got)
	}
	if got := read(t, b, chromedp.Text(css("#range"))); got != "1–2 of 2" {
		t.Fatalf("range: %q", got)
	}

	invited := row("smithers@acme.example")
	steps(t, b, "resend",
		chromedp.Click(css(invited+" [data-action=resend]")),
		chromedp.WaitVisible(css("#notice")),
	)
	if got := read(t, b, chromedp.Text(css("#notice"))); got != "A new invitation mail goes to smithers@acme.example." {
		t.Fatalf("notice after resend: %q", got)
	}
	if n := queued(); n != 2 {
		t.Fatalf("%d mails queued after the resend, want 2", n)
	}
	events, _, err := s.db.QueryAudit(ctx, s.org.ID, postgres.AuditQuery{Action: "invitation.resend", Limit: 10})
	if err != nil || len(events) != 1 || events[0].ResourceID != inv.ID || !strings.Contains(events[0].Actor, "admin@acme.example") {
		t.Fatalf("resend audit: %+v %v", events, err)
	}

	read(t, b, chromedp.Evaluate[bool](`window.confirm = () => true, true`))
	steps(t, b, "revoke",
		chromedp.Click(css(invited+" [data-action=revoke]")),
		chromedp.WaitNotPresent(css(invited)),
	)
	if got := read(t, b, chromedp.Text(css("#notice"))); got != "The invitation of smithers@acme.example is revoked." {
		t.Fatalf("notice after revoke: %q", got)
	}
	if got := rows(t, b); got != "sam@acme.example" {
		t.Fatalf("after the revocation: %q", got)
	}
	pending, err := s.db.Invitations(ctx, s.org.ID, true)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending invitations after revoke: %+v %v", pending, err)
	}
	all, err := s.db.Invitations(ctx, s.org.ID, false)
	if err != nil || len(all) != 1 || all[0].State(all[0].CreatedAt) != "revoked" {
		t.Fatalf("the invitation after revoke: %+v %v", all, err)
	}
}

// Every console response, pages and static files, forbids inline script,
// framing and MIME sniffing, exactly so.
func TestConsoleSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "same-origin",
	}
	for _, path := range []string{"/", "/?org=Not+A+Slug", "/orgs/acme/", "/orgs/Not_A_Slug/", "/static/console.js", "/static/console.css"} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
		for k, v := range want {
			if got := resp.Header.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
	// The policy holds in the browser: inline script does not run.
	b := browse(t)
	steps(t, b, "open the landing page", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(css("#org")))
	ran := read(t, b, chromedp.Evaluate[bool](`(() => {
		const sc = document.createElement("script");
		sc.textContent = "window.inlineRan = true";
		document.body.append(sc);
		return window.inlineRan === true;
	})()`))
	if ran {
		t.Fatal("an inline script ran despite the policy")
	}
}

// The landing page: "Acme" reaches acme (slugs are lower case; only ASCII
// is folded), the org field's pattern is one Chromium enforces (a pattern
// invalid under the v flag is silently ignored), the field has focus, and
// no request for a favicon ends in 404.
func TestLandingTakesTheOrganizationAsPeopleTypeIt(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []struct {
		org, location string
		status        int
	}{
		{"acme", "/orgs/acme/", 303},
		{"Acme", "/orgs/acme/", 303},
		{" ACME ", "/orgs/acme/", 303},
		{"\u212acme", "", 400}, // KELVIN SIGN: not folded to k
		{"ac_me", "", 400},
	} {
		resp, err := noRedirect.Get(s.url + "/?org=" + url.QueryEscape(c.org))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Location") != c.location {
			t.Errorf("org %q: %d %q, want %d %q", c.org, resp.StatusCode, resp.Header.Get("Location"), c.status, c.location)
		}
	}
	resp, err := http.Get(s.url + "/favicon.ico")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("/favicon.ico: %d, want 204", resp.StatusCode)
	}
	b := browse(t)
	steps(t, b, "open the landing page", chromedp.Navigate(s.url+"/"), chromedp.WaitVisible(css("#org")))
	if id := read(t, b, chromedp.Evaluate[string](`document.activeElement.id`)); id != "org" {
		t.Errorf("focus is on %q, want the org field", id)
	}
	for value, valid := range map[string]bool{"acme": true, "Acme-1": true, "a": true, "-acme": false, "acme-": false, "ac me": false, "ac_me": false} {
		got := read(t, b, chromedp.Evaluate[bool](`(() => { const f = document.querySelector("#org"); f.value = `+strconv.Quote(value)+`; return f.checkValidity(); })()`))
		if got != valid {
			t.Errorf("the browser finds %q valid=%v, want %v (is the pattern valid under the v flag?)", value, got, valid)
		}
	}
}
