package directory

import (
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// OperatorTokenPrefix marks operator tokens: the platform's credential for
// creating and deleting organizations (/api/v1/orgs). It is a different
// prefix from the organizations' tokens so that neither kind is ever
// looked up as the other.
const OperatorTokenPrefix = "scb_op_"

// OperatorToken is a platform-level bearer token. It belongs to no
// organization: it manages organizations, and may not act inside one (the
// organization routes refuse it). Only its SHA-256 digest is stored; it
// always expires, under the same lifetime rules as the SCIM and admin API
// tokens (TokenTTL).
type OperatorToken struct {
	ID         string
	Name       string
	CreatedBy  string // the actor who minted it
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Status is the token's state at now.
func (t OperatorToken) Status(now time.Time) TokenStatus {
	switch {
	case t.RevokedAt != nil:
		return TokenRevoked
	case !now.Before(t.ExpiresAt):
		return TokenExpired
	default:
		return TokenActive
	}
}

// MaxOrgNameLen bounds an organization's display name, in characters.
const MaxOrgNameLen = 200

// ValidateOrgName checks an organization's display name: what the console
// and the lists show, so it is printable text of a bounded length without
// spaces at its ends.
func ValidateOrgName(name string) error {
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxOrgNameLen || strings.TrimSpace(name) != name {
		return Invalidf("organization name must be 1-%d characters of text without leading or trailing spaces", MaxOrgNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return Invalidf("organization name must not contain control characters")
		}
	}
	return nil
}

// SCIMBaseURL is the base URL the identity provider of the organization
// slug is given, under the service's externally visible base URL.
func SCIMBaseURL(base, slug string) string {
	return strings.TrimRight(base, "/") + "/scim/v2/" + slug
}

// BreakGlassURL is the one-time login link of the organization's
// break-glass owner that carries secret (a BreakGlassPrefix secret).
func BreakGlassURL(base, slug, secret string) string {
	return strings.TrimRight(base, "/") + "/auth/" + slug + "/breakglass?token=" + url.QueryEscape(secret)
}
