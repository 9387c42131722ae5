package oidc_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/secretbox"
	"github.com/scimbridge/scimbridge/oidc"
)

// trap listens on 127.0.0.1 and counts the connections made to it: a
// test proves with it that nothing connected.
func trap(t *testing.T) (port string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepted
}

func unreachable(issuer string) string {
	return "the issuer " + issuer + " is not reachable for OpenID Connect discovery"
}

func notDiscovery(issuer string) string {
	return "the issuer " + issuer + " does not answer with an OpenID Connect discovery document"
}

// The issuer is an org admin's choice: checking it must not show them
// what another service answers, follow redirects, or reach the cloud's
// metadata endpoint, even where the operator allows private addresses.
func TestProviderClientIsNoWayIntoTheNetwork(t *testing.T) {
	t.Parallel()
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "INTERNAL-SECRET-PAGE", http.StatusForbidden)
	}))
	t.Cleanup(internal.Close)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(redirecting.Close)
	cases := []struct {
		name, issuer, want string
	}{
		{"another service's answer is not echoed", internal.URL, notDiscovery(internal.URL)},
		{"redirects are not followed", redirecting.URL, notDiscovery(redirecting.URL)},
		{"link-local (metadata) addresses are not dialled", "https://169.254.169.254", unreachable("https://169.254.169.254")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := oidc.ValidateSettings(context.Background(), egress.Policy{AllowPrivate: true}, nil, c.issuer)
			if err == nil || err.Error() != c.want {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// Without the operator's flag, an issuer on the service's own network is
// refused before any connection, with the same answer as an issuer that
// does not exist: the field cannot be used to scan ports.
func TestIssuerOnTheServicesNetworkIsRefusedUnlessAllowed(t *testing.T) {
	t.Parallel()
	port, accepted := trap(t)
	strict := egress.Policy{}
	cases := []struct {
		name, issuer string
		policy       egress.Policy
		connects     bool
	}{
		{"plain http to loopback", "http://127.0.0.1:" + port, strict, false},
		{"https to loopback", "https://127.0.0.1:" + port, strict, false},
		{"IPv6 loopback", "https://[::1]:" + port, strict, false},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]:" + port, strict, false},
		{"a name that resolves to loopback", "https://localhost:" + port, strict, false},
		{"a private address", "https://10.0.0.1", strict, false},
		{"plain http to a private address", "http://10.0.0.1:8080", strict, false},
		{"a carrier-grade NAT address", "https://100.64.0.1", strict, false},
		// The control: with the flag, the same name is connected to, so
		// the trap would have seen the connections refused above.
		{"with the flag, it is connected to", "https://localhost:" + port, egress.Policy{AllowPrivate: true}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Not parallel: the trap's count is shared.
			before := accepted.Load()
			err := oidc.ValidateSettings(context.Background(), c.policy, nil, c.issuer)
			if err == nil || err.Error() != unreachable(c.issuer) {
				t.Fatalf("error %v, want %q", err, unreachable(c.issuer))
			}
			if got := accepted.Load() > before; got != c.connects {
				t.Fatalf("connected %v, want %v", got, c.connects)
			}
		})
	}
}

// hostileIdP is an https provider whose discovery document names
// endpoints a test chooses; it stands for a public one through the
// policy's test hook, which allows its own address and nothing else.
type hostileIdP struct {
	srv    *httptest.Server
	mu     sync.Mutex
	doc    map[string]string
	policy egress.Policy
}

func newHostileIdP(t *testing.T) *hostileIdP {
	t.Helper()
	h := &hostileIdP{}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h.doc)
	}))
	t.Cleanup(h.srv.Close)
	h.set(nil)
	self := netip.MustParseAddrPort(h.srv.Listener.Addr().String())
	roots := x509.NewCertPool()
	roots.AddCert(h.srv.Certificate())
	h.policy = egress.Policy{Allow: func(a netip.AddrPort) bool { return a == self }, RootCAs: roots}
	return h
}

// set serves a sound document, with the endpoints of change instead.
func (h *hostileIdP) set(change map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.srv.URL
	h.doc = map[string]string{"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token",
		"jwks_uri": u + "/jwks", "userinfo_endpoint": u + "/userinfo"}
	for k, v := range change {
		h.doc[k] = v
	}
}

