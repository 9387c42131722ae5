package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/resource"
)

var sources = map[string]bool{
	directory.SourceSCIM: true, directory.SourceInvitation: true, directory.SourceJIT: true,
	directory.SourceService: true, directory.SourceBreakGlass: true,
}

// listUsers lists the organization's users and, as users of status
// "invited", its pending invitations (postgres.Listing): the Org → Users
// screen shows both.
func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	mq := postgres.MemberQuery{Search: q.Get("search"), Status: q.Get("status"), Source: q.Get("source"), Offset: p.offset, Limit: p.limit}
	switch mq.Status {
	case "", directory.StatusInvited, directory.StatusActive, directory.StatusDeactivated, directory.StatusRemoved:
	default:
		return directory.Invalidf("status %q: want invited, active, deactivated or removed", mq.Status)
	}
	if mq.Source != "" && !sources[mq.Source] {
		return directory.Invalidf("source %q: want scim, invitation, jit, service or breakglass", mq.Source)
	}
	entries, total, err := h.store.Listing(r.Context(), c.org.ID, mq)
	if err != nil {
		return err
	}
	out := list[resource.User]{Items: make([]resource.User, 0, len(entries)), Total: total, Offset: p.offset, Limit: p.limit}
	for _, e := range entries {
		if e.Invitation != nil {
			out.Items = append(out.Items, resource.RenderInvited(*e.Invitation))
		} else {
			out.Items = append(out.Items, resource.RenderUser(e.User))
		}
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

func (h *Handler) getUser(w http.ResponseWriter, r *http.Request, c *call) error {
	u, err := h.store.Member(r.Context(), c.org.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, resource.RenderUser(u))
}

// removeUser ends a membership. The store refuses IdP-managed users (409:
// remove them in the IdP) and the break-glass owner (409).
func (h *Handler) removeUser(w http.ResponseWriter, r *http.Request, c *call) error {
	if strings.EqualFold(r.PathValue("id"), c.user.ID) { // ids are UUIDs, in any case
		// Removing oneself takes every grant away.
		if err := h.guardSelfLockout(r, c, func(directory.Grant) bool { return true }); err != nil {
			return err
		}
	}
	if _, err := h.store.RemoveMember(r.Context(), c.actor, c.org.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type workspaceAccessJSON struct {
	Workspace resource.WorkspaceRef `json:"workspace"`
	Role      string                `json:"role"`
	Grants    []grantJSON           `json:"grants"`
}

type permissionsJSON struct {
	User resource.User `json:"user"`
	// Effective is false for a deactivated or removed user: the grants are
	// listed, but authorize allows nothing.
	Effective  bool                  `json:"effective"`
	OrgAdmin   []grantJSON           `json:"orgAdmin"`
	Workspaces []workspaceAccessJSON `json:"workspaces"`
	Summary    []string              `json:"summary"`
}

// permissions answers a user's effective permissions with their
// provenance. Anyone may ask about themself; asking about others needs
// Org Admin.
func (h *Handler) permissions(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id := r.PathValue("id")
	acc, admin, err := c.callerAccess(ctx)
	if err != nil {
		return err
	}
	if !admin && !strings.EqualFold(id, c.user.ID) {
		return errForbiddenf("only an org admin may see the permissions of other users")
	}
	u, err := h.store.Member(ctx, c.org.ID, id)
	if err != nil {
		return err
	}
	if u.ID != c.user.ID {
		if acc, err = h.store.Access(ctx, c.org.ID, u.ID); err != nil {
			return err
		}
	}
	names, _, err := h.names(ctx, c.org.ID, len(acc.Workspaces) > 0, nil)
	if err != nil {
		return err
	}
	out := permissionsJSON{
		User:       resource.RenderUser(u),
		Effective:  u.Status() == directory.StatusActive,
		OrgAdmin:   renderGrants(acc.OrgAdmin),
		Workspaces: make([]workspaceAccessJSON, 0, len(acc.Workspaces)),
		Summary:    []string{},
	}
	for _, g := range acc.OrgAdmin {
		out.Summary = append(out.Summary, fmt.Sprintf("%s on the organization %s", g.Role, g.Via))
	}
	for _, wa := range acc.Workspaces {
		name, ok := names[wa.WorkspaceID]
		if !ok {
			name = wa.WorkspaceID // deleted since the bindings were read
		}
		out.Workspaces = append(out.Workspaces, workspaceAccessJSON{
			Workspace: resource.WorkspaceRef{ID: wa.WorkspaceID, Name: name},
			Role:      wa.Role.String(),
			Grants:    renderGrants(wa.Grants),
		})
	}
	sort.Slice(out.Workspaces, func(i, j int) bool {
		a, b := out.Workspaces[i].Workspace, out.Workspaces[j].Workspace
		return a.Name < b.Name || a.Name == b.Name && a.ID < b.ID
	})
	for _, wa := range out.Workspaces {
		for _, g := range wa.Grants {
			out.Summary = append(out.Summary, fmt.Sprintf("%s on %s %s", g.Role, wa.Workspace.Name, g.Via))
		}
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}
