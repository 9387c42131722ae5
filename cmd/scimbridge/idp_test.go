package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// discoveryServer answers OpenID Connect discovery with the given
// scopes_supported (none when nil).
func discoveryServer(t *testing.T, scopes []string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := "http://" + r.Host
		doc := map[string]any{"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token", "jwks_uri": u + "/jwks"}
		if scopes != nil {
			doc["scopes_supported"] = scopes
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// idp set asks for the groups scope where the provider lists it (Dex and
// Okta send no groups claim without it, and group mappings would never
// apply to people who sign in); later calls change only what they name;
// idp show prints the settings, never the client secret.
func TestIdPSetUpdatesWhatItNamesAndAsksForGroupsWhereOffered(t *testing.T) {
	t.Parallel()
	cmd := cli(dbEnv(t))
	for _, o := range []string{"acme", "plain"} {
		if _, err := cmd("org", "create", o); err != nil {
			t.Fatal(err)
		}
	}
	withGroups := discoveryServer(t, []string{"openid", "email", "profile", "groups", "offline_access"})
	without := discoveryServer(t, []string{"openid", "email", "profile"})
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cr3t-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	show := func(org string) map[string]string {
		t.Helper()
		out, err := cmd("idp", "show", "--org", org, "--public-url", "https://scim.example.com/")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "s3cr3t") {
			t.Fatalf("idp show printed the client secret: %s", out)
		}
		rows := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, _ := strings.Cut(line, ":")
			rows[k] = strings.TrimSpace(v)
		}
		return rows
	}
	if _, err := cmd("idp", "show", "--org", "acme"); err == nil || !strings.Contains(err.Error(), "idp set") {
		t.Fatalf("idp show before any idp set: %v, want a pointer to idp set", err)
	}
	if _, err := cmd("idp", "set", "--org", "acme", "--jit", "jit"); err == nil || !strings.Contains(err.Error(), "--issuer and --client-id are required") {
		t.Fatalf("a first idp set without issuer: %v", err)
	}
	steps := []struct {
		name string
		org  string
		args []string
		want map[string]string
	}{
		{"first set: groups added because discovery lists it", "acme",
			[]string{"--issuer", withGroups, "--client-id", "cid", "--client-secret-file", secretFile, "--jit", "jit", "--oid-claim", "oid"},
			map[string]string{"issuer": withGroups, "client id": "cid", "client secret": "set (sealed; never shown)",
				"scopes": "openid,email,profile,groups", "jit": "jit", "oid claim": "oid", "redirect uri": "https://scim.example.com/auth/callback"}},
		{"one setting changed, the others kept (the secret too)", "acme", []string{"--jit", "scim-only"},
			map[string]string{"issuer": withGroups, "client id": "cid", "client secret": "set (sealed; never shown)",
				"scopes": "openid,email,profile,groups", "jit": "scim-only", "oid claim": "oid"}},
		{"explicit scopes are taken as given", "acme", []string{"--scopes", "openid,email"},
			map[string]string{"scopes": "openid,email", "jit": "scim-only", "client id": "cid"}},
		{"a provider that lists no groups scope gets the plain defaults", "plain",
			[]string{"--issuer", without, "--client-id", "p"},
			map[string]string{"scopes": "openid,email,profile", "client secret": "not set", "jit": "scim-only"}},
	}
	for _, s := range steps {
		args := append([]string{"idp", "set", "--org", s.org, "--allow-private-networks"}, s.args...)
		if _, err := cmd(args...); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := show(s.org)
		for k, v := range s.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q (all: %v)", s.name, k, got[k], v, got)
			}
		}
	}
}
