package directory

import (
	"net/mail"
	"slices"
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

// NormalizeInviteAddress checks an address to invite: NormalizeAddress,
// and a domain of dot-separated labels with at least one dot. "dave@acme"
// is a valid address by RFC 5322 but never one a person outside this
// machine reads: it is a typo for dave@acme.com, and an invitation to it
// would sit unanswered for its whole lifetime.
func NormalizeInviteAddress(s string) (string, error) {
	addr, err := NormalizeAddress(s)
	if err != nil {
		return "", err
	}
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	labels := strings.Split(domain, ".")
	if len(labels) < 2 || slices.Contains(labels, "") || strings.HasPrefix(domain, "[") {
		return "", Invalidf("%q has no domain a mail can reach (want a name like %s.com)", addr, strings.TrimSuffix(domain, "."))
	}
	return addr, nil
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
