package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// IdPService reads and saves an organization's OpenID Provider settings
// for the admin API (oidc.Settings is one). It seals the client secret
// and checks discovery itself: the API never holds a secret at rest.
type IdPService interface {
	// IdPSettings returns the organization's settings. ErrNotFound: none.
	IdPSettings(ctx context.Context, orgID string) (directory.IdPSettings, error)
	// SaveIdPSettings checks and stores s; an empty clientSecret keeps the
	// stored one. ErrInvalid: bad settings, or an issuer that is not
	// reachable under the operator's outbound policy or does not answer
	// discovery (a fixed sentence either way: the issuer field must not
	// tell an admin what is on the service's network).
	SaveIdPSettings(ctx context.Context, actor directory.Actor, s directory.IdPSettings, clientSecret string) (directory.IdPSettings, error)
}

type idpJSON struct {
	Issuer          string    `json:"issuer"`
	ClientID        string    `json:"clientId"`
	ClientSecretSet bool      `json:"clientSecretSet"` // the secret itself is never returned
	Scopes          []string  `json:"scopes"`
	EmailClaim      string    `json:"emailClaim"`
	NameClaim       string    `json:"nameClaim"`
	GroupsClaim     string    `json:"groupsClaim"`
	OIDClaim        string    `json:"oidClaim"`
	JIT             string    `json:"jit"`
	JITDomains      []string  `json:"jitDomains"`
	UpdatedAt       time.Time `json:"updatedAt"`
}

type idpUpdate struct {
	Issuer       string   `json:"issuer"`
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret"` // absent: keep the stored one
	Scopes       []string `json:"scopes"`
	EmailClaim   string   `json:"emailClaim"`
	NameClaim    string   `json:"nameClaim"`
	GroupsClaim  string   `json:"groupsClaim"`
	OIDClaim     string   `json:"oidClaim"`
	JIT          string   `json:"jit"`
	JITDomains   []string `json:"jitDomains"`
}

func renderIdP(s directory.IdPSettings) idpJSON {
	domains := s.JIT.Domains
	if domains == nil {
		domains = []string{}
	}
	return idpJSON{Issuer: s.Issuer, ClientID: s.ClientID, ClientSecretSet: len(s.ClientSecretSealed) > 0, Scopes: s.Scopes,
		EmailClaim: s.EmailClaim, NameClaim: s.NameClaim, GroupsClaim: s.GroupsClaim, OIDClaim: s.OIDClaim,
		JIT: s.JIT.Mode, JITDomains: domains, UpdatedAt: s.UpdatedAt}
}

var errNoSSO = directory.Conflictf("SSO login is off on this service: it has no secret key to seal the client secret with (SCIMBRIDGE_SECRET_KEY)")

func (h *Handler) getIdP(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.idp == nil {
		return errNoSSO
	}
	s, err := h.idp.IdPSettings(r.Context(), c.org.ID)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.NotFoundf("%s has no identity provider set: PUT one here, or run scimbridge idp set", c.org.Slug)
	}
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, renderIdP(s))
}

// putIdP sets the organization's IdP. Discovery is checked before
// anything is saved, so a mistyped issuer is a 400 now, not a failed
// login later.
func (h *Handler) putIdP(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.idp == nil {
		return errNoSSO
	}
	var req idpUpdate
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if req.JIT == "" {
		req.JIT = directory.JITSCIMOnly
	}
	s, err := h.idp.SaveIdPSettings(r.Context(), c.actor, directory.IdPSettings{
		OrgID: c.org.ID, Issuer: req.Issuer, ClientID: req.ClientID, Scopes: req.Scopes,
		EmailClaim: req.EmailClaim, NameClaim: req.NameClaim, GroupsClaim: req.GroupsClaim, OIDClaim: req.OIDClaim,
		JIT: directory.JITPolicy{Mode: req.JIT, Domains: req.JITDomains},
	}, req.ClientSecret)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, renderIdP(s))
}
