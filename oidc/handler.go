package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// checkReturnTo accepts only a path on this service's own origin: "/…",
// but not "//host" or "/\host" (browsers read both as another host), and
// no scheme, host or control characters.
func checkReturnTo(s string) (string, bool) {
	if s == "" {
		return "/", true
	}
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") || len(s) > 2048 {
		return "", false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "", false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "", false
	}
	return s, true
}

// oauthConfig is the OAuth 2.0 client of an organization.
func (h *Handler) oauthConfig(p *gooidc.Provider, s directory.IdPSettings) (*oauth2.Config, error) {
	secret := ""
	if s.ClientSecretSealed != nil {
		b, err := h.cfg.Box.Open(s.ClientSecretSealed, SecretContext(s.OrgID))
		if err != nil {
			return nil, err
		}
		secret = string(b)
	}
	return &oauth2.Config{
		ClientID: s.ClientID, ClientSecret: secret, Endpoint: p.Endpoint(),
		RedirectURL: h.cfg.PublicURL + "/auth/callback", Scopes: s.Scopes,
	}, nil
}

// settings loads an organization and its IdP settings.
func (h *Handler) settings(ctx context.Context, slug string) (directory.Organization, directory.IdPSettings, error) {
	o, err := h.cfg.Store.Organization(ctx, slug)
	if err != nil {
		return o, directory.IdPSettings{}, err
	}
	s, err := h.cfg.Store.IdPSettings(ctx, o.ID)
	return o, s, err
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "GET /auth/{org}/login")
	returnTo, ok := checkReturnTo(r.URL.Query().Get("return_to"))
	if !ok {
		h.page(w, http.StatusBadRequest, "Cannot sign in", "The return_to parameter must be a path on this service, such as /orgs/"+r.PathValue("org")+"/.")
		return
	}
	if r.URL.Query().Get("return_to") == "" {
		returnTo = "/orgs/" + url.PathEscape(r.PathValue("org")) + "/" // the organization's console
	}
	o, s, err := h.settings(r.Context(), r.PathValue("org"))
	if errors.Is(err, directory.ErrNotFound) {
		h.page(w, http.StatusNotFound, "Cannot sign in", "This organization does not exist or has no identity provider configured.")
		return
	}
	if err != nil {
		h.fail(w, r, "load IdP settings", err)
		return
	}
	h.begin(w, r, o, s, loginState{ReturnTo: returnTo})
}

