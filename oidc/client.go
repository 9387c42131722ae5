package oidc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"syscall"
	"time"
)

// maxProviderBody bounds what is read of a provider's answer (discovery,
// JWKS, token, userinfo): an organization admin chooses the issuer, and a
// hostile one must not exhaust the service's memory.
const maxProviderBody = 1 << 20

// NewHTTPClient is the client for OpenID Providers. The issuer is chosen
// by an organization admin, so the client is guarded against being a way
// into the service's network: it follows no redirects, reads at most
// 1 MiB of an answer, and never connects to link-local addresses (cloud
// metadata endpoints live there), unspecified or multicast ones. Loopback
// and private addresses stay reachable: development IdPs and on-premises
// ones live there.
func NewHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: refuseSpecialAddresses}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	tr.Proxy = nil // an environment proxy would dial on our behalf, unguarded
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     limitedBodies{tr},
		CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
	}
}

var errRedirect = errors.New("the provider answered with a redirect, which is not followed")

func refuseSpecialAddresses(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return fmt.Errorf("connecting to %s is not allowed", host)
	}
	return nil
}

type limitedBodies struct{ next http.RoundTripper }

func (l limitedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, maxProviderBody), resp.Body}
	}
	return resp, err
}

// statusRE finds an HTTP status in go-oidc's errors, which also quote the
// provider's answer: only the status is shown to the admin.
var statusRE = regexp.MustCompile(`\b[1-5][0-9]{2} [A-Z][A-Za-z -]{1,40}`)

// reason is a short, safe account of why the provider did not answer.
func reason(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, errRedirect):
		return "it answered with a redirect, which is not followed"
	case errors.As(err, &ne) && ne.Timeout():
		return "it did not answer in time"
	case statusRE.MatchString(err.Error()):
		return "it answered " + statusRE.FindString(err.Error())
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "it could not be reached (" + oe.Op + ")"
	}
	return "its answer is not an OpenID Provider's discovery document"
}
