package directory

import (
	"fmt"
	"sort"
	"strings"
)

// Role is a level of access. Roles are ordered: each includes the ones
// below it, and Org Admin includes Workspace Admin on every workspace.
type Role int

// Roles, lowest to highest.
const (
	RoleNone Role = iota
	RoleViewer
	RoleRunner
	RoleEditor
	RoleWorkspaceAdmin
	RoleOrgAdmin
)

var roleNames = []string{"none", "viewer", "runner", "editor", "workspace-admin", "org-admin"}

func (r Role) String() string {
	if r < 0 || int(r) >= len(roleNames) {
		return fmt.Sprintf("role(%d)", int(r))
	}
	return roleNames[r]
}

var roleSeparators = strings.NewReplacer("_", "-", " ", "-")

// ParseRole reads a role name: "viewer", "runner", "editor",
// "workspace-admin" or "org-admin" (case and "_"/" " for "-" ignored).
func ParseRole(s string) (Role, error) {
	for i, n := range roleNames { // the canonical spelling, as stored
		if i > 0 && n == s {
			return Role(i), nil
		}
	}
	k := roleSeparators.Replace(strings.ToLower(strings.TrimSpace(s)))
	for i, n := range roleNames {
		if i > 0 && n == k {
			return Role(i), nil
		}
	}
	return RoleNone, Invalidf("role %q: want viewer, runner, editor, workspace-admin or org-admin", s)
}

// OrgWide tells whether the role is granted on the organization rather
// than on one workspace.
func (r Role) OrgWide() bool { return r == RoleOrgAdmin }

// Action is something the platform asks permission for.
type Action string

// Actions, and the lowest role that allows each. This table is the
// contract documented in docs/access.md.
const (
	ActionViewPipes       Action = "pipes.view"       // view pipes and runs
	ActionRunPipes        Action = "pipes.run"        // run pipes
	ActionEditPipes       Action = "pipes.edit"       // create and edit pipes
	ActionManageWorkspace Action = "workspace.manage" // manage the workspace (its settings and targets)
	ActionManageOrg       Action = "org.manage"       // manage users, workspaces, mappings, tokens and service accounts
)

// Actions maps every action to the lowest role that allows it.
var Actions = map[Action]Role{
	ActionViewPipes:       RoleViewer,
	ActionRunPipes:        RoleRunner,
	ActionEditPipes:       RoleEditor,
	ActionManageWorkspace: RoleWorkspaceAdmin,
	ActionManageOrg:       RoleOrgAdmin,
}

// ParseAction checks an action name.
func ParseAction(s string) (Action, error) {
	a := Action(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := Actions[a]; !ok {
		names := make([]string, 0, len(Actions))
		for n := range Actions {
			names = append(names, string(n))
		}
		sort.Strings(names)
		return "", Invalidf("action %q: want one of %s", s, strings.Join(names, ", "))
	}
	return a, nil
}

// Target is one {cluster, namespace} pair of a workspace.
type Target struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
}

// Workspace is a named set of targets.
type Workspace struct {
	ID      string
	OrgID   string
	Name    string
	Targets []Target
}

// GroupMatch says which attribute of an IdP group a binding names.
type GroupMatch string

// Ways to name a group in a binding ("SSO mapping").
const (
	MatchGroupID          GroupMatch = "id"
	MatchGroupExternalID  GroupMatch = "externalId"
	MatchGroupDisplayName GroupMatch = "displayName"
)

// Binding gives a role to a group or a user, on a workspace or (Org Admin)
// on the organization.
type Binding struct {
	ID          string
	OrgID       string
	Role        Role
	WorkspaceID string // "" for org-wide
	// Exactly one subject: a user, or a group named by Match and Value.
	UserID     string
	GroupMatch GroupMatch
	GroupValue string
}

// Validate checks the shape of a binding.
func (b Binding) Validate() error {
	if b.Role <= RoleNone || b.Role > RoleOrgAdmin {
		return Invalidf("a binding needs a role")
	}
	if b.Role.OrgWide() != (b.WorkspaceID == "") {
		if b.Role.OrgWide() {
			return Invalidf("org-admin is granted on the organization, not on a workspace")
		}
		return Invalidf("%s is granted on a workspace: name one", b.Role)
	}
	if (b.UserID == "") == (b.GroupValue == "") {
		return Invalidf("a binding names exactly one subject: a user or a group")
	}
	if b.GroupValue != "" {
		switch b.GroupMatch {
		case MatchGroupID, MatchGroupExternalID, MatchGroupDisplayName:
		default:
			return Invalidf("group match %q: want id, externalId or displayName", b.GroupMatch)
		}
	}
	return nil
}

