package api

import (
	"net/http"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/resource"
)

// SCIM tokens (what the IdP uses) and admin API tokens. A secret is
// answered once, by the create; lists never hold secrets or digests.

type apiTokenCreate struct {
	Name      string `json:"name"`
	ExpiresIn string `json:"expiresIn"` // "90d", "12h"; absent: the default lifetime
	Owner     string `json:"owner"`     // id or userName; absent: the caller
}

// ttlOf reads a requested lifetime; 0 asks the store for the default.
func ttlOf(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return directory.ParseTTL(s)
}

func (h *Handler) listSCIMTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	all, err := h.store.SCIMTokens(r.Context(), c.org.ID)
	if err != nil {
		return err
	}
	page := window(all, p)
	now := time.Now()
	out := list[tokenJSON]{Items: make([]tokenJSON, 0, len(page.Items)), Total: page.Total, Offset: p.offset, Limit: p.limit}
	for _, t := range page.Items {
		out.Items = append(out.Items, renderToken(t, now))
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

func (h *Handler) createSCIMToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name      string `json:"name"`
		ExpiresIn string `json:"expiresIn"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	ttl, err := ttlOf(req.ExpiresIn)
	if err != nil {
		return err
	}
	t, secret, err := h.store.CreateSCIMTokenBy(r.Context(), c.actor, c.org.ID, req.Name, ttl)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusCreated, createdTokenJSON{tokenJSON: renderToken(t, time.Now()), Token: secret})
}

func (h *Handler) revokeSCIMToken(w http.ResponseWriter, r *http.Request, c *call) error {
	if _, err := h.store.RevokeSCIMTokenBy(r.Context(), c.actor, c.org.ID, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) listAPITokens(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	all, err := h.store.APITokens(ctx, c.org.ID)
	if err != nil {
		return err
	}
	page := window(all, p)
	ids := make([]string, 0, len(page.Items))
	for _, t := range page.Items {
		ids = append(ids, t.OwnerID)
	}
	names, err := h.store.UserNames(ctx, c.org.ID, ids)
	if err != nil {
		return err
	}
	now := time.Now()
	out := list[tokenJSON]{Items: make([]tokenJSON, 0, len(page.Items)), Total: page.Total, Offset: p.offset, Limit: p.limit}
	for _, t := range page.Items {
		out.Items = append(out.Items, renderAPIToken(t, names[t.OwnerID], now))
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

func renderAPIToken(t postgres.APIToken, ownerName string, now time.Time) tokenJSON {
	j := renderToken(t.SCIMToken, now)
	j.Owner = &resource.UserRef{ID: t.OwnerID, UserName: ownerName}
	return j
}

// createAPIToken creates a token owned by the caller or by a service
// account (the caller when no owner is named); never by another person or
// the break-glass owner (directory.CheckAPITokenOwner). The token acts
// with its owner's role.
func (h *Handler) createAPIToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiTokenCreate
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	ttl, err := ttlOf(req.ExpiresIn)
	if err != nil {
		return err
	}
	ctx := r.Context()
	owner := c.user
	if req.Owner != "" {
		if owner, err = h.store.FindMember(ctx, c.org.ID, req.Owner); err != nil {
			return err
		}
	}
	if err := directory.CheckAPITokenOwner(c.user, owner); err != nil {
		return err
	}
	if st := owner.Status(); st != directory.StatusActive {
		return directory.Invalidf("owner %s is %s: its tokens would not authenticate", owner.UserName, st)
	}
	t, secret, err := h.store.CreateAPIToken(ctx, c.actor, c.org.ID, owner.ID, req.Name, ttl)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusCreated, createdTokenJSON{tokenJSON: renderAPIToken(t, owner.UserName, time.Now()), Token: secret})
}

func (h *Handler) revokeAPIToken(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := h.store.RevokeAPIToken(r.Context(), c.actor, c.org.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
