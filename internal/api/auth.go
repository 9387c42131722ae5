package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Principal is an authenticated caller.
type Principal struct {
	// Org is the organization the credential belongs to; a request for
	// another organization's URL is answered 404.
	Org directory.Organization
	// User is whose effective role authorizes the request (a token's owner,
	// a session's user).
	User directory.User
	// Actor is recorded on the audit trail of every write.
	Actor directory.Actor
	// Ambient is true when the browser sends the credential on its own (a
	// session cookie): writes then need a CSRF check. Bearer tokens are
	// never ambient.
	Ambient bool
	// Access is User's effective permissions, when the authenticator read
	// them with the credential; nil has them read when a route needs them.
	// It saves a round trip on nearly every request.
	Access *directory.Access
}

// Authenticator is one way of authenticating a request. Authenticate
// returns ok=false (and no error) when the request carries no credential
// of its kind, so that the next authenticator is tried; a credential of
// its kind that is not valid is an error of kind ErrUnauthorized.
type Authenticator interface {
	Authenticate(r *http.Request) (p Principal, ok bool, err error)
}

var (
	errNoCredentials = &directory.Error{Kind: directory.ErrUnauthorized,
		Msg: "authentication is required: send an admin API token as Authorization: Bearer scb_api_…"}
	errInvalidToken = &directory.Error{Kind: directory.ErrUnauthorized,
		Msg: "the bearer token is not valid (unknown, revoked or expired, or its owner is no longer active)"}
	// errNoOrg answers a URL naming an organization other than the
	// caller's, whether or not it exists.
	errNoOrg = directory.NotFoundf("organization not found")

	errNoOperatorCredentials = &directory.Error{Kind: directory.ErrUnauthorized,
		Msg: "authentication is required: send an operator token as Authorization: Bearer scb_op_… (scimbridge operator-token create)"}
	errInvalidOperatorToken = &directory.Error{Kind: directory.ErrUnauthorized,
		Msg: "the bearer token is not a valid operator token (unknown, revoked or expired); an organization's tokens and sessions do not manage organizations"}
)

// admitOperator authenticates the caller of an operator route: an
// operator token sent as Authorization: Bearer, and nothing else. The
// chain of the organization routes is not consulted: an admin API token
// or a login session belongs to one organization and never manages
// organizations, whatever its role there.
func (h *Handler) admitOperator(r *http.Request) (*call, error) {
	secret, ok, err := bearerSecret(r)
	if !ok || err != nil {
		return nil, errNoOperatorCredentials
	}
	t, err := h.store.AuthenticateOperator(r.Context(), secret)
	if errors.Is(err, directory.ErrUnauthorized) {
		return nil, errInvalidOperatorToken
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate operator token: %w", err)
	}
	// The token's id names it on the trails: names are reused once a
	// token is revoked, ids never.
	return &call{actor: directory.Actor{Kind: "operator-token", Name: t.ID}, store: h.store}, nil
}

func errForbiddenf(format string, args ...any) error { return directory.Forbiddenf(format, args...) }

// authenticate runs the chain; the first authenticator that recognises a
// credential decides.
func (h *Handler) authenticate(r *http.Request) (Principal, error) {
	for _, a := range h.auth {
		p, ok, err := a.Authenticate(r)
		if err != nil {
			return Principal{}, err
		}
		if ok {
			return p, nil
		}
	}
	return Principal{}, errNoCredentials
}

// bearer authenticates admin API tokens sent as Authorization: Bearer.
type bearer struct{ store Store }

func (b bearer) Authenticate(r *http.Request) (Principal, bool, error) {
	secret, ok, err := bearerSecret(r)
	if !ok || err != nil {
		return Principal{}, false, err
	}
	auth, err := b.store.AuthenticateAPI(r.Context(), secret)
	p, err := bearerPrincipal(auth, err)
	return p, err == nil, err
}

// bearerSecret is the secret of an Authorization: Bearer header; ok is
// false when there is no Authorization header.
func bearerSecret(r *http.Request) (secret string, ok bool, err error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return "", false, nil
	}
	scheme, secret, _ := strings.Cut(header, " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return "", true, errNoCredentials
	}
	return secret, true, nil
}

// bearerPrincipal is the caller an admin API token authenticated, given
// the error of checking it.
func bearerPrincipal(a postgres.APIAuth, err error) (Principal, error) {
	if errors.Is(err, directory.ErrUnauthorized) {
		return Principal{}, errInvalidToken
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate API token: %w", err)
	}
	return Principal{
		Org:    a.Org,
		User:   a.Owner,
		Actor:  directory.Actor{Kind: "api-token", Name: fmt.Sprintf("%s (%s)", a.Token.Name, a.Owner.UserName)},
		Access: &a.Access,
	}, nil
}
