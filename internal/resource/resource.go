// Package resource holds the JSON shapes in which scimbridge shows its
// resources to a platform. The admin API (internal/api) answers with them,
// and the change feed and webhooks carry them as an event's data, which
// the store (internal/postgres) renders when it writes the change. One
// package for both keeps an event's data and the API's answer from
// drifting apart: a platform that lists users and then follows the feed
// sees one shape.
//
// The shapes are declared apart from the domain types so that a change in
// the domain never silently changes what platforms receive
// (internal/api/openapi.json and docs/events.md describe these). Times are
// rendered in UTC, so that an event rendered by SQL on the create path
// (postgres.insertUser) is byte for byte what Go renders here.
//
// It depends on internal/directory alone.
package resource

import (
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// User is a user of any source and kind, as GET /users/{id} answers it.
type User struct {
	ID          string     `json:"id"`
	UserName    string     `json:"userName"`
	DisplayName string     `json:"displayName"`
	Emails      []string   `json:"emails"`
	Active      bool       `json:"active"`
	Status      string     `json:"status"`
	Source      string     `json:"source"`
	Kind        string     `json:"kind"`
	ExternalID  *string    `json:"externalId"`
	Groups      []GroupRef `json:"groups"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	RemovedAt   *time.Time `json:"removedAt,omitempty"`
	// Invitation is set on a pending invitation listed as a user (status
	// invited, no id yet).
	Invitation *InvitationRef `json:"invitation,omitempty"`
}

// InvitationRef names the pending invitation a listed "user" stands for.
type InvitationRef struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// GroupRef names a group a user belongs to.
type GroupRef struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

// UTC is t in UTC, the zone every shape renders times in.
func UTC(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// RenderUser renders a user.
func RenderUser(u directory.User) User {
	out := User{
		ID: u.ID, UserName: u.UserName, DisplayName: u.DisplayName, Emails: u.Emails, Active: u.Active,
		Status: u.Status(), Source: u.Source, Kind: u.Kind, Groups: make([]GroupRef, 0, len(u.Groups)),
		CreatedAt: UTC(u.CreatedAt), UpdatedAt: UTC(u.UpdatedAt), RemovedAt: utcPtr(u.RemovedAt),
	}
	if out.Emails == nil {
		out.Emails = []string{}
	}
	if u.ExternalID != "" {
		out.ExternalID = &u.ExternalID
	}
	for _, g := range u.Groups {
		out.Groups = append(out.Groups, GroupRef(g))
	}
	return out
}

// RenderInvited shows a pending invitation as a user of status invited.
// It has no user id yet; the invitation's id is where to resend or revoke.
func RenderInvited(inv directory.Invitation) User {
	return User{
		UserName: inv.Email, Emails: []string{directory.FoldASCII(inv.Email)}, Status: directory.StatusInvited,
		Source: directory.SourceInvitation, Kind: directory.KindHuman, Groups: []GroupRef{},
		CreatedAt: UTC(inv.CreatedAt), UpdatedAt: UTC(inv.CreatedAt),
		Invitation: &InvitationRef{ID: inv.ID, ExpiresAt: UTC(inv.ExpiresAt)},
	}
}

// UserRef names a user in another resource.
type UserRef struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	Status   string `json:"status,omitempty"`
}

// WorkspaceRef names a workspace in another resource.
type WorkspaceRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// MemberRef names the user or service account something belongs to, with
// what attribution shows: the name and whether it is still active.
type MemberRef struct {
	ID          string `json:"id"`
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Status      string `json:"status"`
	Kind        string `json:"kind"`
}

// RenderMemberRef renders a reference to u.
func RenderMemberRef(u directory.User) MemberRef {
	return MemberRef{ID: u.ID, UserName: u.UserName, DisplayName: u.DisplayName, Status: u.Status(), Kind: u.Kind}
}

// ServiceAccount is a service account (a user of kind service).
type ServiceAccount struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Owner       *UserRef `json:"owner"` // the person responsible; null: none
	// Status is active, deactivated (disabled) or removed (deleted).
	Status    string     `json:"status"`
	CreatedAt time.Time  `json:"createdAt"`
	UpdatedAt time.Time  `json:"updatedAt"`
	RemovedAt *time.Time `json:"removedAt,omitempty"`
}

// ServiceAccountOwner is the owner a service account's attributes name:
// its id and the userName it had when it was named ("" for none).
func ServiceAccountOwner(sa directory.User) (id, display string) {
	o, _ := sa.Attributes["owner"].(map[string]any)
	id, _ = o["value"].(string)
	display, _ = o["display"].(string)
	return id, display
}

// RenderServiceAccount renders a service account; ownerNames maps owner
// ids to their current userNames (an owner missing from it is named as it
// was when it was made the owner).
func RenderServiceAccount(sa directory.User, ownerNames map[string]string) ServiceAccount {
	desc, _ := sa.Attributes["description"].(string)
	out := ServiceAccount{ID: sa.ID, Name: sa.UserName, Description: desc, Status: sa.Status(),
		CreatedAt: UTC(sa.CreatedAt), UpdatedAt: UTC(sa.UpdatedAt), RemovedAt: utcPtr(sa.RemovedAt)}
	if id, display := ServiceAccountOwner(sa); id != "" {
		name, ok := ownerNames[id]
		if !ok {
			name = display
		}
		out.Owner = &UserRef{ID: id, UserName: name}
	}
	return out
}

// InvitationGrant is an initial role an invitation gives.
type InvitationGrant struct {
	Role      string        `json:"role"`
	Workspace *WorkspaceRef `json:"workspace"` // null: org-wide
}

// Invitation is an invitation to join the organization. It never carries
// the join link's secret.
type Invitation struct {
	ID         string            `json:"id"`
	Email      string            `json:"email"`
	AnyEmail   bool              `json:"anyEmail"`
	State      string            `json:"state"` // pending, accepted, revoked, expired
	Bindings   []InvitationGrant `json:"bindings"`
	InvitedBy  string            `json:"invitedBy"`
	CreatedAt  time.Time         `json:"createdAt"`
	ExpiresAt  time.Time         `json:"expiresAt"`
	SentAt     *time.Time        `json:"sentAt"`
	AcceptedAt *time.Time        `json:"acceptedAt"`
	AcceptedBy *UserRef          `json:"acceptedBy"`
	RevokedAt  *time.Time        `json:"revokedAt"`
}

// RenderInvitation renders an invitation as it stands at now; wsNames and
// userNames name the workspaces of its grants and the member it became (a
// workspace deleted since keeps its id, with no name).
func RenderInvitation(inv directory.Invitation, now time.Time, wsNames, userNames map[string]string) Invitation {
	out := Invitation{
		ID: inv.ID, Email: inv.Email, AnyEmail: inv.AnyEmail, State: inv.State(now),
		Bindings: make([]InvitationGrant, 0, len(inv.Bindings)), InvitedBy: inv.InvitedBy,
		CreatedAt: UTC(inv.CreatedAt), ExpiresAt: UTC(inv.ExpiresAt), SentAt: utcPtr(inv.SentAt),
		AcceptedAt: utcPtr(inv.AcceptedAt), RevokedAt: utcPtr(inv.RevokedAt),
	}
	for _, b := range inv.Bindings {
		g := InvitationGrant{Role: b.Role.String()}
		if b.WorkspaceID != "" {
			g.Workspace = &WorkspaceRef{ID: b.WorkspaceID, Name: wsNames[b.WorkspaceID]}
		}
		out.Bindings = append(out.Bindings, g)
	}
	if inv.AcceptedBy != "" {
		out.AcceptedBy = &UserRef{ID: inv.AcceptedBy, UserName: userNames[inv.AcceptedBy]}
	}
	return out
}

// GitIdentity is a commit author as seen on synced repositories, and who
// it is mapped to.
type GitIdentity struct {
	ID        string     `json:"id"`
	Provider  string     `json:"provider"`
	Email     string     `json:"email"` // "" when the host gave only a login
	Login     string     `json:"login"` // "" when the host gives none
	Name      string     `json:"name"`
	FirstSeen time.Time  `json:"firstSeen"`
	LastSeen  time.Time  `json:"lastSeen"`
	Commits   int64      `json:"commits"`
	Repos     []string   `json:"repos"` // most recently seen first
	MappedTo  *MemberRef `json:"mappedTo"`
}

// RenderGitIdentity renders an identity mapped to to (nil: unmapped).
func RenderGitIdentity(g directory.GitIdentity, to *MemberRef) GitIdentity {
	repos := g.Repos
	if repos == nil {
		repos = []string{}
	}
	return GitIdentity{ID: g.ID, Provider: g.Provider, Email: g.Email, Login: g.Login, Name: g.Name,
		FirstSeen: UTC(g.FirstSeen), LastSeen: UTC(g.LastSeen), Commits: g.Commits, Repos: repos, MappedTo: to}
}

// Group is an identity provider's group. Its members are not part of it:
// a group may have tens of thousands; membership changes are events of
// their own (GroupMember).
type Group struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	ExternalID  *string   `json:"externalId"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// RenderGroup renders a group.
func RenderGroup(g directory.Group) Group {
	out := Group{ID: g.ID, DisplayName: g.DisplayName, CreatedAt: UTC(g.CreatedAt), UpdatedAt: UTC(g.UpdatedAt)}
	if g.ExternalID != "" {
		out.ExternalID = &g.ExternalID
	}
	return out
}

// GroupMember is one membership: a user in a group.
type GroupMember struct {
	Group GroupRef `json:"group"`
	User  UserRef  `json:"user"`
}

// RoleChange is a change of a user's effective role in one scope: on a
// workspace, or (Workspace null) on the organization, where the only role
// is org-admin. Role is what the user has now (null: nothing there any
// more), PreviousRole what they had (null: nothing). The roles are the
// highest of every grant, direct or by group, so a consumer keeps a table
// (user, workspace) → role by setting Role, whatever the event's type.
type RoleChange struct {
	User         UserRef       `json:"user"`
	Kind         string        `json:"kind"` // human or service
	Workspace    *WorkspaceRef `json:"workspace"`
	Role         *string       `json:"role"`
	PreviousRole *string       `json:"previousRole"`
}

// RenderRoleChange renders a change from before to after (RoleNone for
// nothing) of u's role on ws (nil: the organization).
func RenderRoleChange(u UserRef, kind string, ws *WorkspaceRef, before, after directory.Role) RoleChange {
	out := RoleChange{User: u, Kind: kind, Workspace: ws}
	if after != directory.RoleNone {
		s := after.String()
		out.Role = &s
	}
	if before != directory.RoleNone {
		s := before.String()
		out.PreviousRole = &s
	}
	return out
}

// Login is a sign-in through the organization's identity provider.
type Login struct {
	User   UserRef `json:"user"`
	Issuer string  `json:"issuer"`
	// Method is how the login was matched to its user: link (a login
	// seen before), oid, email, jit (a user created for it) or invitation.
	Method string `json:"method"`
}