// Saving settings refuses a discovery document that names an endpoint
// the policy does not allow, before anything connects to it.
func TestDiscoveryDocumentNamingForbiddenEndpointsIsRefused(t *testing.T) {
	t.Parallel()
	port, accepted := trap(t)
	cases := []struct {
		name   string
		change map[string]string
		ok     bool
	}{
		{"a sound document", nil, true},
		{"a token endpoint over plain http", map[string]string{"token_endpoint": "http://idp.example/token"}, false},
		{"a JWKS on the service's network", map[string]string{"jwks_uri": "https://127.0.0.1:" + port + "/jwks"}, false},
		{"userinfo at a private address", map[string]string{"userinfo_endpoint": "https://10.0.0.1/userinfo"}, false},
		{"userinfo at the metadata address", map[string]string{"userinfo_endpoint": "https://169.254.169.254/"}, false},
		{"a token endpoint with credentials", map[string]string{"token_endpoint": "https://u:p@idp.example/token"}, false},
		{"an authorization endpoint that is no https URL", map[string]string{"authorization_endpoint": "javascript:alert(1)"}, false},
		{"no token endpoint", map[string]string{"token_endpoint": ""}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			idp := newHostileIdP(t)
			idp.set(c.change)
			err := oidc.ValidateSettings(context.Background(), idp.policy, nil, idp.srv.URL)
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok && (err == nil || err.Error() != notDiscovery(idp.srv.URL)) {
				t.Fatalf("error %v, want %q", err, notDiscovery(idp.srv.URL))
			}
		})
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d connections to a refused endpoint", n)
	}
}

// A document that was sound when the settings were saved may name other
// endpoints at login: the token exchange (which carries the client
// secret) must not connect to one the policy refuses, however it is
// named.
func TestLoginNeverSendsTheClientSecretToAForbiddenTokenEndpoint(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		token    func(port string) string
		allow    bool // the control: the trap's address is allowed too
		connects bool
	}{
		{"an IP address on the service's network", func(p string) string { return "https://127.0.0.1:" + p + "/token" }, false, false},
		{"a name that resolves to one", func(p string) string { return "https://localhost:" + p + "/token" }, false, false},
		{"allowed, it is connected to", func(p string) string { return "https://localhost:" + p + "/token" }, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			port, accepted := trap(t)
			idp := newHostileIdP(t)
			policy := idp.policy
			if c.allow {
				self, trapAddr := idp.policy.Allow, netip.MustParseAddrPort("127.0.0.1:"+port)
				policy.Allow = func(a netip.AddrPort) bool { return self(a) || a == trapAddr }
			}
			db := pgtest.DB(t)
			org, err := db.CreateOrganization(ctx, "acme", "")
			if err != nil {
				t.Fatal(err)
			}
			key := make([]byte, secretbox.KeySize)
			_, _ = rand.Read(key)
			box, err := secretbox.New(key)
			if err != nil {
				t.Fatal(err)
			}
			// Saved while the document was sound.
			if _, err := (oidc.Settings{Store: db, Box: box, Egress: policy}).SaveIdPSettings(ctx, directory.Actor{Kind: "cli", Name: "test"},
				directory.IdPSettings{OrgID: org.ID, Issuer: idp.srv.URL, ClientID: "client"}, "CLIENT-SECRET"); err != nil {
				t.Fatal(err)
			}
			idp.set(map[string]string{"token_endpoint": c.token(port)})
			mux := http.NewServeMux()
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			cookieKey := make([]byte, 32)
			_, _ = rand.Read(cookieKey)
			h, err := oidc.New(oidc.Config{Store: db, Box: box, CookieKey: cookieKey, PublicURL: srv.URL, Egress: policy})
			if err != nil {
				t.Fatal(err)
			}
			h.Mount(mux)

			c0 := browser(t, false)
			status, body, resp := get(t, c0, srv.URL+"/auth/acme/login")
			if status == http.StatusFound {
				loc, err := url.Parse(resp.Header.Get("Location"))
				if err != nil || !strings.HasPrefix(loc.String(), idp.srv.URL+"/authorize") {
					t.Fatalf("login went to %v", loc)
				}
				status, body, _ = get(t, c0, srv.URL+"/auth/callback?code=the-code&state="+url.QueryEscape(loc.Query().Get("state")))
			}
			if status == http.StatusOK {
				t.Fatalf("signed in: %s", body)
			}
			if got := accepted.Load() > 0; got != c.connects {
				t.Fatalf("connected to the token endpoint %v, want %v (%d %s)", got, c.connects, status, body)
			}
		})
	}
}
