package api_test

import (
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/api"
)

func TestIdPSettingsRoutes(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	problem(t, tn.do("GET", "/idp", nil), 404, "not-found")
	problem(t, tn.do("PUT", "/idp", map[string]any{"issuer": "ftp://idp.example", "clientId": "c"}), 400, "invalid")
	problem(t, tn.do("PUT", "/idp", map[string]any{"issuer": "https://idp.example"}), 400, "invalid")
	got := tn.must(200, "PUT", "/idp", map[string]any{"issuer": "https://idp.example", "clientId": "c", "clientSecret": "s3cret",
		"jit": "jit-with-domain", "jitDomains": []any{"Example.com"}})
	if got["jit"] != "jit-with-domain" || got["jitDomains"].([]any)[0] != "example.com" || got["clientId"] != "c" {
		t.Fatalf("saved %v", got)
	}
	r := tn.do("GET", "/idp", nil)
	if r.status != 200 || strings.Contains(string(r.body), "s3cret") || !strings.Contains(string(r.body), `"scopes":["openid","email","profile"]`) {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	// Without the service (serve has no secret key), the routes say so.
	off := newEnv(t, withConfig(func(c *api.Config) { c.IdP = nil })).tenant("acme")
	if p := problem(t, off.do("GET", "/idp", nil), 409, "conflict"); !strings.Contains(p["detail"].(string), "SCIMBRIDGE_SECRET_KEY") {
		t.Fatalf("detail %v", p["detail"])
	}
}
