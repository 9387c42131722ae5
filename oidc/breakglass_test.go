package oidc_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// answer is what an anonymous client sees of a response: everything but
// the date.
type answer struct {
	status int
	header http.Header
	body   string
}

func answerOf(t *testing.T, resp *http.Response) answer {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	h := resp.Header.Clone()
	h.Del("Date")
	return answer{resp.StatusCode, h, string(b)}
}

func sameAnswer(t *testing.T, what string, got, want answer) {
	t.Helper()
	if got.status != want.status || got.body != want.body || len(got.header) != len(want.header) {
		t.Fatalf("%s: %d %v %q\nwant the same as %d %v %q", what, got.status, got.header, got.body, want.status, want.header, want.body)
	}
	for k := range want.header {
		if got.header.Get(k) != want.header.Get(k) {
			t.Fatalf("%s: header %s %q, want %q", what, k, got.header.Get(k), want.header.Get(k))
		}
	}
}

// An anonymous client cannot tell from a break-glass link's page, nor
// from a refused sign-in, whether an organization exists or what it is
// called: an unknown organization and every bad link (malformed, unknown,
// of another organization, used, expired, past the failure limit) get
// the very same answer. Only a live link shows the organization's name.
func TestBreakGlassAnswersAlikeForUnknownOrganizationsAndBadLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	ctx := context.Background()
	globex, err := e.db.CreateOrganization(ctx, "globex", "Globex Corporation")
	if err != nil {
		t.Fatal(err)
	}
	operator := directory.Actor{Kind: "cli", Name: "operator"}
	link := func(o directory.Organization) string {
		t.Helper()
		s, _, err := e.db.CreateBreakGlassLink(ctx, operator, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid, used, expired, acmes := link(globex), link(globex), link(globex), link(e.orgs["acme"])
	if _, _, err := e.db.UseBreakGlassLink(ctx, "globex", used, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Pool.Exec(ctx, `UPDATE breakglass_links SET expires_at = now() - interval '1 second' WHERE token_hash = $1`,
		directory.HashSecret(expired)); err != nil {
		t.Fatal(err)
	}
	unknown := directory.NewSecret(directory.BreakGlassPrefix)

	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	page := func(slug, token string) answer {
		t.Helper()
		resp, err := c.Get(e.srv.URL + "/auth/" + slug + "/breakglass?token=" + url.QueryEscape(token))
		if err != nil {
			t.Fatal(err)
		}
		return answerOf(t, resp)
	}
	signIn := func(slug, token string) answer {
		t.Helper()
		resp, err := c.PostForm(e.srv.URL+"/auth/"+slug+"/breakglass", url.Values{"token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		return answerOf(t, resp)
	}

	refused := page("nope", unknown)
	if refused.status != http.StatusUnauthorized || strings.Contains(refused.body, "Globex") || strings.Contains(refused.body, "nope") {
		t.Fatalf("unknown organization: %d %s", refused.status, refused.body)
	}
	pages := []struct{ name, slug, token string }{
		{"unknown organization, a live link of another one", "nope", valid},
		{"an unknown link", "globex", unknown},
		{"a malformed link", "globex", "scb_brk_short"},
		{"no link", "globex", ""},
		{"a used link", "globex", used},
		{"an expired link", "globex", expired},
		{"another organization's live link", "globex", acmes},
	}
	for _, p := range pages {
		sameAnswer(t, "GET, "+p.name, page(p.slug, p.token), refused)
	}
	// The page spends nothing: the link still signs in afterwards.
	if ok := page("globex", valid); ok.status != 200 || !strings.Contains(ok.body, "Globex Corporation") || !strings.Contains(ok.body, `method="post"`) {
		t.Fatalf("a live link's page: %d %s", ok.status, ok.body)
	}

	refused = signIn("nope", unknown)
	if refused.status != http.StatusUnauthorized || strings.Contains(refused.body, "Globex") {
		t.Fatalf("sign-in to an unknown organization: %d %s", refused.status, refused.body)
	}
	sameAnswer(t, "POST, the GET's refusal", page("nope", unknown), refused)
	sameAnswer(t, "POST, an unknown link", signIn("globex", unknown), refused)
	sameAnswer(t, "POST, a used link", signIn("globex", used), refused)
	// Past the failure limit, failures are no longer recorded, and still
	// answered alike: a different answer there would tell existing
	// organizations from unknown ones.
	for range directory.BreakGlassMaxFailures {
		signIn("globex", unknown)
	}
	if _, _, err := e.db.UseBreakGlassLink(ctx, "globex", unknown, "test"); !errors.Is(err, directory.ErrRateLimited) {
		t.Fatalf("past the limit, the store says %v, want ErrRateLimited", err)
	}
	sameAnswer(t, "POST past the failure limit", signIn("globex", unknown), refused)
	if ok := signIn("globex", valid); ok.status != http.StatusSeeOther || ok.header.Get("Location") != "/orgs/globex/" {
		t.Fatalf("a live link past the failure limit: %d %v", ok.status, ok.header)
	}
}

// The audit trail names where a break-glass attempt came from: the
// client's address without its port (one client, one name across its
// connections), or the whole remote address when it has no port.
func TestBreakGlassAttemptsAreAuditedWithTheClientAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, directory.JITPolicy{Mode: directory.JITSCIMOnly})
	ctx := context.Background()
	org := e.orgs["acme"]
	for _, tc := range []struct {
		name, remote, want string
	}{
		{"an address with a port", "192.0.2.7:51234", "192.0.2.7"},
		{"an IPv6 address with a port", "[2001:db8::7]:443", "2001:db8::7"},
		{"an address without a port", "192.0.2.8", "192.0.2.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret, _, err := e.db.CreateBreakGlassLink(ctx, directory.Actor{Kind: "cli", Name: "operator"}, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			post := func(token string) int {
				t.Helper()
				r := httptest.NewRequest("POST", "/auth/acme/breakglass", strings.NewReader(url.Values{"token": {token}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.RemoteAddr = tc.remote
				w := httptest.NewRecorder()
				e.srv.Config.Handler.ServeHTTP(w, r)
				return w.Code
			}
			if got := post(directory.NewSecret(directory.BreakGlassPrefix)); got != http.StatusUnauthorized {
				t.Fatalf("an unknown link: %d", got)
			}
			if got := post(secret); got != http.StatusSeeOther {
				t.Fatalf("a live link: %d", got)
			}
			var denied, from string
			if err := e.db.Pool.QueryRow(ctx, `SELECT actor FROM audit_events WHERE org_id = $1 AND action = 'breakglass.denied' ORDER BY id DESC LIMIT 1`,
				org.ID).Scan(&denied); err != nil {
				t.Fatal(err)
			}
			if err := e.db.Pool.QueryRow(ctx, `SELECT after->>'from' FROM audit_events WHERE org_id = $1 AND action = 'breakglass.login' ORDER BY id DESC LIMIT 1`,
				org.ID).Scan(&from); err != nil {
				t.Fatal(err)
			}
			if denied != "anonymous:"+tc.want || from != tc.want {
				t.Fatalf("audited as %q and from %q, want %q", denied, from, tc.want)
			}
		})
	}
}
