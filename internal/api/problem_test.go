package api_test

import (
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/api"
)

// Errors are RFC 9457 problem documents with stable types, whatever
// produced them: the body decoder, paging, the store, the router.
func TestErrorsAreProblemDocuments(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.workspace("taken")
	big := `{"name": "` + strings.Repeat("x", 70<<10) + `"}`
	cases := []struct {
		name, method, path string
		body               any
		status             int
		typ                string
		detail             string // a substring of the detail
	}{
		{"malformed JSON names the offset", "POST", "/workspaces", `{"name": "w",}`, 400, "invalid", "at offset 14"},
		{"truncated JSON", "POST", "/workspaces", `{"name": "w"`, 400, "invalid", "offset"},
		{"unknown field", "POST", "/workspaces", `{"name": "w", "colour": "red"}`, 400, "invalid", `unknown field "colour"`},
		{"wrong type", "POST", "/workspaces", `{"name": 7}`, 400, "invalid", "name must be a JSON string"},
		{"empty body", "POST", "/workspaces", nil, 400, "invalid", "JSON body is required"},
		{"two objects", "POST", "/workspaces", `{"name": "a"} {"name": "b"}`, 400, "invalid", "one JSON object"},
		{"bad offset", "GET", "/users?offset=-1", nil, 400, "invalid", "offset"},
		{"limit too large", "GET", "/users?limit=501", nil, 400, "invalid", "limit"},
		{"limit zero", "GET", "/workspaces?limit=0", nil, 400, "invalid", "limit"},
		{"bad status filter", "GET", "/users?status=sleeping", nil, 400, "invalid", "status"},
		{"bad source filter", "GET", "/users?source=ldap", nil, 400, "invalid", "source"},
		{"bad since", "GET", "/audit?since=yesterday", nil, 400, "invalid", "RFC 3339"},
		{"bad role", "POST", "/bindings", map[string]any{"role": "god", "user": "break-glass-owner"}, 400, "invalid", "role"},
		{"org-admin on a workspace", "POST", "/bindings", map[string]any{"role": "org-admin", "workspace": "taken", "user": "break-glass-owner"}, 400, "invalid", "organization"},
		{"bad TTL", "POST", "/scim-tokens", map[string]any{"name": "x", "expiresIn": "forever"}, 400, "invalid", "duration"},
		{"unknown user", "GET", "/users/00000000-0000-0000-0000-000000000000", nil, 404, "not-found", "not found"},
		{"malformed user id", "GET", "/users/nope", nil, 404, "not-found", "not found"},
		{"unknown workspace", "GET", "/workspaces/nope", nil, 404, "not-found", "nope"},
		{"unknown binding", "DELETE", "/bindings/00000000-0000-0000-0000-000000000000", nil, 404, "not-found", "not found"},
		{"unknown SCIM token", "DELETE", "/scim-tokens/nope", nil, 404, "not-found", "nope"},
		{"unknown route", "GET", "/nothing-here", nil, 404, "not-found", "no such resource"},
		{"wrong method", "PUT", "/workspaces", map[string]any{}, 405, "method-not-allowed", "method"},
		{"name taken", "POST", "/workspaces", map[string]any{"name": "TAKEN"}, 409, "conflict", "already exists"},
		{"body over MaxBody", "POST", "/workspaces", big, 413, "too-large", "larger than 65536 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tn.in(t).do(c.method, c.path, c.body)
			p := problem(t, r, c.status, c.typ)
			if !strings.Contains(str(p["detail"]), c.detail) {
				t.Fatalf("detail %q does not contain %q", p["detail"], c.detail)
			}
			if c.status == 405 && r.header.Get("Allow") != "GET, POST" {
				t.Fatalf("Allow %q", r.header.Get("Allow"))
			}
		})
	}
}

func TestRateLimitIsAProblemWithRetryAfter(t *testing.T) {
	t.Parallel()
	tn := newEnv(t, withConfig(func(c *api.Config) { c.RatePerOrg = 2 })).tenant("acme") // bursts of 4
	other := tn.env.tenant("other")
	var limited response
	for range 20 {
		if r := tn.do("GET", "/users", nil); r.status == 429 {
			limited = r
			break
		}
	}
	problem(t, limited, 429, "too-many-requests")
	if limited.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	other.must(200, "GET", "/users", nil) // another organization is not slowed
}
