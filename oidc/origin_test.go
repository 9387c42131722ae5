package oidc

import (
	"net/http/httptest"
	"testing"
)

// The Origin check of cookie-authenticated writes: no Origin (a client
// that is not a browser) passes, as does the public URL's origin or the
// host the request was sent to; any other origin, one with the public
// host under another scheme, and a malformed one are refused.
func TestOriginCheckAcceptsOnlyOurOrigins(t *testing.T) {
	t.Parallel()
	h := &Handler{cfg: Config{PublicURL: "https://scim.example.com"}}
	for _, c := range []struct {
		name, host, origin string
		ok                 bool
	}{
		{"no Origin", "internal:8080", "", true},
		{"the public URL's origin", "internal:8080", "https://scim.example.com", true},
		{"the host the request came to", "localhost:8080", "http://localhost:8080", true},
		{"another site", "scim.example.com", "https://evil.example", false},
		{"the public host over http", "internal:8080", "http://scim.example.com", false},
		{"a sibling subdomain", "scim.example.com", "https://app.scim.example.com", false},
		{"a malformed origin", "scim.example.com", "https://%zz", false},
		{"null", "scim.example.com", "null", false},
	} {
		r := httptest.NewRequest("POST", "http://"+c.host+"/api/v1/orgs/acme/bindings", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		err := h.checkOrigin(r)
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok && err != errCSRF {
			t.Errorf("%s: %v, want the CSRF refusal", c.name, err)
		}
	}
	// Without a public URL only the request's own host counts.
	h = &Handler{}
	r := httptest.NewRequest("POST", "http://localhost:8080/x", nil)
	r.Header.Set("Origin", "https://scim.example.com")
	if h.checkOrigin(r) != errCSRF {
		t.Error("another origin passed with no public URL set")
	}
}
