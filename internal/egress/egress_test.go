package egress_test

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/scimbridge/scimbridge/internal/egress"
)

func TestWhichAddressesThePolicyLetsThrough(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr                string
		strict, withPrivate bool
	}{
		{"93.184.215.14", true, true},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true, true},
		{"127.0.0.1", false, true},
		{"127.1.2.3", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"10.0.0.1", false, true},
		{"172.16.5.4", false, true},
		{"192.168.1.1", false, true},
		{"::ffff:192.168.1.1", false, true},
		{"100.64.0.1", false, true},
		{"fd00::1", false, true},
		{"64:ff9b::a00:1", false, true},    // NAT64 of 10.0.0.1
		{"64:ff9b::5db8:d70e", true, true}, // NAT64 of a public address
		{"2002:a00:1::1", false, true},     // 6to4 of 10.0.0.1
		{"::a00:1", false, true},           // IPv4-compatible 10.0.0.1
		{"169.254.169.254", false, false},  // cloud metadata
		{"::ffff:169.254.169.254", false, false},
		{"64:ff9b::a9fe:a9fe", false, false}, // NAT64 of the metadata address
		{"fe80::1", false, false},
		{"0.0.0.0", false, false},
		{"0.1.2.3", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"ff02::1", false, false},
		{"255.255.255.255", false, false},
		{"240.0.0.1", false, false},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			t.Parallel()
			a := netip.AddrPortFrom(netip.MustParseAddr(c.addr), 443)
			if got := (egress.Policy{}).Allowed(a); got != c.strict {
				t.Errorf("strict policy: allowed %v, want %v", got, c.strict)
			}
			if got := (egress.Policy{AllowPrivate: true}).Allowed(a); got != c.withPrivate {
				t.Errorf("private allowed: allowed %v, want %v", got, c.withPrivate)
			}
		})
	}
}

func TestURLsThePolicyRefusesBeforeAnyLookup(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url                 string
		strict, withPrivate bool
	}{
		{"https://idp.example/oauth2", true, true},
		{"https://93.184.215.14/", true, true},
		{"http://idp.example/", false, true},
		{"http://127.0.0.1:8080/", false, true},
		{"https://127.0.0.1/", false, true},
		{"https://[::1]:8443/", false, true},
		{"https://10.0.0.1/", false, true},
		{"https://[::ffff:10.0.0.1]/", false, true},
		{"https://169.254.169.254/latest/meta-data", false, false},
		{"https://[fe80::1%25eth0]/", false, false},
		{"https://user:pw@idp.example/", false, false},
		{"ftp://idp.example/", false, false},
		{"javascript:alert(1)", false, false},
		{"/relative", false, false},
		{"https://idp.example:0/", false, false},
	}
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			t.Parallel()
			if err := (egress.Policy{}).CheckURL(c.url); (err == nil) != c.strict {
				t.Errorf("strict policy: %v, want allowed %v", err, c.strict)
			}
			if err := (egress.Policy{AllowPrivate: true}).CheckURL(c.url); (err == nil) != c.withPrivate {
				t.Errorf("private allowed: %v, want allowed %v", err, c.withPrivate)
			}
		})
	}
}

// trap is a listener on 127.0.0.1 that counts the connections it gets.
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

// A host name is checked on the address it resolves to, when it is
// connected to: "localhost" names the loopback interface, and the strict
// policy refuses it before a connection is made.
func TestTheClientChecksResolvedAddressesBeforeConnecting(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		policy  egress.Policy
		scheme  string
		connect bool
	}{
		{"strict: a name resolving to loopback", egress.Policy{}, "https", false},
		{"a test hook refusing the address", egress.Policy{AllowPrivate: true, Allow: func(netip.AddrPort) bool { return false }}, "http", false},
		{"private allowed: it connects", egress.Policy{AllowPrivate: true}, "http", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			port, accepted := trap(t)
			resp, err := c.policy.Client().Get(c.scheme + "://localhost:" + port + "/")
			if err == nil {
				resp.Body.Close()
				t.Fatal("the trap answered HTTP")
			}
			if got := accepted.Load() > 0; got != c.connect {
				t.Fatalf("connected %v, want %v (err %v)", got, c.connect, err)
			}
			if !c.connect && !errors.Is(err, egress.ErrRefused) {
				t.Fatalf("err %v, want ErrRefused", err)
			}
		})
	}
}