// Membership is what a user's groups look like to bindings.
type Membership struct {
	// GroupID is the SCIM group's id; "" for a group that the IdP named in
	// the user's last sign-in (ExternalID and DisplayName are then both
	// the claim's value).
	GroupID     string
	ExternalID  string
	DisplayName string
}

// Grant is one binding that applies to a user, with why.
type Grant struct {
	BindingID string
	Role      Role
	Via       string // "directly" or `via group "Data-Platform"`
}

// WorkspaceAccess is a user's role on one workspace, with every grant that
// gives a role there.
type WorkspaceAccess struct {
	WorkspaceID string
	Role        Role
	Grants      []Grant
}

// Access is a user's effective permissions.
type Access struct {
	OrgAdmin   []Grant // grants of org-admin; non-empty means org-admin
	Workspaces map[string]*WorkspaceAccess
}

// matches tells whether a binding applies to a user with these groups.
func (b Binding) matches(userID string, groups []Membership) (string, bool) {
	if b.UserID != "" {
		return "directly", b.UserID == userID
	}
	for _, g := range groups {
		var v string
		switch b.GroupMatch {
		case MatchGroupID:
			v = g.GroupID
		case MatchGroupExternalID:
			v = g.ExternalID
		case MatchGroupDisplayName:
			v = g.DisplayName
		}
		if v != "" && v == b.GroupValue {
			if g.GroupID == "" {
				return fmt.Sprintf("via group %q (from the last sign-in)", g.DisplayName), true
			}
			return fmt.Sprintf("via group %q", g.DisplayName), true
		}
	}
	return "", false
}

// Effective computes a user's permissions from the organization's
// bindings: bindings add up and the highest role wins.
func Effective(userID string, groups []Membership, bindings []Binding) Access {
	acc := Access{Workspaces: map[string]*WorkspaceAccess{}}
	for _, b := range bindings {
		via, ok := b.matches(userID, groups)
		if !ok {
			continue
		}
		g := Grant{BindingID: b.ID, Role: b.Role, Via: via}
		if b.Role.OrgWide() {
			acc.OrgAdmin = append(acc.OrgAdmin, g)
			continue
		}
		w := acc.Workspaces[b.WorkspaceID]
		if w == nil {
			w = &WorkspaceAccess{WorkspaceID: b.WorkspaceID}
			acc.Workspaces[b.WorkspaceID] = w
		}
		w.Grants = append(w.Grants, g)
		w.Role = max(w.Role, b.Role)
	}
	for _, w := range acc.Workspaces {
		sort.SliceStable(w.Grants, func(i, j int) bool { return w.Grants[i].Role > w.Grants[j].Role })
	}
	return acc
}

// RoleOn is the user's role on a workspace ("" for the organization).
func (a Access) RoleOn(workspaceID string) Role {
	if len(a.OrgAdmin) > 0 {
		return RoleOrgAdmin
	}
	if w := a.Workspaces[workspaceID]; w != nil && workspaceID != "" {
		return w.Role
	}
	return RoleNone
}

// Decision is the answer to "may this user do this".
type Decision struct {
	Allowed bool
	Role    Role   // the role that decided it (the user's highest there)
	Reason  string // for people: which grant, or why not
}

// Authorize decides an action on a workspace ("" for org-level actions)
// for an active user. Callers decide inactive and removed users themselves
// (never allowed) before asking.
func (a Access) Authorize(action Action, workspaceID string) Decision {
	need, ok := Actions[action]
	if !ok {
		return Decision{Reason: fmt.Sprintf("unknown action %q", action)}
	}
	if len(a.OrgAdmin) > 0 {
		return Decision{Allowed: true, Role: RoleOrgAdmin, Reason: "org-admin " + a.OrgAdmin[0].Via}
	}
	if need.OrgWide() || workspaceID == "" {
		return Decision{Reason: fmt.Sprintf("%s needs %s", action, RoleOrgAdmin)}
	}
	w := a.Workspaces[workspaceID]
	if w == nil {
		return Decision{Reason: fmt.Sprintf("no role on this workspace; %s needs %s", action, need)}
	}
	if w.Role < need {
		return Decision{Role: w.Role, Reason: fmt.Sprintf("%s (%s) is below %s, which %s needs", w.Role, w.Grants[0].Via, need, action)}
	}
	return Decision{Allowed: true, Role: w.Role, Reason: fmt.Sprintf("%s %s", w.Role, w.Grants[0].Via)}
}
