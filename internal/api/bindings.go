package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/resource"
)

// Role bindings and SSO mappings. A mapping is a binding whose subject is
// an IdP group; the mappings routes are the bindings routes restricted to
// group subjects, for the "SSO mappings" screen.

func (h *Handler) listBindings(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.listBindingsOf(w, r, c, false)
}

func (h *Handler) listMappings(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.listBindingsOf(w, r, c, true)
}

// listBindingsOf lists bindings, filtered by ?workspace= (id or name) and,
// for bindings, ?user= (id, userName or email; that user's direct grants).
func (h *Handler) listBindingsOf(w http.ResponseWriter, r *http.Request, c *call, groups bool) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	f := postgres.BindingFilter{Groups: groups}
	if ref := q.Get("workspace"); ref != "" {
		ws, err := h.store.Workspace(ctx, c.org.ID, ref)
		if err != nil {
			return err
		}
		f.WorkspaceID = ws.ID
	}
	if ref := q.Get("user"); ref != "" && !groups {
		u, err := h.store.FindMember(ctx, c.org.ID, ref)
		if err != nil {
			return err
		}
		f.UserID = u.ID
	}
	all, err := h.store.Bindings(ctx, c.org.ID, f)
	if err != nil {
		return err
	}
	page := window(all, p)
	items, err := h.renderBindings(ctx, c.org.ID, page.Items)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, list[bindingJSON]{Items: items, Total: page.Total, Offset: p.offset, Limit: p.limit})
}

// renderBindings names the workspaces and users the bindings refer to.
func (h *Handler) renderBindings(ctx context.Context, orgID string, bs []directory.Binding) ([]bindingJSON, error) {
	out := make([]bindingJSON, 0, len(bs))
	if len(bs) == 0 {
		return out, nil
	}
	var userIDs []string
	needWorkspaces := false
	for _, b := range bs {
		if b.UserID != "" {
			userIDs = append(userIDs, b.UserID)
		}
		needWorkspaces = needWorkspaces || b.WorkspaceID != ""
	}
	wsNames, userNames, err := h.names(ctx, orgID, needWorkspaces, userIDs)
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		j := bindingJSON{ID: b.ID, Role: b.Role.String()}
		if b.WorkspaceID != "" {
			j.Workspace = &resource.WorkspaceRef{ID: b.WorkspaceID, Name: wsNames[b.WorkspaceID]}
		}
		if b.UserID != "" {
			j.User = &resource.UserRef{ID: b.UserID, UserName: userNames[b.UserID]}
		}
		if b.GroupValue != "" {
			j.Group = &groupSubjectJSON{Match: string(b.GroupMatch), Value: b.GroupValue}
		}
		out = append(out, j)
	}
	return out, nil
}

type bindingCreate struct {
	Role      string            `json:"role"`
	Workspace string            `json:"workspace"` // id or name; absent for org-admin
	User      string            `json:"user"`      // id, userName or email
	Group     *groupSubjectJSON `json:"group"`     // match defaults to displayName
}

func (h *Handler) createBinding(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.createBindingOf(w, r, c, false)
}

func (h *Handler) createMapping(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.createBindingOf(w, r, c, true)
}

// createBindingOf resolves the references of a new binding and stores it.
// A group need not exist yet: a mapping may be made before the IdP pushes
// the group it names.
func (h *Handler) createBindingOf(w http.ResponseWriter, r *http.Request, c *call, groups bool) error {
	var req bindingCreate
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	role, err := directory.ParseRole(req.Role)
	if err != nil {
		return err
	}
	if groups && req.User != "" {
		return directory.Invalidf("a mapping names a group; grant a role to a user with /bindings")
	}
	if groups && req.Group == nil {
		return directory.Invalidf("a mapping needs a group: {\"match\": \"displayName\", \"value\": \"…\"}")
	}
	if (req.User == "") == (req.Group == nil) {
		return directory.Invalidf("a binding names exactly one subject: a user or a group")
	}
	ctx := r.Context()
	b := directory.Binding{OrgID: c.org.ID, Role: role}
	if req.Workspace != "" {
		ws, err := h.store.Workspace(ctx, c.org.ID, req.Workspace)
		if err != nil {
			return err
		}
		b.WorkspaceID = ws.ID
	}
	if req.User != "" {
		u, err := h.store.FindMember(ctx, c.org.ID, req.User)
		if err != nil {
			return err
		}
		if u.Status() == directory.StatusRemoved {
			return directory.Conflictf("%s was removed from the organization and cannot be granted a role", u.UserName)
		}
		b.UserID = u.ID
	}
	if req.Group != nil {
		b.GroupMatch, b.GroupValue = directory.GroupMatch(req.Group.Match), req.Group.Value
		if b.GroupMatch == "" {
			b.GroupMatch = directory.MatchGroupDisplayName
		}
		if b.GroupValue == "" {
			return directory.Invalidf("group.value is required")
		}
	}
	created, err := h.store.CreateBinding(ctx, c.actor, b) // validates b
	if errors.Is(err, directory.ErrConflict) {
		return h.alreadyBound(ctx, c, b)
	}
	if err != nil {
		return err
	}
	out, err := h.renderBindings(ctx, c.org.ID, []directory.Binding{created})
	if err != nil {
		return err
	}
	if b.GroupValue != "" {
		// Accepted (the IdP may push the group later), but not without a
		// word: a typo here would otherwise grant nothing, silently.
		known, err := h.store.GroupKnown(ctx, c.org.ID, b.GroupMatch, b.GroupValue)
		if err != nil {
			return err
		}
		if !known {
			out[0].Warning = fmt.Sprintf("no group with %s %q has been pushed by the IdP or named in a sign-in yet: "+
				"the mapping applies once one is (check the spelling; names match exactly)", b.GroupMatch, b.GroupValue)
		}
	}
	coll := "bindings"
	if groups {
		coll = "mappings"
	}
	w.Header().Set("Location", "/api/v1/orgs/"+c.org.Slug+"/"+coll+"/"+created.ID)
	return h.writeJSON(w, r, http.StatusCreated, out[0])
}

