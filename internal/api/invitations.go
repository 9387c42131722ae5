package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/resource"
)

// Invitations: an org admin invites an address, with optional initial
// role bindings; the mail with the join link goes through the outbox. The
// invitee accepts with a login (the OIDC issue's route, not this
// package's). Lists answer each invitation's state and never a token: the
// secret exists only in the mail.

// renderInvitations names the workspaces of the initial grants and the
// members the accepted invitations became.
func (h *Handler) renderInvitations(ctx context.Context, orgID string, invs []directory.Invitation, now time.Time) ([]resource.Invitation, error) {
	out := make([]resource.Invitation, 0, len(invs))
	var accepted []string
	needWorkspaces := false
	for _, inv := range invs {
		if inv.AcceptedBy != "" {
			accepted = append(accepted, inv.AcceptedBy)
		}
		for _, b := range inv.Bindings {
			needWorkspaces = needWorkspaces || b.WorkspaceID != ""
		}
	}
	wsNames, userNames, err := h.names(ctx, orgID, needWorkspaces, accepted)
	if err != nil {
		return nil, err
	}
	for _, inv := range invs {
		out = append(out, resource.RenderInvitation(inv, now, wsNames, userNames))
	}
	return out, nil
}

// queryBool reads a boolean query parameter: true or false, def when
// absent.
func queryBool(q url.Values, name string, def bool) (bool, error) {
	switch s := q.Get(name); s {
	case "":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	default:
		return false, directory.Invalidf("%s %q: want true or false", name, s)
	}
}

// listInvitations lists invitations, newest first; ?pending=true keeps
// those that can still be accepted.
func (h *Handler) listInvitations(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	pending, err := queryBool(r.URL.Query(), "pending", false)
	if err != nil {
		return err
	}
	ctx := r.Context()
	all, err := h.store.Invitations(ctx, c.org.ID, pending)
	if err != nil {
		return err
	}
	page := window(all, p)
	items, err := h.renderInvitations(ctx, c.org.ID, page.Items, time.Now())
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, list[resource.Invitation]{Items: items, Total: page.Total, Offset: p.offset, Limit: p.limit})
}

type invitationGrantCreate struct {
	Role      string `json:"role"`
	Workspace string `json:"workspace"` // id or name; absent for org-admin
}

type invitationCreate struct {
	Email     string                  `json:"email"`
	AnyEmail  bool                    `json:"anyEmail"`  // accept a login with any verified email
	Bindings  []invitationGrantCreate `json:"bindings"`  // the member-to-be's initial roles
	ExpiresIn string                  `json:"expiresIn"` // "7d", "48h"; absent: 7 days
}

// createInvitation invites an address. Inviting a member's address is 409
// naming the member (the store checks it, with the pending invitation of
// the same address).
func (h *Handler) createInvitation(w http.ResponseWriter, r *http.Request, c *call) error {
	var req invitationCreate
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.Email == "" {
		return directory.Invalidf("email is required: the address to invite")
	}
	ttl, err := ttlOf(req.ExpiresIn)
	if err != nil {
		return err
	}
	ctx := r.Context()
	bindings := make([]directory.Binding, 0, len(req.Bindings))
	for i, g := range req.Bindings {
		role, err := directory.ParseRole(g.Role)
		if err != nil {
			return directory.Invalidf("%s: %v", ordinalRole(i, len(req.Bindings)), err)
		}
		// The shape first (org-admin on the organization, other roles on
		// a workspace), with the member-to-be standing in as the subject.
		probe := directory.Binding{Role: role, WorkspaceID: g.Workspace, UserID: "invitee"}
		if err := probe.Validate(); err != nil {
			return directory.Invalidf("%s: %v", ordinalRole(i, len(req.Bindings)), err)
		}
		b := directory.Binding{OrgID: c.org.ID, Role: role}
		if g.Workspace != "" {
			ws, err := h.store.Workspace(ctx, c.org.ID, g.Workspace)
			if err != nil {
				return err
			}
			b.WorkspaceID = ws.ID
		}
		bindings = append(bindings, b)
	}
	inv, err := h.store.CreateInvitation(ctx, c.actor, c.org.ID, req.Email, req.AnyEmail, bindings, ttl)
	if err != nil {
		return err
	}
	out, err := h.renderInvitations(ctx, c.org.ID, []directory.Invitation{inv}, time.Now())
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/orgs/"+c.org.Slug+"/invitations/"+inv.ID)
	return h.writeJSON(w, r, http.StatusCreated, out[0])
}

// ordinalRole names the i-th of n initial roles in words an admin reads
// (the console shows the message as it is), never as a JSON path.
func ordinalRole(i, n int) string {
	if n == 1 {
		return "the initial role"
	}
	return fmt.Sprintf("initial role %d of %d", i+1, n)
}

// resendInvitation queues another mail for a pending invitation: 202, as
// the outbox sends it later. The new mail carries a new link, and the
// previous link stops working when it is sent.
func (h *Handler) resendInvitation(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := h.store.ResendInvitation(r.Context(), c.actor, c.org.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// revokeInvitation withdraws a pending invitation; its link stops working.
func (h *Handler) revokeInvitation(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := h.store.RevokeInvitation(r.Context(), c.actor, c.org.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
