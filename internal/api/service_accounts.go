package api

import (
	"context"
	"net/http"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/resource"
)

// Service accounts: CI and robot accounts, users of kind service that no
// IdP manages. They authenticate with their own admin API tokens (POST
// /api-tokens with "owner": the account's name), hold role bindings, and
// have Git identities mapped like anyone. Disabling one stops its tokens
// at once; deleting one keeps it, marked removed, for the audit trail and
// past attribution.

// renderServiceAccounts names the owners by their current userNames.
func (h *Handler) renderServiceAccounts(ctx context.Context, orgID string, sas []directory.User) ([]resource.ServiceAccount, error) {
	var owners []string
	for _, sa := range sas {
		if id, _ := resource.ServiceAccountOwner(sa); id != "" {
			owners = append(owners, id)
		}
	}
	_, names, err := h.names(ctx, orgID, false, owners)
	if err != nil {
		return nil, err
	}
	out := make([]resource.ServiceAccount, 0, len(sas))
	for _, sa := range sas {
		out = append(out, resource.RenderServiceAccount(sa, names))
	}
	return out, nil
}

// listServiceAccounts lists service accounts by name, deleted ones too
// (status removed), or those of one ?status=.
func (h *Handler) listServiceAccounts(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("status")
	switch status {
	case "", directory.StatusActive, directory.StatusDeactivated, directory.StatusRemoved:
	default:
		return directory.Invalidf("status %q: want active, deactivated or removed", status)
	}
	ctx := r.Context()
	all, err := h.store.ServiceAccounts(ctx, c.org.ID)
	if err != nil {
		return err
	}
	if status != "" {
		kept := all[:0]
		for _, sa := range all {
			if sa.Status() == status {
				kept = append(kept, sa)
			}
		}
		all = kept
	}
	page := window(all, p)
	items, err := h.renderServiceAccounts(ctx, c.org.ID, page.Items)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, list[resource.ServiceAccount]{Items: items, Total: page.Total, Offset: p.offset, Limit: p.limit})
}

type serviceAccountCreate struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Owner       string `json:"owner"` // id, userName or email of a person; absent: none
}

func (h *Handler) createServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	var req serviceAccountCreate
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	ctx := r.Context()
	ownerID := ""
	if req.Owner != "" {
		u, err := h.store.FindMember(ctx, c.org.ID, req.Owner)
		if err != nil {
			return err
		}
		ownerID = u.ID
	}
	sa, err := h.store.CreateServiceAccount(ctx, c.actor, c.org.ID, req.Name, req.Description, ownerID)
	if err != nil {
		return err
	}
	out, err := h.renderServiceAccounts(ctx, c.org.ID, []directory.User{sa})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/orgs/"+c.org.Slug+"/service-accounts/"+sa.UserName)
	return h.writeJSON(w, r, http.StatusCreated, out[0])
}

func (h *Handler) disableServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.setServiceAccountEnabled(w, r, c, false)
}

func (h *Handler) enableServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.setServiceAccountEnabled(w, r, c, true)
}

// setServiceAccountEnabled disables or enables an account by name or id:
// a disabled account's API tokens answer 401 until it is enabled again.
// A deleted account is 409.
func (h *Handler) setServiceAccountEnabled(w http.ResponseWriter, r *http.Request, c *call, enabled bool) error {
	ctx := r.Context()
	sa, err := h.store.SetServiceAccountEnabled(ctx, c.actor, c.org.ID, r.PathValue("name"), enabled)
	if err != nil {
		return err
	}
	out, err := h.renderServiceAccounts(ctx, c.org.ID, []directory.User{sa})
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, out[0])
}

// deleteServiceAccount deletes an account: its tokens are revoked, its
// bindings deleted and its Git identities released; it stays listed,
// marked removed, so that the audit trail and past attribution keep its
// name.
func (h *Handler) deleteServiceAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := h.store.DeleteServiceAccount(r.Context(), c.actor, c.org.ID, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
