// Package directory holds scimbridge's domain: organizations, the tokens that
// give an identity provider access to one of them, and (in later files) users,
// groups, role bindings and git identities, with the rules that bind them.
//
// It imports only the standard library. Adapters (scim, oidc, sync, the admin
// API) and the store (internal/postgres) depend on it, never the reverse.
package directory

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Domain errors. Stores and services wrap them with %w; each adapter maps
// them to its protocol in one place (a SCIM error, an HTTP status).
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrInvalid      = errors.New("invalid")
	ErrUnauthorized = errors.New("unauthorized")
	ErrForbidden    = errors.New("forbidden")
	// ErrPrecondition reports a stale version (If-Match).
	ErrPrecondition = errors.New("precondition failed")
	// ErrRateLimited reports too many attempts in a window.
	ErrRateLimited = errors.New("rate limited")
)

// Error is a domain error with a message fit for the client: Error()
// is the message alone, errors.Is matches its kind (ErrInvalid…).
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

// Invalidf returns an ErrInvalid with a message for the client.
func Invalidf(format string, args ...any) error {
	return &Error{Kind: ErrInvalid, Msg: fmt.Sprintf(format, args...)}
}

// Conflictf returns an ErrConflict with a message for the client.
func Conflictf(format string, args ...any) error {
	return &Error{Kind: ErrConflict, Msg: fmt.Sprintf(format, args...)}
}

// Forbiddenf returns an ErrForbidden with a message for the client.
func Forbiddenf(format string, args ...any) error {
	return &Error{Kind: ErrForbidden, Msg: fmt.Sprintf(format, args...)}
}

// NotFoundf returns an ErrNotFound with a message for the client.
func NotFoundf(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Msg: fmt.Sprintf(format, args...)}
}

// Organization is a tenant. Everything else belongs to exactly one.
type Organization struct {
	ID        string
	Slug      string
	Name      string
	CreatedAt time.Time
}

var slugRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateSlug checks an organization slug: it appears in URLs
// (/scim/v2/{slug}), so it is lower-case letters, digits and inner dashes,
// at most 63 characters.
func ValidateSlug(slug string) error {
	if !slugRE.MatchString(slug) {
		return Invalidf("organization slug %q must be 1-63 lower-case letters, digits or inner dashes", slug)
	}
	return nil
}

// TokenStatus is the state of a token at a point in time.
type TokenStatus string

// Token states.
const (
	TokenActive  TokenStatus = "active"
	TokenExpired TokenStatus = "expired"
	TokenRevoked TokenStatus = "revoked"
)

// SCIMToken is a bearer token that lets an identity provider call one
// organization's SCIM endpoint. The plain secret is never stored.
type SCIMToken struct {
	ID         string
	OrgID      string
	Name       string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Status tells whether the token is usable at now.
func (t SCIMToken) Status(now time.Time) TokenStatus {
	switch {
	case t.RevokedAt != nil:
		return TokenRevoked
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return TokenExpired
	default:
		return TokenActive
	}
}

// ValidateTokenName checks a token's name: short, printable, no spaces at
// the ends (it is how operators revoke a token).
func ValidateTokenName(name string) error {
	if name == "" || len(name) > 100 || strings.TrimSpace(name) != name {
		return Invalidf("token name %q must be 1-100 characters without leading or trailing spaces", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return Invalidf("token name must not contain control characters")
		}
	}
	return nil
}

// ParseTTL parses a lifetime such as "90d", "12h" or "30m". Days are not a
// time.Duration unit, so they are handled here.
func ParseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, Invalidf("empty duration")
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || fmt.Sprint(days) != n || days <= 0 || days > 36500 {
			return 0, Invalidf("duration %q: want a positive number of days such as 90d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, Invalidf("duration %q: want for example 90d, 12h or 30m", s)
	}
	return d, nil
}
