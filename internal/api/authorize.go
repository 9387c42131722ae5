package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/scimbridge/scimbridge/internal/directory"
)

type authorizeRequest struct {
	User      string `json:"user"`      // id, userName or email
	Action    string `json:"action"`    // pipes.run…
	Workspace string `json:"workspace"` // id or name; or:
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
}

type authorizeJSON struct {
	Allowed   bool              `json:"allowed"`
	Role      string            `json:"role"`
	Reason    string            `json:"reason"`
	User      userRefJSON       `json:"user"`
	Workspace *workspaceRefJSON `json:"workspace"`
}

// authorize answers the platform's question: may this user do this
// action on this workspace (or cluster and namespace)? Unknown users are
// 404; an unknown workspace or target is a denial (200), since the
// platform asks about clusters scimbridge may not know. A non-admin may
// ask about themself only.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, c *call) error {
	var req authorizeRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.User == "" {
		return directory.Invalidf("user is required: an id, userName or email")
	}
	action, err := directory.ParseAction(req.Action)
	if err != nil {
		return err
	}
	byTarget := req.Cluster != "" || req.Namespace != ""
	switch {
	case req.Workspace != "" && byTarget:
		return directory.Invalidf("name a workspace, or a cluster and a namespace, not both")
	case byTarget && (req.Cluster == "" || req.Namespace == ""):
		return directory.Invalidf("a target needs both cluster and namespace")
	case req.Workspace == "" && !byTarget && !directory.Actions[action].OrgWide():
		return directory.Invalidf("%s is decided on a workspace: name one, or a cluster and a namespace", action)
	}

	// The caller's own role (may they ask about others?), the user asked
	// about with their permissions, and the workspace are independent:
	// they are looked up at once, since authorize is on the platform's hot
	// path. The user's permissions are read before the caller is known to
	// be allowed to ask, but answered only if they are.
	ctx := r.Context()
	var (
		wg            sync.WaitGroup
		u             directory.User
		uAcc          directory.Access
		uErr, uAccErr error
		ws            *workspaceRefJSON
		unknown       string
		wsErr         error
	)
	wg.Go(func() { _, _, _ = c.callerAccess(ctx) })
	wg.Go(func() {
		u, uErr = h.store.FindMember(ctx, c.org.ID, req.User)
		if uErr == nil && u.ID != c.user.ID && u.Status() == directory.StatusActive {
			uAcc, uAccErr = h.store.Access(ctx, c.org.ID, u.ID)
		}
	})
	wg.Go(func() { ws, unknown, wsErr = h.resolveWorkspace(ctx, c.org.ID, req) })
	wg.Wait()

	acc, admin, err := c.callerAccess(ctx)
	if err != nil {
		return err
	}
	if uErr != nil {
		if !admin && (errors.Is(uErr, directory.ErrNotFound) || errors.Is(uErr, directory.ErrConflict)) {
			// A non-admin learns nothing about who else exists.
			return errForbiddenf("only an org admin may ask about other users")
		}
		return uErr
	}
	if u.ID != c.user.ID {
		if !admin {
			return errForbiddenf("only an org admin may ask about other users")
		}
		if uAccErr != nil {
			return uAccErr
		}
		acc = uAcc
	}
	if wsErr != nil {
		return wsErr
	}
	out := authorizeJSON{Role: directory.RoleNone.String(), User: userRefJSON{ID: u.ID, UserName: u.UserName, Status: u.Status()}, Workspace: ws}
	switch st := u.Status(); {
	case st != directory.StatusActive:
		out.Reason = fmt.Sprintf("%s is %s: a %s user is never allowed", u.UserName, st, st)
	case unknown != "":
		out.Reason = unknown
	default:
		wsID := ""
		if ws != nil {
			wsID = ws.ID
		}
		d := acc.Authorize(action, wsID)
		out.Allowed, out.Role, out.Reason = d.Allowed, d.Role.String(), d.Reason
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

// resolveWorkspace finds the workspace a request names, by id or name or
// by a target. unknown explains a workspace or target that no workspace
// of the organization matches (nil workspace, nil error).
func (h *Handler) resolveWorkspace(ctx context.Context, orgID string, req authorizeRequest) (ws *workspaceRefJSON, unknown string, err error) {
	ref := req.Workspace
	if ref == "" && req.Cluster != "" {
		t := directory.Target{Cluster: req.Cluster, Namespace: req.Namespace}
		ref, err = h.store.WorkspaceOf(ctx, orgID, t)
		if errors.Is(err, directory.ErrNotFound) {
			return nil, fmt.Sprintf("no workspace of this organization holds cluster %q namespace %q", t.Cluster, t.Namespace), nil
		}
		if err != nil {
			return nil, "", err
		}
	}
	if ref == "" {
		return nil, "", nil // an org-level action
	}
	w, err := h.store.Workspace(ctx, orgID, ref)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fmt.Sprintf("no workspace %q in this organization", ref), nil
	}
	if err != nil {
		return nil, "", err
	}
	return &workspaceRefJSON{ID: w.ID, Name: w.Name}, "", nil
}
