package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// CSRFHeader carries the CSRF token of a script's write (the console and
// the admin API); this package's own forms (logout) send it as the field
// CSRFField.
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "csrf_token"
)

// Session returns the organization id and user that the request's session
// cookie for orgSlug signs in: what the admin API and the console
// authenticate with. ok=false: the request carries no such cookie.
// ErrUnauthorized: a cookie that is no live session.
func (h *Handler) Session(r *http.Request, orgSlug string) (orgID string, u directory.User, ok bool, err error) {
	id := h.sessionID(r, orgSlug)
	if id == "" {
		return "", u, false, nil
	}
	s, u, err := h.cfg.Store.SessionUser(r.Context(), orgSlug, id, h.cfg.IdleTimeout)
	if err != nil {
		return "", u, true, err
	}
	return s.OrgID, u, true, nil
}

// CSRFToken is the token a write authenticated by the session must carry:
// an HMAC of the session id, so that it needs no storage, changes with
// every login, and is useless without the session. "" without a session.
func (h *Handler) CSRFToken(r *http.Request, orgSlug string) string {
	id := h.sessionID(r, orgSlug)
	if id == "" {
		return ""
	}
	m := hmac.New(sha256.New, h.cfg.CookieKey)
	m.Write([]byte("csrf\x00"))
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errCSRF = errors.New("CSRF check failed")

// CheckCSRF checks a write authenticated by the session cookie of
// orgSlug: the CSRF token in the header (or form field) and, when the
// browser names it, an Origin that is the service's own. SameSite=Lax
// already keeps the cookie off cross-site POSTs in current browsers; this
// holds for the rest, and for sibling subdomains SameSite counts as same
// site.
func (h *Handler) CheckCSRF(r *http.Request, orgSlug string) error {
	if err := h.checkOrigin(r); err != nil {
		return err
	}
	return h.checkToken(r, orgSlug, r.Header.Get(CSRFHeader))
}

// checkOrigin refuses a request whose browser names another origin. The
// origin is ours when it is the public URL's, or the host the request was
// sent to (a service reached by another name than the public URL, such as
// localhost in development).
func (h *Handler) checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" {
		return nil
	}
	pub, _ := url.Parse(h.cfg.PublicURL)
	got, err := url.Parse(o)
	if err != nil || (!(pub != nil && got.Scheme == pub.Scheme && got.Host == pub.Host) && got.Host != r.Host) {
		return errCSRF
	}
	return nil
}

func (h *Handler) checkToken(r *http.Request, orgSlug, got string) error {
	want := h.CSRFToken(r, orgSlug)
	if want == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return errCSRF
	}
	return nil
}

// checkFormCSRF is CheckCSRF for a form post of this package's own pages
// (logout): the token may come as the form field, read from a body of at
// most 4 KiB.
func (h *Handler) checkFormCSRF(w http.ResponseWriter, r *http.Request, orgSlug string) error {
	if r.Header.Get(CSRFHeader) != "" {
		return h.CheckCSRF(r, orgSlug)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := h.checkOrigin(r); err != nil {
		return err
	}
	return h.checkToken(r, orgSlug, r.PostFormValue(CSRFField))
}
