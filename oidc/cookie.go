package oidc

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// stateCookie is the login in flight, kept by the browser between the
// redirect to the IdP and the callback. It is signed, not encrypted: the
// PKCE verifier and nonce are only worth something to whoever already
// holds the cookie, and HttpOnly keeps them from scripts.
const stateCookie = "scb_oidc_state"

type loginState struct {
	Org      string `json:"o"` // slug
	OrgID    string `json:"i"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
	// Invitation is the join link's token when the login accepts an
	// invitation.
	Invitation string    `json:"j,omitempty"`
	Expires    time.Time `json:"e"`
}

func (h *Handler) sign(payload []byte) string {
	m := hmac.New(sha256.New, h.cfg.CookieKey)
	m.Write([]byte(stateCookie + "\x00")) // domain separation from other uses of the key
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) encodeState(s loginState) string {
	b, _ := json.Marshal(s)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + h.sign([]byte(p))
}

var errBadState = errors.New("the sign-in attempt is unknown or has expired; start again")

func (h *Handler) decodeState(r *http.Request) (loginState, error) {
	var s loginState
	c, err := r.Cookie(stateCookie)
	if err != nil {
		return s, errBadState
	}
	p, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(h.sign([]byte(p)))) {
		return s, errBadState
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || json.Unmarshal(b, &s) != nil || !time.Now().Before(s.Expires) {
		return s, errBadState
	}
	return s, nil
}

func (h *Handler) secure(r *http.Request) bool { return r.TLS != nil || h.cfg.SecureCookies }

func (h *Handler) setState(w http.ResponseWriter, r *http.Request, s loginState) {
	http.SetCookie(w, &http.Cookie{
		Name: stateCookie, Value: h.encodeState(s), Path: "/auth/", MaxAge: int(stateTTL / time.Second),
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode, // Lax: the IdP's redirect back is a top-level GET
	})
}

func (h *Handler) clearState(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/auth/", MaxAge: -1, HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
}

// SessionCookieName is the session cookie of an organization. One cookie
// per organization lets a browser hold sessions in several at once; the
// store checks the organization anyway.
func SessionCookieName(orgSlug string) string { return "scb_session_" + orgSlug }

func (h *Handler) setSession(w http.ResponseWriter, r *http.Request, orgSlug, id string) {
	h.setSessionFor(w, r, orgSlug, id, h.cfg.SessionTTL)
}

func (h *Handler) setSessionFor(w http.ResponseWriter, r *http.Request, orgSlug, id string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookieName(orgSlug), Value: id, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) clearSession(w http.ResponseWriter, r *http.Request, orgSlug string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookieName(orgSlug), Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
}
