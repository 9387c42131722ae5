package directory

import (
	"net/mail"
	"strings"
	"time"
)

// InvitationTokenPrefix marks invitation secrets.
const InvitationTokenPrefix = "scb_inv_"

// DefaultInvitationTTL is how long an invitation stays valid.
const DefaultInvitationTTL = 7 * 24 * time.Hour

// Invitation asks someone to join an organization.
type Invitation struct {
	ID         string
	OrgID      string
	Email      string
	AnyEmail   bool      // accept a login with any verified email
	Bindings   []Binding // initial grants (role and workspace; the subject is the new member)
	InvitedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	SentAt     *time.Time
	AcceptedAt *time.Time
	AcceptedBy string
	RevokedAt  *time.Time
}

// InvitationState is where an invitation stands.
func (i Invitation) State(now time.Time) string {
	switch {
	case i.AcceptedAt != nil:
		return "accepted"
	case i.RevokedAt != nil:
		return "revoked"
	case !now.Before(i.ExpiresAt):
		return "expired"
	default:
		return "pending"
	}
}

// NormalizeAddress checks an email address and returns it trimmed (the
// bare address, without a display name). ErrInvalid otherwise.
func NormalizeAddress(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") || len(a.Address) > 320 {
		return "", Invalidf("%q is not an email address", s)
	}
	return a.Address, nil
}

// Login is what a verified login tells about a person, for accepting an
// invitation (the OIDC adapter fills it).
type Login struct {
	Email         string
	EmailVerified bool
	Name          string
	// Issuer and Subject, when set, are linked to the new member, so that
	// their next login finds them whatever the JIT policy.
	Issuer, Subject string
	// Groups are the sign-in's groups claim (see LoginClaims.Groups).
	Groups []string
}