// alreadyBound explains a duplicate binding in the admin's terms.
func (h *Handler) alreadyBound(ctx context.Context, c *call, b directory.Binding) error {
	where := "on the organization"
	if b.WorkspaceID != "" {
		wsNames, _, err := h.names(ctx, c.org.ID, true, nil)
		if err != nil {
			return err
		}
		where = fmt.Sprintf("on workspace %s", wsNames[b.WorkspaceID])
	}
	if b.GroupValue != "" {
		return directory.Conflictf("the group with %s %q is already mapped to %s %s", b.GroupMatch, b.GroupValue, b.Role, where)
	}
	_, userNames, err := h.names(ctx, c.org.ID, false, []string{b.UserID})
	if err != nil {
		return err
	}
	return directory.Conflictf("%s already has %s %s", userNames[b.UserID], b.Role, where)
}

func (h *Handler) deleteBinding(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.deleteBindingOf(w, r, c, false)
}

func (h *Handler) deleteMapping(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.deleteBindingOf(w, r, c, true)
}

// deleteBindingOf deletes a binding (a mapping: a group binding only). The
// store refuses the break-glass owner's org-admin binding.
func (h *Handler) deleteBindingOf(w http.ResponseWriter, r *http.Request, c *call, groups bool) error {
	if err := h.guardSelfLockout(r, c, func(g directory.Grant) bool { return g.BindingID == r.PathValue("id") }); err != nil {
		return err
	}
	if err := h.store.DeleteBinding(r.Context(), c.actor, c.org.ID, r.PathValue("id"), groups); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ConfirmSelfLockout is the value of ?confirm= with which an admin goes
// ahead with a change that takes away their own Org Admin.
const ConfirmSelfLockout = "self-lockout"

// guardSelfLockout refuses, unless the request says
// ?confirm=self-lockout, a change that would take away the caller's own
// Org Admin: every grant of it that the caller has is one that goes
// (goes reports which). One keypress on a mapping's Remove locked an admin
// out at once, the page still showing the mapping; only the break-glass
// owner could undo it. The break-glass owner's own grant can never be
// removed (the store refuses), so it needs no guard.
func (h *Handler) guardSelfLockout(r *http.Request, c *call, goes func(directory.Grant) bool) error {
	if r.URL.Query().Get("confirm") == ConfirmSelfLockout || c.user.ID == "" || c.user.Source == directory.SourceBreakGlass {
		return nil
	}
	acc, admin, err := c.callerAccess(r.Context())
	if err != nil || !admin || len(acc.OrgAdmin) == 0 {
		return err
	}
	for _, g := range acc.OrgAdmin {
		if !goes(g) {
			return nil // another grant keeps the caller Org Admin
		}
	}
	return directory.Conflictf("this takes away your own Org Admin (%s has it only through what this removes): "+
		"you would lose this console and the admin API at once, and only another Org Admin or the break-glass owner could give it back; "+
		"to go ahead anyway, repeat the request with ?confirm=%s", c.user.UserName, ConfirmSelfLockout)
}

// names looks up, in at most two queries, the workspace names (when
// needed) and the userNames of ids that a listing shows.
func (h *Handler) names(ctx context.Context, orgID string, needWorkspaces bool, userIDs []string) (wsNames, userNames map[string]string, err error) {
	wsNames, userNames = map[string]string{}, map[string]string{}
	if needWorkspaces {
		all, err := h.store.Workspaces(ctx, orgID)
		if err != nil {
			return nil, nil, err
		}
		for _, ws := range all {
			wsNames[ws.ID] = ws.Name
		}
	}
	if len(userIDs) > 0 {
		if userNames, err = h.store.UserNames(ctx, orgID, userIDs); err != nil {
			return nil, nil, err
		}
	}
	return wsNames, userNames, nil
}
