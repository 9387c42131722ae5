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

// breakGlassPage shows what the link does and asks to confirm with a
// POST: link scanners and previews follow GETs, and must not spend it.
func (h *Handler) breakGlassPage(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "GET /auth/{org}/breakglass")
	slug := r.PathValue("org")
	token := r.URL.Query().Get("token")
	if !directory.LooksLikeSecret(directory.BreakGlassPrefix, token) {
		h.page(w, http.StatusBadRequest, "Cannot sign in", "This break-glass link is malformed; print a new one with scimbridge breakglass --org "+slug+".")
		return
	}
	o, err := h.cfg.Store.Organization(r.Context(), slug)
	if errors.Is(err, directory.ErrNotFound) {
		h.page(w, http.StatusNotFound, "Cannot sign in", "This organization does not exist.")
		return
	}
	if err != nil {
		h.fail(w, r, "load organization", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL carries the token
	w.Header().Set("X-Frame-Options", "DENY")
	_ = breakGlassTmpl.Execute(w, struct{ Org, Slug, Token string }{orgLabel(o), o.Slug, token})
}

// breakGlass spends the link and signs the owner in.
func (h *Handler) breakGlass(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "POST /auth/{org}/breakglass")
	slug := r.PathValue("org")
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	token := r.PostFormValue("token")
	from, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		from = r.RemoteAddr
	}
	o, owner, err := h.cfg.Store.UseBreakGlassLink(r.Context(), slug, token, from)
	var de *directory.Error
	switch {
	case errors.Is(err, directory.ErrNotFound):
		h.page(w, http.StatusNotFound, "Cannot sign in", "This organization does not exist.")
		return
	case errors.Is(err, directory.ErrRateLimited) && errors.As(err, &de):
		w.Header().Set("Retry-After", "900")
		h.page(w, http.StatusTooManyRequests, "Cannot sign in", de.Msg+".")
		return
	case errors.Is(err, directory.ErrUnauthorized) && errors.As(err, &de):
		h.log.WarnContext(r.Context(), "break-glass login refused", "org", slug, "from", from)
		h.page(w, http.StatusUnauthorized, "Cannot sign in", de.Msg+".")
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
