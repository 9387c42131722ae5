package oidc

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Every cookie the login sets or clears is Secure when the request came
// over TLS or the operator says TLS ends at a proxy (SecureCookies), and
// only then: a Secure cookie over plain HTTP would never come back, and a
// cookie without it would leak over plain HTTP. Cleared cookies expire at
// once; set ones live as long as what they hold.
func TestCookiesAreSecureOverTLSOrBehindATLSProxyAndClearedAtOnce(t *testing.T) {
	t.Parallel()
	writers := []struct {
		name   string
		write  func(h *Handler, w http.ResponseWriter, r *http.Request)
		maxAge int // -1: cleared (Max-Age=0)
	}{
		{"login state set", func(h *Handler, w http.ResponseWriter, r *http.Request) {
			h.setState(w, r, loginState{Org: "acme", Expires: time.Now().Add(stateTTL)})
		}, int(stateTTL / time.Second)},
		{"login state cleared", func(h *Handler, w http.ResponseWriter, r *http.Request) { h.clearState(w, r) }, -1},
		{"session set", func(h *Handler, w http.ResponseWriter, r *http.Request) { h.setSession(w, r, "acme", "scb_sess_x") }, 7200},
		{"session cleared", func(h *Handler, w http.ResponseWriter, r *http.Request) { h.clearSession(w, r, "acme") }, -1},
	}
	for _, tc := range []struct {
		name          string
		target        string
		secureCookies bool
		wantSecure    bool
	}{
		{"plain HTTP", "http://scim.example.com/auth/callback", false, false},
		{"TLS", "https://scim.example.com/auth/callback", false, true},
		{"plain HTTP behind a TLS proxy", "http://scim.example.com/auth/callback", true, true},
	} {
		for _, wr := range writers {
			h := &Handler{cfg: Config{CookieKey: make([]byte, 32), SecureCookies: tc.secureCookies, SessionTTL: 2 * time.Hour}}
			w := httptest.NewRecorder()
			wr.write(h, w, httptest.NewRequest("GET", tc.target, nil))
			cookies := w.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("%s, %s: %d cookies", tc.name, wr.name, len(cookies))
			}
			c := cookies[0]
			if c.Secure != tc.wantSecure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.MaxAge != wr.maxAge {
				t.Errorf("%s, %s: Secure=%v HttpOnly=%v SameSite=%v MaxAge=%d; want Secure=%v, HttpOnly, Lax, MaxAge=%d",
					tc.name, wr.name, c.Secure, c.HttpOnly, c.SameSite, c.MaxAge, tc.wantSecure, wr.maxAge)
			}
		}
	}
}
