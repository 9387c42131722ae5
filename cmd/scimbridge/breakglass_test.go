package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// The link `scimbridge breakglass` prints signs the owner in to a running
// serve, without any IdP, once; the session then works for the console
// and the admin API.
func TestBreakGlassLinkSignsTheOwnerInToServe(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	rs := startServe(t, nil, "--data-dir", dir, "--init-org", "acme")
	rs.initOrgToken(t) // the organization exists once its token is printed
	var out, errOut syncBuffer
	if err := run(context.Background(), []string{"breakglass", "--org", "acme", "--data-dir", dir, "--public-url", rs.base},
		func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	link := strings.TrimSpace(out.String())
	u, err := url.Parse(link)
	if err != nil || strings.Count(out.String(), "\n") != 1 || u.Path != "/auth/acme/breakglass" || u.Query().Get("token") == "" {
		t.Fatalf("stdout is not the link alone: %q", out.String())
	}
	if !strings.Contains(errOut.String(), "works once") {
		t.Fatalf("stderr: %q", errOut.String())
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if resp, err := c.Get(link); err != nil || resp.StatusCode != 200 {
		t.Fatalf("open the link: %v %v", resp, err)
	}
	resp, err := c.PostForm(rs.base+"/auth/acme/breakglass", url.Values{"token": {u.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The redirect lands on the console.
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/orgs/acme/" || !strings.Contains(string(page), "console.js") {
		t.Fatalf("after the link: %d %s %s", resp.StatusCode, resp.Request.URL, page)
	}
	for path, want := range map[string]string{"/auth/acme/me": "break-glass-owner", "/api/v1/orgs/acme/users": `"items"`} {
		resp, err := c.Get(rs.base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
	// Spent: a second browser gets nothing from it.
	resp, err = http.PostForm(rs.base+"/auth/acme/breakglass", url.Values{"token": {u.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second use: %d", resp.StatusCode)
	}
}