// begin sends the browser to the organization's IdP, with the login in
// flight (st plus fresh state, nonce and PKCE verifier) in the state
// cookie.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, o directory.Organization, s directory.IdPSettings, st loginState, opts ...oauth2.AuthCodeOption) {
	p, err := h.provider(r.Context(), s.Issuer)
	if err != nil {
		h.log.WarnContext(r.Context(), "OIDC discovery", "org", o.Slug, "issuer", s.Issuer, "err", err)
		h.page(w, http.StatusBadGateway, "Cannot sign in", "The organization's identity provider does not answer. Try again later, or ask an administrator.")
		return
	}
	oc, err := h.oauthConfig(p, s)
	if err != nil {
		h.fail(w, r, "open IdP client secret (was SCIMBRIDGE_SECRET_KEY changed?)", err)
		return
	}
	st.Org, st.OrgID, st.State, st.Nonce, st.Verifier = o.Slug, o.ID, directory.NewSecret(""), directory.NewSecret(""), oauth2.GenerateVerifier()
	st.Expires = time.Now().Add(stateTTL)
	h.setState(w, r, st)
	opts = append(opts, gooidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	http.Redirect(w, r, oc.AuthCodeURL(st.State, opts...), http.StatusFound)
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "GET /auth/callback")
	q := r.URL.Query()
	st, err := h.decodeState(r)
	if err != nil {
		h.page(w, http.StatusBadRequest, "Cannot sign in", err.Error())
		return
	}
	// The state cookie is single-use, whatever happens next.
	h.clearState(w, r)
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		h.page(w, http.StatusBadRequest, "Cannot sign in", "The sign-in response does not belong to this sign-in attempt (state mismatch); start again.")
		return
	}
	if e := q.Get("error"); e != "" {
		msg := "The identity provider refused the sign-in (" + e + ")"
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		h.page(w, http.StatusForbidden, "Cannot sign in", msg+".")
		return
	}
	// The state is signed: its organization id is the one the login began at.
	s, err := h.cfg.Store.IdPSettings(r.Context(), st.OrgID)
	if err != nil {
		h.page(w, http.StatusBadRequest, "Cannot sign in", "The organization's identity provider changed during sign-in; start again.")
		return
	}
	p, err := h.provider(r.Context(), s.Issuer)
	if err != nil {
		h.page(w, http.StatusBadGateway, "Cannot sign in", "The organization's identity provider does not answer. Try again later.")
		return
	}
	oc, err := h.oauthConfig(p, s)
	if err != nil {
		h.fail(w, r, "open IdP client secret", err)
		return
	}
	ctx := h.ctx(r.Context())
	tok, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		h.log.InfoContext(r.Context(), "OIDC code exchange", "org", st.Org, "err", err)
		h.page(w, http.StatusBadRequest, "Cannot sign in", "The identity provider did not accept the sign-in code (it may have been used already or expired); start again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		h.page(w, http.StatusBadGateway, "Cannot sign in", "The identity provider sent no ID token.")
		return
	}
	idt, err := p.Verifier(&gooidc.Config{ClientID: s.ClientID}).Verify(ctx, raw)
	if err != nil {
		h.log.InfoContext(r.Context(), "OIDC ID token", "org", st.Org, "err", err)
		h.page(w, http.StatusUnauthorized, "Cannot sign in", "The identity provider's ID token did not verify (signature, issuer, audience or expiry).")
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		h.page(w, http.StatusUnauthorized, "Cannot sign in", "The ID token does not belong to this sign-in attempt (nonce mismatch); start again.")
		return
	}
	claims, err := h.claims(ctx, p, s, idt, tok)
	if err != nil {
		h.log.InfoContext(r.Context(), "OIDC claims", "org", st.Org, "err", err)
		h.page(w, http.StatusBadGateway, "Cannot sign in", "The identity provider's claims could not be read.")
		return
	}
	var u directory.User
	if st.Invitation != "" {
		// Accepting an invitation: the invitation, not the JIT policy,
		// decides who may join.
		_, u, err = h.cfg.Store.AcceptInvitation(r.Context(), st.Invitation, directory.Login{Email: claims.Email,
			EmailVerified: claims.EmailVerified, Name: claims.Name, Issuer: claims.Issuer, Subject: claims.Subject, Groups: claims.Groups})
		if err != nil {
			h.invitationError(w, r, err, st.Invitation)
			return
		}
	} else if u, _, err = h.cfg.Store.LinkLogin(r.Context(), st.OrgID, claims, s.JIT); err != nil {
		h.storeError(w, r, "link login", err)
		return
	}
	id, err := h.cfg.Store.CreateSession(r.Context(), st.OrgID, u.ID, h.cfg.SessionTTL)
	if err != nil {
		h.storeError(w, r, "create session", err)
		return
	}
	h.setSession(w, r, st.Org, id)
	http.Redirect(w, r, st.ReturnTo, http.StatusFound)
}

// claims reads the login's claims from the ID token by the configured
// names, and from userinfo when the ID token has no email (Entra and
// others leave claims out of the ID token unless asked).
func (h *Handler) claims(ctx context.Context, p *gooidc.Provider, s directory.IdPSettings, idt *gooidc.IDToken, tok *oauth2.Token) (directory.LoginClaims, error) {
	c := directory.LoginClaims{Issuer: idt.Issuer, Subject: idt.Subject}
	var m map[string]any
	if err := idt.Claims(&m); err != nil {
		return c, err
	}
	read := func(m map[string]any) {
		if v, ok := m[s.EmailClaim].(string); ok && c.Email == "" {
			c.Email = v
			c.EmailVerified = truthy(m["email_verified"])
		}
		if v, ok := m[s.NameClaim].(string); ok && c.Name == "" {
			c.Name = v
		}
		if s.OIDClaim != "" {
			if v, ok := m[s.OIDClaim].(string); ok && c.OID == "" {
				c.OID = v
			}
		}
		if c.Groups == nil && s.GroupsClaim != "" {
			c.Groups = stringList(m[s.GroupsClaim])
		}
	}
	read(m)
	if c.Email == "" && p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return c, err
		}
		// OpenID Connect Core 5.3.2: userinfo of another subject must
		// not be used.
		if ui.Subject != idt.Subject {
			return c, errors.New("userinfo is about another subject")
		}
		var um map[string]any
		if err := ui.Claims(&um); err != nil {
			return c, err
		}
		read(um)
	}
	return c, nil
}

