package api

import (
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// The JSON shapes of the API. They are declared here, apart from the
// domain types, so that a change in the domain never silently changes the
// API (openapi.json describes these).

type userJSON struct {
	ID          string         `json:"id"`
	UserName    string         `json:"userName"`
	DisplayName string         `json:"displayName"`
	Emails      []string       `json:"emails"`
	Active      bool           `json:"active"`
	Status      string         `json:"status"`
	Source      string         `json:"source"`
	Kind        string         `json:"kind"`
	ExternalID  *string        `json:"externalId"`
	Groups      []groupRefJSON `json:"groups"`
	CreatedAt   time.Time      `json:"createdAt"`
	UpdatedAt   time.Time      `json:"updatedAt"`
	RemovedAt   *time.Time     `json:"removedAt,omitempty"`
	// Invitation is set on a pending invitation listed as a user (status
	// invited, no id yet).
	Invitation *invitationRefJSON `json:"invitation,omitempty"`
}

type invitationRefJSON struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type groupRefJSON struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
}

func renderUser(u directory.User) userJSON {
	out := userJSON{
		ID: u.ID, UserName: u.UserName, DisplayName: u.DisplayName, Emails: u.Emails, Active: u.Active,
		Status: u.Status(), Source: u.Source, Kind: u.Kind, Groups: make([]groupRefJSON, 0, len(u.Groups)),
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt, RemovedAt: u.RemovedAt,
	}
	if out.Emails == nil {
		out.Emails = []string{}
	}
	if u.ExternalID != "" {
		out.ExternalID = &u.ExternalID
	}
	for _, g := range u.Groups {
		out.Groups = append(out.Groups, groupRefJSON(g))
	}
	return out
}

// userRefJSON names a user in another resource.
type userRefJSON struct {
	ID       string `json:"id"`
	UserName string `json:"userName"`
	Status   string `json:"status,omitempty"`
}

type workspaceRefJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type workspaceJSON struct {
	ID      string             `json:"id"`
	Name    string             `json:"name"`
	Targets []directory.Target `json:"targets"`
}

func renderWorkspace(w directory.Workspace) workspaceJSON {
	t := w.Targets
	if t == nil {
		t = []directory.Target{}
	}
	return workspaceJSON{ID: w.ID, Name: w.Name, Targets: t}
}

type groupSubjectJSON struct {
	Match string `json:"match"`
	Value string `json:"value"`
}

type bindingJSON struct {
	ID        string            `json:"id"`
	Role      string            `json:"role"`
	Workspace *workspaceRefJSON `json:"workspace"` // null: org-wide
	User      *userRefJSON      `json:"user"`
	Group     *groupSubjectJSON `json:"group"`
	// Warning, on a mapping just made, says why it may apply to no one.
	Warning string `json:"warning,omitempty"`
}

type grantJSON struct {
	BindingID string `json:"bindingId"`
	Role      string `json:"role"`
	Via       string `json:"via"`
}

func renderGrants(gs []directory.Grant) []grantJSON {
	out := make([]grantJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, grantJSON{BindingID: g.BindingID, Role: g.Role.String(), Via: g.Via})
	}
	return out
}

type tokenJSON struct {
	ID         string       `json:"id"`
	Name       string       `json:"name"`
	Status     string       `json:"status"`
	Owner      *userRefJSON `json:"owner,omitempty"` // API tokens only
	CreatedAt  time.Time    `json:"createdAt"`
	ExpiresAt  *time.Time   `json:"expiresAt"`
	LastUsedAt *time.Time   `json:"lastUsedAt"`
	RevokedAt  *time.Time   `json:"revokedAt"`
}

// createdTokenJSON is a token as created: the secret appears here once.
type createdTokenJSON struct {
	tokenJSON
	Token string `json:"token"`
}

func renderToken(t directory.SCIMToken, now time.Time) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Status: string(t.Status(now)), CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

type auditJSON struct {
	ID           int64          `json:"id"`
	OccurredAt   time.Time      `json:"occurredAt"`
	Actor        string         `json:"actor"`
	Action       string         `json:"action"`
	ResourceType string         `json:"resourceType"`
	ResourceID   string         `json:"resourceId"`
	Before       map[string]any `json:"before"`
	After        map[string]any `json:"after"`
}

func renderAudit(e postgres.AuditEvent) auditJSON {
	return auditJSON{ID: e.ID, OccurredAt: e.OccurredAt, Actor: e.Actor, Action: e.Action,
		ResourceType: e.ResourceType, ResourceID: e.ResourceID, Before: e.Before, After: e.After}
}
