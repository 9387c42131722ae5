package directory

import "testing"

func TestEffectiveHighestRoleWins(t *testing.T) {
	t.Parallel()
	groups := []Membership{
		{GroupID: "g-data", ExternalID: "okta-data", DisplayName: "Data-Platform"},
		{GroupID: "g-ops", DisplayName: "Ops"},
	}
	bindings := []Binding{
		{ID: "b1", Role: RoleViewer, WorkspaceID: "ws-data", UserID: "u1"},
		{ID: "b2", Role: RoleEditor, WorkspaceID: "ws-data", GroupMatch: MatchGroupDisplayName, GroupValue: "Data-Platform"},
		{ID: "b3", Role: RoleRunner, WorkspaceID: "ws-ml", GroupMatch: MatchGroupExternalID, GroupValue: "okta-data"},
		{ID: "b4", Role: RoleWorkspaceAdmin, WorkspaceID: "ws-ops", GroupMatch: MatchGroupID, GroupValue: "g-ops"},
		{ID: "b5", Role: RoleEditor, WorkspaceID: "ws-ml", GroupMatch: MatchGroupDisplayName, GroupValue: "Nobody"},
		{ID: "b6", Role: RoleViewer, WorkspaceID: "ws-other", UserID: "u2"},
	}
	acc := Effective("u1", groups, bindings)
	cases := []struct {
		ws     string
		role   Role
		grants int
	}{
		{"ws-data", RoleEditor, 2}, // Editor via group beats Viewer directly; both listed
		{"ws-ml", RoleRunner, 1},
		{"ws-ops", RoleWorkspaceAdmin, 1},
		{"ws-other", RoleNone, 0},
	}
	for _, c := range cases {
		if got := acc.RoleOn(c.ws); got != c.role {
			t.Errorf("%s: role %s, want %s", c.ws, got, c.role)
		}
		n := 0
		if w := acc.Workspaces[c.ws]; w != nil {
			n = len(w.Grants)
		}
		if n != c.grants {
			t.Errorf("%s: %d grants, want %d", c.ws, n, c.grants)
		}
	}
	if g := acc.Workspaces["ws-data"].Grants; g[0].Via != `via group "Data-Platform"` || g[1].Via != "directly" {
		t.Errorf("provenance %+v", g)
	}
}

func TestAuthorizeByAction(t *testing.T) {
	t.Parallel()
	bindings := []Binding{
		{ID: "b1", Role: RoleRunner, WorkspaceID: "ws", UserID: "runner"},
		{ID: "b2", Role: RoleOrgAdmin, UserID: "admin"},
		{ID: "b3", Role: RoleWorkspaceAdmin, WorkspaceID: "ws", UserID: "wsadmin"},
	}
	cases := []struct {
		user    string
		action  Action
		ws      string
		allowed bool
		role    Role
	}{
		{"runner", ActionViewPipes, "ws", true, RoleRunner},
		{"runner", ActionRunPipes, "ws", true, RoleRunner},
		{"runner", ActionEditPipes, "ws", false, RoleRunner},
		{"runner", ActionRunPipes, "other", false, RoleNone},
		{"runner", ActionManageOrg, "", false, RoleNone},
		{"wsadmin", ActionManageWorkspace, "ws", true, RoleWorkspaceAdmin},
		{"wsadmin", ActionManageOrg, "", false, RoleNone},
		{"admin", ActionManageWorkspace, "any", true, RoleOrgAdmin},
		{"admin", ActionManageOrg, "", true, RoleOrgAdmin},
		{"stranger", ActionViewPipes, "ws", false, RoleNone},
	}
	for _, c := range cases {
		d := Effective(c.user, nil, bindings).Authorize(c.action, c.ws)
		if d.Allowed != c.allowed || d.Role != c.role || d.Reason == "" {
			t.Errorf("%s %s on %q: %+v, want allowed=%v role=%s", c.user, c.action, c.ws, d, c.allowed, c.role)
		}
	}
}

func TestBindingShapes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		b  Binding
		ok bool
	}{
		{Binding{Role: RoleEditor, WorkspaceID: "w", UserID: "u"}, true},
		{Binding{Role: RoleOrgAdmin, GroupMatch: MatchGroupDisplayName, GroupValue: "Admins"}, true},
		{Binding{Role: RoleOrgAdmin, WorkspaceID: "w", UserID: "u"}, false},
		{Binding{Role: RoleEditor, UserID: "u"}, false},
		{Binding{Role: RoleEditor, WorkspaceID: "w"}, false},
		{Binding{Role: RoleEditor, WorkspaceID: "w", UserID: "u", GroupMatch: MatchGroupID, GroupValue: "g"}, false},
		{Binding{Role: RoleEditor, WorkspaceID: "w", GroupMatch: "name", GroupValue: "g"}, false},
		{Binding{WorkspaceID: "w", UserID: "u"}, false},
	}
	for i, c := range cases {
		if err := c.b.Validate(); (err == nil) != c.ok {
			t.Errorf("case %d: %v, want ok=%v", i, err, c.ok)
		}
	}
	for _, s := range []string{"Viewer", "workspace_admin", "Org Admin", "editor"} {
		if _, err := ParseRole(s); err != nil {
			t.Errorf("ParseRole(%q): %v", s, err)
		}
	}
	if _, err := ParseRole("none"); err == nil {
		t.Error("ParseRole(none) accepted")
	}
}

func TestSignInGroupsMatchByExternalIDOrDisplayNameOnly(t *testing.T) {
	t.Parallel()
	signIn := []Membership{{ExternalID: "Data-Platform", DisplayName: "Data-Platform"}} // no SCIM group id
	cases := []struct {
		name  string
		match GroupMatch
		want  string
	}{
		{"by displayName", MatchGroupDisplayName, `via group "Data-Platform" (from the last sign-in)`},
		{"by externalId", MatchGroupExternalID, `via group "Data-Platform" (from the last sign-in)`},
		{"never by SCIM id", MatchGroupID, ""},
	}
	for _, c := range cases {
		b := Binding{ID: "b", Role: RoleEditor, WorkspaceID: "ws", GroupMatch: c.match, GroupValue: "Data-Platform"}
		acc := Effective("u", signIn, []Binding{b})
		got := ""
		if w := acc.Workspaces["ws"]; w != nil {
			got = w.Grants[0].Via
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
