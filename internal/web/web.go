// Package web serves the web console: the organization's "Org → Users"
// screen for org admins, at /orgs/{org}/.
//
// The console is static HTML and one script, embedded in the binary; it
// holds no state and no secrets of its own. It signs in through the OIDC
// login (/auth/{org}/login, or a break-glass link), reads who is signed in
// and the CSRF token from /auth/{org}/me, and does everything else through
// the admin API (/api/v1/orgs/{org}/…) with the session cookie, sending
// the CSRF token on every write. So the console can do nothing that the
// API does not allow the signed-in user, and there is one implementation
// of every rule.
package web

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
)

//go:embed static
var files embed.FS

var pages = template.Must(template.ParseFS(files, "static/*.html"))

// Handler serves the console.
type Handler struct {
	static http.Handler
}

// New returns the console handler; Mount it on the server's mux.
func New() *Handler {
	sub, _ := fs.Sub(files, "static")
	return &Handler{static: http.StripPrefix("/static/", http.FileServerFS(sub))}
}

// Mount registers the console's routes.
func (h *Handler) Mount(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle("GET /{$}", http.HandlerFunc(h.landing))
	mux.Handle("GET /orgs/{org}/{$}", http.HandlerFunc(h.console))
	mux.Handle("GET /orgs/{org}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpserver.SetRoute(r, "GET /orgs/{org}")
		http.Redirect(w, r, "/orgs/"+r.PathValue("org")+"/", http.StatusMovedPermanently)
	}))
	// Browsers ask for /favicon.ico whatever the pages say; there is none.
	mux.Handle("GET /favicon.ico", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpserver.SetRoute(r, "GET /favicon.ico")
		w.Header().Set("Cache-Control", "max-age=86400")
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpserver.SetRoute(r, "GET /static/")
		secure(w)
		w.Header().Set("Cache-Control", "no-cache")
		h.static.ServeHTTP(w, r)
	}))
}

// secure sets the headers every console response carries: scripts only
// from this origin (no inline script, so an injected tag cannot run), no
// framing (clickjacking), no MIME sniffing. No form-action: browsers apply
// it to the redirect after a form post too, and sign-out redirects to the
// IdP's end-session endpoint.
func secure(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
}

func (h *Handler) landing(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "GET /")
	// The landing form sends ?org=slug; answer with the console's address.
	// Slugs are lower case; people type "Acme". Only ASCII is folded, so
	// a look-alike letter never reaches another organization.
	if slug := directory.FoldASCII(strings.TrimSpace(r.URL.Query().Get("org"))); slug != "" {
		if directory.ValidateSlug(slug) != nil {
			h.render(w, http.StatusBadRequest, "landing.html", map[string]any{"Error": "An organization name is lower-case letters, digits and dashes.", "Org": slug})
			return
		}
		http.Redirect(w, r, "/orgs/"+slug+"/", http.StatusSeeOther)
		return
	}
	h.render(w, http.StatusOK, "landing.html", nil)
}

func (h *Handler) console(w http.ResponseWriter, r *http.Request) {
	httpserver.SetRoute(r, "GET /orgs/{org}/")
	slug := r.PathValue("org")
	if directory.ValidateSlug(slug) != nil {
		h.render(w, http.StatusNotFound, "landing.html", map[string]any{"Error": "There is no organization " + slug + "."})
		return
	}
	h.render(w, http.StatusOK, "console.html", map[string]any{"Org": slug})
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) {
	secure(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, data)
}
