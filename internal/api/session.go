package api

import (
	"errors"
	"net/http"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// SessionFunc looks up the login session a request carries for the
// organization orgSlug (oidc.Handler.Session has this shape): ok=false
// when the request has no session cookie for it, ErrUnauthorized when the
// cookie is no live session.
type SessionFunc func(r *http.Request, orgSlug string) (orgID string, u directory.User, ok bool, err error)

var errSessionEnded = &directory.Error{Kind: directory.ErrUnauthorized,
	Msg: "the login session has ended (signed out, expired or idle too long): sign in again"}

// Authenticate makes a SessionFunc an Authenticator. The session is ambient
// (the browser sends the cookie on its own), so writes need a CSRF check.
// Only a session of the organization in the URL is looked at: a session of
// another organization is no credential here, and the request is answered
// as if it carried none.
func (f SessionFunc) Authenticate(r *http.Request) (Principal, bool, error) {
	slug := r.PathValue("org")
	if slug == "" {
		return Principal{}, false, nil
	}
	orgID, u, ok, err := f(r, slug)
	switch {
	case !ok:
		return Principal{}, false, nil
	case errors.Is(err, directory.ErrUnauthorized):
		return Principal{}, false, errSessionEnded
	case err != nil:
		return Principal{}, false, err
	}
	return Principal{
		Org:     directory.Organization{ID: orgID, Slug: slug},
		User:    u,
		Actor:   directory.Actor{Kind: "session", Name: u.UserName},
		Ambient: true,
	}, true, nil
}
