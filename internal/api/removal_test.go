package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// The break-glass owner survives every removal path of the admin API.
func TestBreakGlassOwnerCannotBeRemoved(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	var ownerBinding string
	for _, b := range tn.must(200, "GET", "/bindings?user=break-glass-owner", nil)["items"].([]any) {
		if b := b.(map[string]any); b["role"] == "org-admin" {
			ownerBinding = b["id"].(string)
		}
	}
	if ownerBinding == "" {
		t.Fatal("the break-glass owner has no org-admin binding")
	}
	cases := []struct {
		name, method, path string
		status             int
		typ, detail        string
	}{
		{"remove the user", "DELETE", "/users/" + tn.ownerID, 409, "conflict", "break-glass owner"},
		{"delete its org-admin binding", "DELETE", "/bindings/" + ownerBinding, 409, "conflict", "break-glass owner"},
		{"delete its binding as a mapping", "DELETE", "/mappings/" + ownerBinding, 404, "not-found", "mapping"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := problem(t, tn.in(t).do(c.method, c.path, nil), c.status, c.typ)
			if !strings.Contains(str(p["detail"]), c.detail) {
				t.Fatalf("detail %q does not mention %q", p["detail"], c.detail)
			}
		})
	}
	// Still there, still org admin, and its token still works.
	u := tn.must(200, "GET", "/users/"+tn.ownerID, nil)
	if u["status"] != "active" || u["source"] != "breakglass" {
		t.Fatalf("owner after the attempts: %v", u)
	}
	d := tn.must(200, "POST", "/authorize", map[string]any{"user": tn.ownerID, "action": "org.manage"})
	if d["allowed"] != true {
		t.Fatalf("owner is no longer org admin: %v", d)
	}

	// Its other grants may go.
	tn.workspace("w")
	b := tn.must(201, "POST", "/bindings", map[string]any{"role": "viewer", "workspace": "w", "user": "break-glass-owner"})
	tn.must(204, "DELETE", "/bindings/"+b["id"].(string), nil)
}

// A user the IdP manages is removed in the IdP, not here; a direct grant
// is still possible.
func TestIdPManagedUserIsRemovedInTheIdP(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	alice := tn.scimUser("alice@acme.test")
	tn.workspace("data-eng")

	p := problem(t, tn.do("DELETE", "/users/"+alice.ID, nil), 409, "conflict")
	if d := str(p["detail"]); !strings.Contains(d, "identity provider") || !strings.Contains(d, "there") {
		t.Fatalf("detail %q does not say to do it in the IdP", d)
	}
	if u := tn.must(200, "GET", "/users/"+alice.ID, nil); u["status"] != "active" {
		t.Fatalf("user after the refusal: %v", u)
	}

	b := tn.must(201, "POST", "/bindings", map[string]any{"role": "editor", "workspace": "data-eng", "user": "alice@acme.test"})
	if b["user"].(map[string]any)["userName"] != "alice@acme.test" || b["workspace"].(map[string]any)["name"] != "data-eng" {
		t.Fatalf("binding %v", b)
	}
	if d := tn.authorize(alice.ID, "pipes.edit", "data-eng"); d["allowed"] != true {
		t.Fatalf("direct grant to an IdP-managed user: %v", d)
	}
}

// Removing a user that no IdP manages revokes its API tokens, deletes its
// direct bindings and records an audit event naming the caller.
func TestRemovingAUserRevokesTokensAndBindings(t *testing.T) {
	t.Parallel()
	for _, source := range []string{directory.SourceJIT, directory.SourceService} {
		t.Run(source, func(t *testing.T) {
			t.Parallel()
			tn := newEnv(t).tenant("acme")
			ctx := context.Background()
			u := tn.user("dave@acme.test", source)
			tn.workspace("data-eng")
			tn.must(201, "POST", "/bindings", map[string]any{"role": "runner", "workspace": "data-eng", "user": u.ID})
			token := tn.tokenFor(u, "ci")
			if r := tn.send(token, "POST", tn.url("/authorize"), map[string]any{"user": u.ID, "action": "pipes.run", "workspace": "data-eng"}); r.status != 200 {
				t.Fatalf("the user's own token before removal: %d %s", r.status, r.body)
			}

			tn.must(204, "DELETE", "/users/"+u.ID, nil)

			problem(t, tn.send(token, "POST", tn.url("/authorize"), map[string]any{"user": u.ID, "action": "pipes.run", "workspace": "data-eng"}), 401, "unauthorized")
			if bs, err := tn.db.Bindings(ctx, tn.id, postgres.BindingFilter{UserID: u.ID}); err != nil || len(bs) != 0 {
				t.Fatalf("direct bindings after removal: %v %v", bs, err)
			}
			toks := tn.must(200, "GET", "/api-tokens", nil)["items"].([]any)
			for _, tk := range toks {
				tk := tk.(map[string]any)
				if tk["name"] == "ci" && tk["status"] != "revoked" {
					t.Fatalf("token after removal: %v", tk)
				}
			}
			got := tn.must(200, "GET", "/users/"+u.ID, nil)
			if got["status"] != "removed" || got["removedAt"] == nil {
				t.Fatalf("user after removal: %v", got)
			}
			if d := tn.authorize(u.ID, "pipes.view", "data-eng"); d["allowed"] != false || !strings.Contains(str(d["reason"]), "removed") {
				t.Fatalf("a removed user is allowed: %v", d)
			}
			ev := tn.must(200, "GET", "/audit?action=user.remove&resourceId="+u.ID, nil)
			items := ev["items"].([]any)
			if ev["total"] != float64(1) || len(items) != 1 {
				t.Fatalf("audit: %v", ev)
			}
			e := items[0].(map[string]any)
			if e["actor"] != "api-token:t (break-glass-owner)" || e["after"].(map[string]any)["apiTokensRevoked"] != float64(1) ||
				e["after"].(map[string]any)["bindingsRemoved"] != float64(1) {
				t.Fatalf("audit event %v", e)
			}
			// Removing again is idempotent; granting to a removed user is refused.
			tn.must(204, "DELETE", "/users/"+u.ID, nil)
			problem(t, tn.do("POST", "/bindings", map[string]any{"role": "viewer", "workspace": "data-eng", "user": u.ID}), 409, "conflict")
		})
	}
}
