package oidc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
)

// maxProviderBody bounds what is read of a provider's answer (discovery,
// JWKS, token, userinfo): an organization admin chooses the issuer, and a
// hostile one must not exhaust the service's memory.
const maxProviderBody = 1 << 20

// NewHTTPClient is the client for OpenID Providers: held to the
// operator's outbound policy (internal/egress: https to public addresses
// unless private ones are allowed, checked on the resolved address at
// connect time, no redirects, no proxy), and reading at most 1 MiB of an
// answer. Discovery, JWKS, token and userinfo requests all go through it,
// so an endpoint a discovery document names is checked when it is used,
// whatever it named when the settings were saved.
func NewHTTPClient(p egress.Policy) *http.Client {
	c := p.Client()
	c.Transport = limitedBodies{c.Transport}
	return c
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

// discover fetches the issuer's discovery document and checks the
// endpoints it names against the policy.
//
// A failure is one of two fixed answers, whatever happened: the issuer is
// "not reachable" (refused by the policy, no such host, refused, timed
// out, TLS failed) or it answered but "not with a discovery document"
// (a status, a redirect, no JSON, another issuer, an endpoint the policy
// refuses). An admin can then not tell a refused address from a closed
// port, nor a closed port from a filtered one, nor read another service's
// answer: the issuer field is no port scanner. The detail is logged.
func discover(ctx context.Context, client *http.Client, p egress.Policy, log *slog.Logger, issuer string) (*gooidc.Provider, error) {
	prov, err := gooidc.NewProvider(gooidc.ClientContext(ctx, client), issuer)
	if err == nil {
		err = checkEndpoints(prov, p)
	}
	if err == nil {
		return prov, nil
	}
	// Never the client secret: discovery does not carry it.
	log.WarnContext(ctx, "OIDC discovery failed", "issuer", issuer, "err", err)
	var ue *url.Error
	if errors.As(err, &ue) && !errors.Is(err, egress.ErrRedirect) {
		return nil, directory.Invalidf("the issuer %s is not reachable for OpenID Connect discovery", issuer)
	}
	return nil, directory.Invalidf("the issuer %s does not answer with an OpenID Connect discovery document", issuer)
}

// checkEndpoints holds the endpoints a discovery document names to the
// policy. The service fetches the token, JWKS and userinfo endpoints: they
// pass the whole URL check here (and the client checks the address they
// resolve to at each use). The browser visits the authorization and
// end-session endpoints: only their scheme matters to us.
func checkEndpoints(prov *gooidc.Provider, p egress.Policy) error {
	var meta struct {
		Auth       string `json:"authorization_endpoint"`
		Token      string `json:"token_endpoint"`
		JWKS       string `json:"jwks_uri"`
		UserInfo   string `json:"userinfo_endpoint"`
		EndSession string `json:"end_session_endpoint"`
	}
	if err := prov.Claims(&meta); err != nil {
		return err
	}
	if meta.Auth == "" || meta.Token == "" {
		return errors.New("the discovery document names no authorization or token endpoint")
	}
	fetched := map[string]string{"token_endpoint": meta.Token, "jwks_uri": meta.JWKS, "userinfo_endpoint": meta.UserInfo}
	for name, u := range fetched {
		if u != "" && p.CheckURL(u) != nil {
			return fmt.Errorf("%s %q is refused by the outbound policy", name, u)
		}
	}
	for name, u := range map[string]string{"authorization_endpoint": meta.Auth, "end_session_endpoint": meta.EndSession} {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || pu.Host == "" || !(pu.Scheme == "https" || pu.Scheme == "http" && p.AllowPrivate) {
			return fmt.Errorf("%s %q is not an https URL", name, u)
		}
	}
	return nil
}
