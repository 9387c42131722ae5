package oidc

import (
	"errors"
	"html/template"
	"net"
	"net/http"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
)

// BreakGlassSessionTTL bounds a break-glass session: it is for repairing
// the IdP settings, not for working.
const BreakGlassSessionTTL = time.Hour

func orgLabel(o directory.Organization) string {
	if o.Name != "" {
		return o.Name
	}
	return o.Slug
}

var breakGlassTmpl = template.Must(template.New("bg").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Break-glass sign-in · scimbridge</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}h1{font-size:1.4em}button{font:inherit;padding:.4em 1em}</style>
</head><body><h1>Break-glass sign-in to {{.Org}}</h1>
<p>This link signs you in as the organization's break-glass owner, without the identity provider,
for one hour. It works once; the sign-in is recorded in the audit log.</p>
<form method="post" action="/auth/{{.Slug}}/breakglass"><input type="hidden" name="token" value="{{.Token}}">
<button type="submit" id="breakglass-continue">Sign in as the break-glass owner</button></form>
</body></html>
`))

// breakGlassRefused is the one answer to every failed break-glass GET
// or POST: an unknown organization, a malformed, unknown, used or expired
// link, and attempts past the failure limit look the same, so that an
// anonymous client learns neither whether an organization exists, nor its
// name, nor how many attempts it has seen.
func (h *Handler) breakGlassRefused(w http.ResponseWriter) {
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL may carry a token
	h.page(w, http.StatusUnauthorized, "Cannot sign in",
		"This break-glass link is not valid: it is unknown, used already or expired. Print a new one with scimbridge breakglass.")
}

// breakGlassPage shows what a valid link does, naming its organization,
// and asks to confirm with a POST: link scanners and previews follow GETs,
// and must not spend it. Anything but a live link of this organization
// gets breakGlassRefused.
func (h *Handler) breakGlassPage(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "GET /auth/{org}/breakglass")
	if h.inBreakGlassSession(w, r) {
		return
	}
	token := r.URL.Query().Get("token")
	o, err := h.cfg.Store.BreakGlassLinkOrganization(r.Context(), r.PathValue("org"), token)
	if errors.Is(err, directory.ErrUnauthorized) {
		h.breakGlassRefused(w)
		return
	}
	if err != nil {
		h.fail(w, r, "check break-glass link", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL carries the token
	w.Header().Set("X-Frame-Options", "DENY")
	_ = breakGlassTmpl.Execute(w, struct{ Org, Slug, Token string }{orgLabel(o), o.Slug, token})
}

// inBreakGlassSession sends a browser that is signed in as the
// organization's break-glass owner already to the console, and reports
// whether it did. The link it came with was spent by this very browser
// (the back button, a second click): spending it again would fail, and
// count toward the lockout, for nothing.
func (h *Handler) inBreakGlassSession(w http.ResponseWriter, r *http.Request) bool {
	slug := r.PathValue("org")
	_, u, ok, err := h.Session(r, slug)
	if !ok || err != nil || u.Source != directory.SourceBreakGlass {
		return false
	}
	http.Redirect(w, r, "/orgs/"+slug+"/", http.StatusSeeOther)
	return true
}

// breakGlass spends the link and signs the owner in.
func (h *Handler) breakGlass(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "POST /auth/{org}/breakglass")
	slug := r.PathValue("org")
	if h.inBreakGlassSession(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	token := r.PostFormValue("token")
	from, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		from = r.RemoteAddr
	}
	o, owner, err := h.cfg.Store.UseBreakGlassLink(r.Context(), slug, token, from)
	switch {
	case errors.Is(err, directory.ErrRateLimited):
		h.log.WarnContext(r.Context(), "break-glass login refused: too many failed attempts lately", "org", slug, "from", from)
		h.breakGlassRefused(w)
		return
	case errors.Is(err, directory.ErrUnauthorized):
		h.log.WarnContext(r.Context(), "break-glass login refused", "org", slug, "from", from)
		h.breakGlassRefused(w)
		return
	case err != nil:
		h.storeError(w, r, "break-glass login", err)
		return
	}
	id, err := h.cfg.Store.CreateSession(r.Context(), o.ID, owner.ID, BreakGlassSessionTTL)
	if err != nil {
		h.storeError(w, r, "create session", err)
		return
	}
	h.log.WarnContext(r.Context(), "break-glass owner signed in", "org", o.Slug, "from", from)
	h.setSessionFor(w, r, o.Slug, id, BreakGlassSessionTTL)
	http.Redirect(w, r, "/orgs/"+o.Slug+"/", http.StatusSeeOther)
}
