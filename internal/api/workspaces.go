package api

import (
	"net/http"

	"github.com/scimbridge/scimbridge/internal/directory"
)

func (h *Handler) listWorkspaces(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	all, err := h.store.Workspaces(r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	page := window(all, p)
	out := list[workspaceJSON]{Items: make([]workspaceJSON, 0, len(page.Items)), Total: page.Total, Offset: p.offset, Limit: p.limit}
	for _, ws := range page.Items {
		out.Items = append(out.Items, renderWorkspace(ws))
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

type workspaceCreate struct {
	Name    string             `json:"name"`
	Targets []directory.Target `json:"targets"`
}

func (h *Handler) createWorkspace(w http.ResponseWriter, r *http.Request, c *call) error {
	var req workspaceCreate
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	ws, err := h.store.CreateWorkspace(r.Context(), c.actor, c.org.ID, req.Name, req.Targets)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/orgs/"+c.org.Slug+"/workspaces/"+ws.ID)
	return h.writeJSON(w, r, http.StatusCreated, renderWorkspace(ws))
}

func (h *Handler) getWorkspace(w http.ResponseWriter, r *http.Request, c *call) error {
	ws, err := h.store.Workspace(r.Context(), c.org.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, renderWorkspace(ws))
}

// workspacePatch changes what it names: an absent (or null) field stays
// as it is; "targets": [] empties the workspace.
type workspacePatch struct {
	Name    *string            `json:"name"`
	Targets []directory.Target `json:"targets"`
}

func (h *Handler) updateWorkspace(w http.ResponseWriter, r *http.Request, c *call) error {
	var req workspacePatch
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	var (
		ws  directory.Workspace
		err error
	)
	if req.Name == nil && req.Targets == nil {
		ws, err = h.store.Workspace(ctx, c.org.ID, r.PathValue("id"))
	} else {
		ws, err = h.store.UpdateWorkspace(ctx, c.actor, c.org.ID, r.PathValue("id"), req.Name, req.Targets)
	}
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, renderWorkspace(ws))
}

func (h *Handler) deleteWorkspace(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := h.store.DeleteWorkspace(r.Context(), c.actor, c.org.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