// stringList reads a groups claim: an array of strings (Okta, Entra ID,
// Keycloak), or one string. Anything else names no group.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// truthy reads email_verified, which some providers send as a string.
func truthy(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

func (h *Handler) sessionID(r *http.Request, orgSlug string) string {
	c, err := r.Cookie(SessionCookieName(orgSlug))
	if err != nil {
		return ""
	}
	return c.Value
}

func (h *Handler) me(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "GET /auth/{org}/me")
	w.Header().Set("Cache-Control", "no-store")
	slug := r.PathValue("org")
	id := h.sessionID(r, slug)
	if id == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "not signed in to this organization"})
		return
	}
	sess, u, err := h.cfg.Store.SessionUser(r.Context(), slug, id, h.cfg.IdleTimeout)
	if errors.Is(err, directory.ErrUnauthorized) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "not signed in to this organization"})
		return
	}
	if err != nil {
		h.log.ErrorContext(r.Context(), "read session", "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]any{"error": "internal error"})
		return
	}
	// When the session ends unless used again: the console says so for a
	// break-glass session, which is short and must not surprise anyone.
	ends := sess.ExpiresAt
	if idle := sess.LastSeenAt.Add(h.cfg.IdleTimeout); h.cfg.IdleTimeout > 0 && idle.Before(ends) {
		ends = idle
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": u.ID, "orgId": u.OrgID, "userName": u.UserName, "displayName": u.DisplayName,
		"emails": u.Emails, "source": u.Source, "csrfToken": h.CSRFToken(r, slug),
		"breakGlass": u.Source == directory.SourceBreakGlass, "sessionExpiresAt": sess.ExpiresAt.UTC(), "sessionIdleEndsAt": ends.UTC()})
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "POST /auth/{org}/logout")
	slug := r.PathValue("org")
	if h.sessionID(r, slug) == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther) // nothing to end here, nor at the IdP
		return
	}
	// Else any site could sign people out (and out of their IdP).
	if err := h.checkFormCSRF(w, r, slug); err != nil {
		h.page(w, http.StatusForbidden, "Cannot sign out", "The sign-out request did not come from this service's page; sign out from the console.")
		return
	}
	if err := h.cfg.Store.RevokeSession(r.Context(), slug, h.sessionID(r, slug)); err != nil {
		h.fail(w, r, "revoke session", err)
		return
	}
	h.clearSession(w, r, slug)
	target := "/"
	// Where the provider offers RP-initiated logout, end its session too,
	// or the next login would silently sign the same person in again.
	if _, s, err := h.settings(r.Context(), slug); err == nil {
		if p, err := h.provider(r.Context(), s.Issuer); err == nil {
			var meta struct {
				EndSession string `json:"end_session_endpoint"`
			}
			if p.Claims(&meta) == nil && meta.EndSession != "" {
				if u, err := url.Parse(meta.EndSession); err == nil {
					v := u.Query()
					v.Set("client_id", s.ClientID)
					v.Set("post_logout_redirect_uri", h.cfg.PublicURL+"/")
					u.RawQuery = v.Encode()
					target = u.String()
				}
			}
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// storeError shows a domain error's message (they are written for the
// person signing in) and logs anything else.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	var de *directory.Error
	switch {
	case errors.As(err, &de) && errors.Is(err, directory.ErrForbidden):
		h.page(w, http.StatusForbidden, "Access denied", de.Msg+".")
	case errors.As(err, &de):
		h.page(w, http.StatusBadRequest, "Cannot sign in", de.Msg+".")
	default:
		h.fail(w, r, what, err)
	}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.log.ErrorContext(r.Context(), what, "err", err)
	h.page(w, http.StatusInternalServerError, "Cannot sign in", "Something went wrong on our side. Try again later.")
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} · scimbridge</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}a{color:#0645ad}</style>
</head><body><main><h1>{{.Title}}</h1><p>{{.Reason}}</p>
<p>{{range $i, $l := .Links}}{{if $i}} · {{end}}<a href="{{$l.Href}}">{{$l.Text}}</a>{{end}}</p></main></body></html>
`))

// pageLink is a way on from a page: every page offers at least one, so
// that nobody is left at a dead end.
type pageLink struct{ Href, Text string }

// startLink leads back to the start page, where a person picks their
// organization again.
var startLink = pageLink{Href: "/", Text: "Back to the start page"}

// page answers with a small HTML page saying why: a person in a browser
// reads it, so never a stack trace or an internal error. The reason
// starts with a capital (domain messages start lower-case to read well
// inside other sentences); links are the ways on, the start page when
// none is given.
func (h *Handler) page(w http.ResponseWriter, status int, title, reason string, links ...pageLink) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if reason != "" && reason[0] >= 'a' && reason[0] <= 'z' {
		reason = string(reason[0]-'a'+'A') + reason[1:]
	}
	if len(links) == 0 {
		links = []pageLink{startLink}
	}
	_ = pageTmpl.Execute(w, struct {
		Title, Reason string
		Links         []pageLink
	}{title, reason, links})
}

var _ Store = (*postgres.DB)(nil)
