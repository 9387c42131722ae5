// Package egress decides where the service's outbound HTTP may go: IdP
// discovery, JWKS, token and userinfo endpoints, and outbound webhooks.
// These URLs are chosen by organization admins, or named by a document
// an admin's server sends, so each request is a way into the service's
// own network unless it is held to the operator's policy
// (DESIGN §9): public https addresses by default; loopback, private and
// other internal ranges only when the operator allows them
// (Policy.AllowPrivate, for test and on-premises IdPs).
//
// The address check runs twice: on the URL, when a host is an IP literal
// (a quick refusal, before any DNS lookup), and in the dialer's Control
// hook on the address actually being connected to, after DNS resolution
// and before the connection is made. The second one is the one that
// counts: a name that resolves to an internal address, or that resolves
// to a public one at check time and an internal one at connect time (DNS
// rebinding), is refused there, and nothing leaves the machine.
package egress

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// ErrRefused is the error of a destination the policy does not allow. It
// names nothing of the destination: callers tell their clients only that
// it was not reachable.
var ErrRefused = errors.New("egress: the destination is not allowed")

// ErrRedirect is the error of an answer that redirects: the client
// follows none, since the target would be a second, unchecked choice of
// the remote side.
var ErrRedirect = errors.New("egress: the answer is a redirect, which is not followed")

// Policy is where outbound HTTP may go. The zero Policy is the strict
// default: https to public addresses only.
type Policy struct {
	// AllowPrivate lets requests reach loopback, private (RFC 1918, ULA),
	// carrier-grade NAT and other internal addresses, and use plain http:
	// for test and on-premises IdPs. Link-local (cloud metadata),
	// multicast, unspecified and reserved addresses stay refused.
	AllowPrivate bool
	// Allow, when set, replaces the address rule: it alone decides which
	// resolved addresses may be connected to. Tests set it to let an
	// in-process provider on 127.0.0.1 stand for a public one.
	Allow func(netip.AddrPort) bool
	// RootCAs, when set, replaces the system's roots for https; tests set
	// it to trust an in-process provider's certificate.
	RootCAs *x509.CertPool
}

// Allowed reports whether the policy lets a connection go to a.
func (p Policy) Allowed(a netip.AddrPort) bool {
	if p.Allow != nil {
		return p.Allow(a)
	}
	ip := a.Addr().Unmap()
	if never(ip) {
		return false
	}
	return p.AllowPrivate || !internal(ip)
}

// CheckURL checks what can be checked of a URL before any lookup: the
// scheme (https; http too when private addresses are allowed), no
// credentials in it, and its host when that is an IP address. A host name
// is checked when it is connected to (Client).
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return ErrRefused
	}
	return p.checkURL(u)
}

func (p Policy) checkURL(u *url.URL) error {
	if u.Host == "" || u.User != nil || u.Opaque != "" {
		return ErrRefused
	}
	port := 443
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowPrivate {
			return ErrRefused
		}
		port = 80
	default:
		return ErrRefused
	}
	if s := u.Port(); s != "" {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return ErrRefused
		}
		port = int(n)
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !p.Allowed(netip.AddrPortFrom(ip, uint16(port))) {
		return ErrRefused
	}
	return nil
}

// Client returns an HTTP client held to the policy: every request's URL
// passes CheckURL, every connection's resolved address passes Allowed at
// connect time, no redirect is followed and no environment proxy is used
// (a proxy would connect on our behalf, unchecked).
func (p Policy) Client() *http.Client { return p.PooledClient(10*time.Second, 0) }

// PooledClient is Client with a request timeout of its own and up to
// idlePerHost idle keep-alive connections per host (0: the standard
// library's 2): a sender of many concurrent requests to one host, such as
// webhook delivery, would otherwise open and close a connection per
// request beyond the second.
func (p Policy) PooledClient(timeout time.Duration, idlePerHost int) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: p.control}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	tr.Proxy = nil
	if idlePerHost > 0 {
		tr.MaxIdleConnsPerHost = idlePerHost
		tr.MaxIdleConns = max(tr.MaxIdleConns, idlePerHost)
	}
	if p.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: p.RootCAs, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     checked{p: p, next: tr},
		CheckRedirect: func(*http.Request, []*http.Request) error { return ErrRedirect },
	}
}

// control runs after the name is resolved and the socket made, before the
// connection: address is the IP and port about to be connected to.
func (p Policy) control(_, address string, _ syscall.RawConn) error {
	a, err := netip.ParseAddrPort(address)
	if err != nil || !p.Allowed(a) {
		return ErrRefused
	}
	return nil
}

type checked struct {
	p    Policy
	next http.RoundTripper
}

func (c checked) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := c.p.checkURL(r.URL); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	return c.next.RoundTrip(r)
}

// Ranges that no policy reaches: "this network" (0/8, which Linux
// connects to the local host), IPv4 reserved and broadcast, IPv6
// discard-only. Link-local, multicast and unspecified addresses are
// refused by never as well.
var neverPrefixes = prefixes(
	"0.0.0.0/8",
	"240.0.0.0/4", // reserved, and 255.255.255.255
	"100::/64",
)

// Ranges that are not the public internet: what AllowPrivate opens.
var internalPrefixes = prefixes(
	"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"64:ff9b:1::/48",  // local-use NAT64 (RFC 8215)
	"2001::/32",       // Teredo: its addresses hide the IPv4 ones they reach
	"2001:db8::/32",   // documentation
	"fec0::/10",       // site-local (deprecated, still routed by some)
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func inAny(ip netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func never(ip netip.Addr) bool {
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || inAny(ip, neverPrefixes) {
		return true
	}
	if v4, ok := embeddedV4(ip); ok {
		return never(v4)
	}
	return false
}

func internal(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsPrivate() || inAny(ip, internalPrefixes) {
		return true
	}
	if v4, ok := embeddedV4(ip); ok {
		return internal(v4)
	}
	return false
}

var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: the well-known prefix
	sixTo4  = netip.MustParsePrefix("2002::/16")    // RFC 3056: the IPv4 address follows the prefix
	v4compa = netip.MustParsePrefix("::/96")        // IPv4-compatible (deprecated); ::1 and :: are ruled on before
)

// embeddedV4 is the IPv4 address an IPv6 address leads to, for the forms
// that carry one in the clear: a NAT64 gateway or 6to4 relay would carry
// a connection to it.
func embeddedV4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip), v4compa.Contains(ip) && !ip.IsLoopback() && !ip.IsUnspecified():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixTo4.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}
