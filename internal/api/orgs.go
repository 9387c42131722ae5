package api

import (
	"net/http"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// The operator routes: the platform creates an organization when a
// customer signs up and deletes it when they leave. They authenticate an
// operator token only (admitOperator), and every change is on the
// operator's audit trail, which outlives the organizations it names.

// orgJSON is an organization as the operator routes answer it.
type orgJSON struct {
	ID          string    `json:"id"`
	Slug        string    `json:"slug"`
	Name        string    `json:"name"`
	CreatedAt   time.Time `json:"createdAt"`
	SCIMBaseURL string    `json:"scimBaseUrl"`
}

type breakGlassLinkJSON struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// createdOrgJSON is the answer to a create: the organization, and the two
// secrets that make it usable, shown this once.
type createdOrgJSON struct {
	orgJSON
	SCIMToken      createdTokenJSON   `json:"scimToken"`
	BreakGlassLink breakGlassLinkJSON `json:"breakGlassLink"`
}

// baseURL is the configured public URL or the one the request came to.
func (h *Handler) baseURL(r *http.Request) string {
	if h.public != "" {
		return h.public
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (h *Handler) renderOrg(r *http.Request, o directory.Organization) orgJSON {
	return orgJSON{ID: o.ID, Slug: o.Slug, Name: o.Name, CreatedAt: o.CreatedAt, SCIMBaseURL: directory.SCIMBaseURL(h.baseURL(r), o.Slug)}
}

// initialSCIMTokenName names the first SCIM token when the request names
// none.
const initialSCIMTokenName = "initial"

func (h *Handler) createOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Slug      string `json:"slug"`
		Name      string `json:"name"`
		SCIMToken *struct {
			Name      string `json:"name"`
			ExpiresIn string `json:"expiresIn"`
		} `json:"scimToken"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	tokenName, ttl := initialSCIMTokenName, time.Duration(0)
	if req.SCIMToken != nil {
		if req.SCIMToken.Name != "" {
			tokenName = req.SCIMToken.Name
		}
		var err error
		if ttl, err = ttlOf(req.SCIMToken.ExpiresIn); err != nil {
			return err
		}
	}
	p, err := h.store.ProvisionOrganization(r.Context(), c.actor, req.Slug, req.Name, tokenName, ttl)
	if err != nil {
		return err
	}
	base := h.baseURL(r)
	w.Header().Set("Location", Prefix+"orgs/"+p.Org.Slug)
	return h.writeJSON(w, r, http.StatusCreated, createdOrgJSON{
		orgJSON:        h.renderOrg(r, p.Org),
		SCIMToken:      createdTokenJSON{tokenJSON: renderToken(p.SCIMToken, time.Now()), Token: p.SCIMSecret},
		BreakGlassLink: breakGlassLinkJSON{URL: directory.BreakGlassURL(base, p.Org.Slug, p.BreakGlassSecret), ExpiresAt: p.BreakGlassExpires},
	})
}

func (h *Handler) listOrgs(w http.ResponseWriter, r *http.Request, _ *call) error {
	p, err := pageOf(r)
	if err != nil {
		return err
	}
	orgs, total, err := h.store.OrganizationPage(r.Context(), p.offset, p.limit)
	if err != nil {
		return err
	}
	out := list[orgJSON]{Items: make([]orgJSON, 0, len(orgs)), Total: total, Offset: p.offset, Limit: p.limit}
	for _, o := range orgs {
		out.Items = append(out.Items, h.renderOrg(r, o))
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

func (h *Handler) getOrg(w http.ResponseWriter, r *http.Request, _ *call) error {
	o, err := h.store.Organization(r.Context(), r.PathValue("org"))
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, h.renderOrg(r, o))
}

func (h *Handler) renameOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct {
		Name *string `json:"name"`
	}
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return directory.Invalidf("name is required: the organization's new display name (its slug does not change)")
	}
	o, err := h.store.RenameOrganization(r.Context(), c.actor, r.PathValue("org"), *req.Name)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, h.renderOrg(r, o))
}

// deleteOrg deletes an organization with everything in it. The slug is
// asked twice, in the path and as ?confirm=, so that a request built from
// the wrong variable or replayed against another path deletes nothing.
func (h *Handler) deleteOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	slug := r.PathValue("org")
	if confirm := r.URL.Query().Get("confirm"); confirm != slug {
		return directory.Invalidf("deleting organization %s deletes everything in it and cannot be undone: repeat its slug as ?confirm=%s", slug, slug)
	}
	if _, err := h.store.DeleteOrganization(r.Context(), c.actor, slug); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
