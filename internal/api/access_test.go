package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// SCIM pushes change authorize answers at once: there is no cache between
// a membership change and the next decision.
func TestSCIMPushesChangeAuthorizeAtOnce(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ctx := context.Background()
	idp := directory.Actor{Kind: "scim-token", Name: "idp"}
	tn.workspace("data-eng", "prod", "data")
	alice := tn.scimUser("alice@acme.test")
	g := tn.group("Data-Platform")
	tn.must(201, "POST", "/mappings", map[string]any{"role": "runner", "workspace": "data-eng",
		"group": map[string]any{"match": "displayName", "value": "Data-Platform"}})

	allowed := func(step string, want bool, wantReason string) {
		t.Helper()
		d := tn.authorize("alice@acme.test", "pipes.run", "data-eng")
		if d["allowed"] != want || !strings.Contains(str(d["reason"]), wantReason) {
			t.Fatalf("%s: decision %v, want allowed=%v with reason containing %q", step, d, want, wantReason)
		}
	}
	allowed("not yet in the group", false, "no role on this workspace")

	if _, err := tn.db.UpdateGroup(ctx, idp, tn.id, g.ID, 0, func(cur directory.Group) (directory.Group, directory.MemberChange, error) {
		return cur, directory.MemberChange{Add: []string{alice.ID}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	allowed("added to the mapped group", true, `runner via group "Data-Platform"`)

	if _, err := tn.db.UpdateGroup(ctx, idp, tn.id, g.ID, 0, func(cur directory.Group) (directory.Group, directory.MemberChange, error) {
		return cur, directory.MemberChange{Remove: []string{alice.ID}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	allowed("removed from the group", false, "no role on this workspace")

	// Back in the group, then deactivated by the IdP.
	if _, err := tn.db.UpdateGroup(ctx, idp, tn.id, g.ID, 0, func(cur directory.Group) (directory.Group, directory.MemberChange, error) {
		return cur, directory.MemberChange{Add: []string{alice.ID}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	allowed("re-added", true, "runner")
	if _, err := tn.db.UpdateUser(ctx, idp, tn.id, alice.ID, 0, func(cur directory.User) (directory.User, error) {
		attrs := make(map[string]any, len(cur.Attributes))
		for k, v := range cur.Attributes {
			attrs[k] = v
		}
		attrs["active"] = false
		cur.Attributes = attrs
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	allowed("deactivated", false, "deactivated")
	d := tn.authorize(alice.ID, "pipes.view", "data-eng")
	if d["allowed"] != false || d["user"].(map[string]any)["status"] != "deactivated" {
		t.Fatalf("a deactivated user is allowed to view: %v", d)
	}

	// The deactivated user's grants are still listed, as not effective.
	p := tn.must(200, "GET", "/users/"+alice.ID+"/permissions", nil)
	if p["effective"] != false || len(p["workspaces"].([]any)) != 1 {
		t.Fatalf("permissions of a deactivated user: %v", p)
	}
}

// Bindings add up and the highest role wins; permissions list every grant
// that gives a role, with its provenance.
func TestHighestRoleWins(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.workspace("data-eng", "prod", "data")
	tn.workspace("web", "prod", "web")
	cases := []struct {
		name     string
		direct   []string // roles granted directly on data-eng
		viaGroup []string // roles granted to groups the user is in, on data-eng
		wantRole string
		allowed  map[string]bool // action → allowed on data-eng
		summary  []string
	}{
		{
			name: "viewer directly and editor via group: editor", direct: []string{"viewer"}, viaGroup: []string{"editor"},
			wantRole: "editor", allowed: map[string]bool{"pipes.view": true, "pipes.run": true, "pipes.edit": true, "workspace.manage": false},
			summary: []string{`editor on data-eng via group "G-editor"`, "viewer on data-eng directly"},
		},
		{
			name: "two groups: runner over viewer", viaGroup: []string{"viewer", "runner"},
			wantRole: "runner", allowed: map[string]bool{"pipes.view": true, "pipes.run": true, "pipes.edit": false},
			summary: []string{`runner on data-eng via group "G-runner"`, `viewer on data-eng via group "G-viewer"`},
		},
		{
			name: "workspace-admin directly over a group's viewer", direct: []string{"workspace-admin"}, viaGroup: []string{"viewer"},
			wantRole: "workspace-admin", allowed: map[string]bool{"workspace.manage": true, "org.manage": false},
			summary: []string{"workspace-admin on data-eng directly", `viewer on data-eng via group "G-viewer"`},
		},
		{
			name: "viewer alone", direct: []string{"viewer"},
			wantRole: "viewer", allowed: map[string]bool{"pipes.view": true, "pipes.run": false},
			summary: []string{"viewer on data-eng directly"},
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn := tn.in(t)
			u := tn.scimUser(strings.Repeat("u", i+1) + "@acme.test")
			for _, role := range c.direct {
				tn.must(201, "POST", "/bindings", map[string]any{"role": role, "workspace": "data-eng", "user": u.UserName})
			}
			for _, role := range c.viaGroup {
				name := "G-" + role
				g := tn.group(name+"-"+u.ID[:8], u)
				// Bind by the group's id: the grant's provenance still names the group.
				tn.must(201, "POST", "/bindings", map[string]any{"role": role, "workspace": "data-eng",
					"group": map[string]any{"match": "id", "value": g.ID}})
			}
			for action, want := range c.allowed {
				d := tn.authorize(u.UserName, action, "data-eng")
				if d["allowed"] != want {
					t.Errorf("%s: allowed %v, want %v: %v", action, d["allowed"], want, d)
				}
				if action != "org.manage" && d["role"] != c.wantRole {
					t.Errorf("%s: decided by %v, want %s", action, d["role"], c.wantRole)
				}
			}
			if d := tn.authorize(u.UserName, "pipes.view", "web"); d["allowed"] != false || d["role"] != "none" {
				t.Errorf("a grant on data-eng leaks to web: %v", d)
			}
			p := tn.must(200, "GET", "/users/"+u.ID+"/permissions", nil)
			ws := p["workspaces"].([]any)
			if len(ws) != 1 {
				t.Fatalf("workspaces %v", ws)
			}
			w := ws[0].(map[string]any)
			if w["role"] != c.wantRole || w["workspace"].(map[string]any)["name"] != "data-eng" {
				t.Errorf("workspace access %v", w)
			}
			if grants := w["grants"].([]any); len(grants) != len(c.direct)+len(c.viaGroup) {
				t.Errorf("grants %v, want %d", grants, len(c.direct)+len(c.viaGroup))
			}
			var summary []string
			for _, s := range p["summary"].([]any) {
				// Group names carry a per-case suffix.
				s := s.(string)
				if i := strings.Index(s, `-`+u.ID[:8]); i >= 0 {
					s = s[:i] + s[i+9:]
				}
				summary = append(summary, s)
			}
			if !slices.Equal(summary, c.summary) {
				t.Errorf("summary %q, want %q", summary, c.summary)
			}
		})
	}
}

// Org admins are allowed everything everywhere; by target, the workspace
// holding a cluster and namespace decides; unknown targets are denials.
func TestAuthorizeTargetsAndOrgAdmin(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ws := tn.workspace("data-eng", "prod", "data", "stage", "data")
	bob := tn.scimUser("bob@acme.test")
	tn.must(201, "POST", "/bindings", map[string]any{"role": "editor", "workspace": ws.ID, "user": bob.ID})
	admins := tn.group("Admins", tn.scimUser("carol@acme.test"))
	tn.must(201, "POST", "/mappings", map[string]any{"role": "org-admin", "group": map[string]any{"value": admins.DisplayName}})

	cases := []struct {
		name        string
		body        map[string]any
		allowed     bool
		role        string
		workspace   string // "" for null
		reasonMatch string
	}{
		{"by cluster and namespace", map[string]any{"user": "bob@acme.test", "action": "pipes.edit", "cluster": "stage", "namespace": "data"},
			true, "editor", "data-eng", "editor directly"},
		{"unknown target is a denial", map[string]any{"user": "bob@acme.test", "action": "pipes.view", "cluster": "other", "namespace": "data"},
			false, "none", "", "no workspace of this organization holds"},
		{"unknown workspace is a denial", map[string]any{"user": "bob@acme.test", "action": "pipes.view", "workspace": "nope"},
			false, "none", "", `no workspace "nope"`},
		{"org-admin via group on any workspace", map[string]any{"user": "carol@acme.test", "action": "workspace.manage", "workspace": "data-eng"},
			true, "org-admin", "data-eng", `org-admin via group "Admins"`},
		{"org.manage needs no workspace", map[string]any{"user": "carol@acme.test", "action": "org.manage"},
			true, "org-admin", "", "org-admin"},
		{"org.manage for an editor", map[string]any{"user": "bob@acme.test", "action": "org.manage"},
			false, "none", "", "needs org-admin"},
		{"the break-glass owner", map[string]any{"user": "break-glass-owner", "action": "pipes.run", "workspace": "data-eng"},
			true, "org-admin", "data-eng", "org-admin directly"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn := tn.in(t)
			d := tn.must(200, "POST", "/authorize", c.body)
			if d["allowed"] != c.allowed || d["role"] != c.role || !strings.Contains(str(d["reason"]), c.reasonMatch) {
				t.Fatalf("decision %v, want allowed=%v role=%s reason ~ %q", d, c.allowed, c.role, c.reasonMatch)
			}
			switch w := d["workspace"].(type) {
			case nil:
				if c.workspace != "" {
					t.Fatalf("no workspace in %v", d)
				}
			case map[string]any:
				if w["name"] != c.workspace {
					t.Fatalf("workspace %v, want %q", w, c.workspace)
				}
			}
		})
	}

	bad := []struct {
		name   string
		body   any
		status int
		typ    string
	}{
		{"unknown user", map[string]any{"user": "nobody@acme.test", "action": "pipes.run", "workspace": "data-eng"}, 404, "not-found"},
		{"unknown action", map[string]any{"user": "bob@acme.test", "action": "pipes.fly", "workspace": "data-eng"}, 400, "invalid"},
		{"no workspace for a workspace action", map[string]any{"user": "bob@acme.test", "action": "pipes.run"}, 400, "invalid"},
		{"workspace and target", map[string]any{"user": "bob@acme.test", "action": "pipes.run", "workspace": "data-eng", "cluster": "prod", "namespace": "data"}, 400, "invalid"},
		{"half a target", map[string]any{"user": "bob@acme.test", "action": "pipes.run", "cluster": "prod"}, 400, "invalid"},
		{"no user", map[string]any{"action": "pipes.run", "workspace": "data-eng"}, 400, "invalid"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			problem(t, tn.in(t).do("POST", "/authorize", c.body), c.status, c.typ)
		})
	}
}
