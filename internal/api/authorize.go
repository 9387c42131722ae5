package api

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/resource"
)

type authorizeRequest struct {
	User      string `json:"user"`      // id, userName or email
	Action    string `json:"action"`    // pipes.run…
	Workspace string `json:"workspace"` // id or name; or:
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
}

type authorizeJSON struct {
	Allowed   bool                   `json:"allowed"`
	Role      string                 `json:"role"`
	Reason    string                 `json:"reason"`
	User      resource.UserRef       `json:"user"`
	Workspace *resource.WorkspaceRef `json:"workspace"`
}

// authorize answers the platform's question: may this user do this
// action on this workspace (or cluster and namespace)? Unknown users are
// 404; an unknown workspace or target is a denial (200), since the
// platform asks about clusters scimbridge may not know. A non-admin may
// ask about themself only.
//
// It is on the platform's hot path, so it admits its caller itself: it
// reads the request first, so that a bearer token's check also finds the
// user and the workspace asked about, in one round trip. Admission still
// answers first: what is wrong with a request is told only to a caller
// admitted. Likewise the user asked about is read before the caller is
// known to be allowed to ask about them, but answered only if they are.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, _ *call) error {
	var req authorizeRequest
	action, reqErr := h.authorizeRequest(w, r, &req)
	q := postgres.AuthorizeQuery{User: req.User, Workspace: req.Workspace, Target: directory.Target{Cluster: req.Cluster, Namespace: req.Namespace}}
	ctx := r.Context()
	var (
		c    *call
		subj postgres.AuthorizeSubject
		uErr error
	)
	// A bearer token is the first credential the chain of authenticators
	// looks for, so it is checked here as admit would, with the lookup.
	if secret, ok, err := bearerSecret(r); ok && err == nil && reqErr == nil {
		var (
			auth    postgres.APIAuth
			authErr error
		)
		auth, subj, uErr, authErr = h.store.AuthenticateAPIAndSubject(ctx, secret, q)
		p, err := bearerPrincipal(auth, authErr)
		if err != nil {
			return err
		}
		if c, err = h.admitted(r, selfOrAdmin, p); err != nil {
			return err
		}
	} else {
		var err error
		if c, err = h.admit(r, selfOrAdmin); err != nil {
			return err
		}
		if reqErr != nil {
			return reqErr
		}
		// The caller's own role (may they ask about others?) is read with
		// the user asked about, unless the credential brought it.
		var wg sync.WaitGroup
		if !c.known {
			wg.Go(func() { _, _, _ = c.callerAccess(ctx) })
		}
		subj, uErr = h.store.AuthorizeSubject(ctx, c.org.ID, q)
		wg.Wait()
	}

	_, admin, err := c.callerAccess(ctx)
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
	u := subj.User
	if u.ID != c.user.ID && !admin {
		return errForbiddenf("only an org admin may ask about other users")
	}
	var ws *resource.WorkspaceRef
	if subj.Workspace != nil {
		ws = &resource.WorkspaceRef{ID: subj.Workspace.ID, Name: subj.Workspace.Name}
	}
	out := authorizeJSON{Role: directory.RoleNone.String(), User: resource.UserRef{ID: u.ID, UserName: u.UserName, Status: u.Status()}, Workspace: ws}
	switch st := u.Status(); {
	case st != directory.StatusActive:
		out.Reason = fmt.Sprintf("%s is %s: a %s user is never allowed", u.UserName, st, st)
	case subj.TargetUnknown:
		out.Reason = fmt.Sprintf("no workspace of this organization holds cluster %q namespace %q", req.Cluster, req.Namespace)
	case subj.WorkspaceRef != "" && ws == nil:
		out.Reason = fmt.Sprintf("no workspace %q in this organization", subj.WorkspaceRef)
	default:
		wsID := ""
		if ws != nil {
			wsID = ws.ID
		}
		d := subj.Access.Authorize(action, wsID)
		out.Allowed, out.Role, out.Reason = d.Allowed, d.Role.String(), d.Reason
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

// authorizeRequest reads and checks authorize's request.
func (h *Handler) authorizeRequest(w http.ResponseWriter, r *http.Request, req *authorizeRequest) (directory.Action, error) {
	if err := h.decode(w, r, req); err != nil {
		return "", err
	}
	if req.User == "" {
		return "", directory.Invalidf("user is required: an id, userName or email")
	}
	action, err := directory.ParseAction(req.Action)
	if err != nil {
		return "", err
	}
	byTarget := req.Cluster != "" || req.Namespace != ""
	switch {
	case req.Workspace != "" && byTarget:
		return "", directory.Invalidf("name a workspace, or a cluster and a namespace, not both")
	case byTarget && (req.Cluster == "" || req.Namespace == ""):
		return "", directory.Invalidf("a target needs both cluster and namespace")
	case req.Workspace == "" && !byTarget && !directory.Actions[action].OrgWide():
		return "", directory.Invalidf("%s is decided on a workspace: name one, or a cluster and a namespace", action)
	}
	return action, nil
}
