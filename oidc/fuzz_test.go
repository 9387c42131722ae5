package oidc

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzCheckReturnTo: whatever return_to says, an accepted one resolves on
// the service's own origin (no open redirect).
func FuzzCheckReturnTo(f *testing.F) {
	for _, s := range []string{"", "/", "/orgs/acme/", "//evil.example", "/\\evil.example", "https://evil.example/",
		"/%2F%2Fevil.example", "/\t/evil.example", "javascript:alert(1)", "/a?b=c#d", "/..//evil.example", "\\\\evil"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://svc.example/auth/callback")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := checkReturnTo(s)
		if !ok {
			return
		}
		ref, err := url.Parse(got)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", got, err)
		}
		if u := base.ResolveReference(ref); u.Host != "svc.example" || u.Scheme != "https" {
			t.Fatalf("accepted %q, which leads to %s", got, u)
		}
		if !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("accepted %q", got)
		}
	})
}

// FuzzDecodeState: a state cookie decodes only as signed; anything else a
// browser sends is refused without a panic.
func FuzzDecodeState(f *testing.F) {
	h := &Handler{cfg: Config{CookieKey: []byte(strings.Repeat("k", 32))}}
	valid := h.encodeState(loginState{Org: "acme", State: "s", Nonce: "n", Verifier: "v", ReturnTo: "/", Expires: time.Now().Add(time.Hour)})
	f.Add(valid)
	f.Add(valid + "x")
	f.Add("e30." + strings.Repeat("A", 43))
	f.Add(".")
	f.Add("")
	f.Fuzz(func(t *testing.T, cookie string) {
		r, _ := http.NewRequest("GET", "/auth/callback", nil)
		r.AddCookie(&http.Cookie{Name: stateCookie, Value: cookie})
		if _, err := h.decodeState(r); err != nil {
			return
		}
		// Decoded: then the value as the browser sent it carries the
		// signature of its payload under the key, and nothing else could.
		sent := r.Cookies()[0].Value
		p, sig, _ := strings.Cut(sent, ".")
		if sig != h.sign([]byte(p)) {
			t.Fatalf("decoded a cookie not signed with the key: %q", sent)
		}
	})
}
