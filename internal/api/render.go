package api

import (
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/resource"
)

// The JSON shapes of the API that only the API answers with. They are
// declared here, apart from the domain types, so that a change in the
// domain never silently changes the API (openapi.json describes these).
// The shapes that events carry too (users, service accounts, invitations,
// Git identities and the references between them) live in
// internal/resource, which the store renders events with.

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
	ID        string                 `json:"id"`
	Role      string                 `json:"role"`
	Workspace *resource.WorkspaceRef `json:"workspace"` // null: org-wide
	User      *resource.UserRef      `json:"user"`
	Group     *groupSubjectJSON      `json:"group"`
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
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Status     string            `json:"status"`
	Owner      *resource.UserRef `json:"owner,omitempty"` // API tokens only
	CreatedAt  time.Time         `json:"createdAt"`
	ExpiresAt  *time.Time        `json:"expiresAt"`
	LastUsedAt *time.Time        `json:"lastUsedAt"`
	RevokedAt  *time.Time        `json:"revokedAt"`
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
