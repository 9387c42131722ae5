package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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

// clock is a clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRateLimitIsAProblemWithRetryAfter(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tn := newEnv(t, withConfig(func(c *api.Config) { c.RatePerOrg, c.Now = 2, clk.Now })).tenant("acme") // bursts of 4
	other := tn.env.tenant("other")
	admitted := func() (int, response) {
		for n := range 20 {
			if r := tn.do("GET", "/users", nil); r.status != 200 {
				return n, r
			}
		}
		return 20, response{}
	}
	n, limited := admitted()
	if n != 4 {
		t.Fatalf("%d requests passed at once, want the burst of 4", n)
	}
	problem(t, limited, 429, "too-many-requests")
	if limited.header.Get("Retry-After") != "1" {
		t.Errorf("429 with Retry-After %q, want 1", limited.header.Get("Retry-After"))
	}
	other.must(200, "GET", "/users", nil) // another organization is not slowed
	clk.Advance(499 * time.Millisecond)
	problem(t, tn.do("GET", "/users", nil), 429, "too-many-requests")
	clk.Advance(time.Millisecond)
	if n, _ := admitted(); n != 1 {
		t.Fatalf("500 ms later: %d requests passed, want 1", n)
	}
}

// A held database answers a 503 problem with Retry-After within the
// request's deadline, not a 500 and not a hung request; the driver's
// message stays in the log.
func TestAHeldDatabaseIsA503Problem(t *testing.T) {
	t.Parallel()
	deadline := envOption{wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 300*time.Millisecond)
			defer cancel()
			h.ServeHTTP(w, r.WithContext(ctx))
		})
	}}
	tn := newEnv(t, deadline).tenant("acme")
	tn.workspace("ws")
	ctx := context.Background()
	tx, err := tn.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE workspaces IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	r := tn.do("GET", "/workspaces", nil)
	p := problem(t, r, 503, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if d := str(p["detail"]); strings.Contains(d, "context") || strings.Contains(d, "SQLSTATE") {
		t.Errorf("the driver's error reached the client: %q", d)
	}
}
