package directory

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// SessionPrefix marks browser session ids.
const SessionPrefix = "scb_ses_"

// JIT policies: who may sign in through the organization's IdP.
const (
	// JITSCIMOnly lets only users that already exist (provisioned over
	// SCIM, invited…) sign in.
	JITSCIMOnly = "scim-only"
	// JITAny creates the user on first login.
	JITAny = "jit"
	// JITDomain creates the user on first login when its email is verified
	// and of one of the listed domains.
	JITDomain = "jit-with-domain"
)

// JITPolicy says whether and for whom a first login creates a user.
type JITPolicy struct {
	Mode    string   // JITSCIMOnly, JITAny or JITDomain
	Domains []string // lower-case; JITDomain only
}

// Allows tells whether the policy creates a user for a first login with
// this email. Under JITDomain only a verified email counts: the domain is
// the whole point, and an unverified one proves nothing.
func (p JITPolicy) Allows(email string, verified bool) bool {
	switch p.Mode {
	case JITAny:
		return email != ""
	case JITDomain:
		_, domain, ok := strings.Cut(NormalizeEmail(email), "@")
		return ok && verified && slices.Contains(p.Domains, domain)
	}
	return false
}

// IdPSettings is an organization's OpenID Provider. The client secret is
// sealed by the caller (secretbox); the store never sees it in the clear.
type IdPSettings struct {
	OrgID              string
	Issuer             string
	ClientID           string
	ClientSecretSealed []byte
	Scopes             []string
	EmailClaim         string
	NameClaim          string
	GroupsClaim        string
	OIDClaim           string // "oid" for Entra ID; "" when unused
	JIT                JITPolicy
	UpdatedAt          time.Time
}

// Normalize fills defaults and checks the settings. ErrInvalid otherwise.
func (s *IdPSettings) Normalize() error {
	s.Issuer = strings.TrimSpace(s.Issuer)
	u, err := url.Parse(s.Issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		// OpenID Connect Discovery requires https; plain http only for a
		// provider on this machine (development and tests).
		return Invalidf("issuer %q must be an https URL without query or fragment", s.Issuer)
	}
	if s.ClientID = strings.TrimSpace(s.ClientID); s.ClientID == "" || len(s.ClientID) > 512 {
		return Invalidf("client id is required (at most 512 characters)")
	}
	if len(s.Scopes) == 0 {
		s.Scopes = []string{"openid", "email", "profile"}
	}
	if !slices.Contains(s.Scopes, "openid") {
		s.Scopes = append([]string{"openid"}, s.Scopes...)
	}
	for _, sc := range s.Scopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n\"") {
			return Invalidf("scope %q is not valid", sc)
		}
	}
	if s.EmailClaim == "" {
		s.EmailClaim = "email"
	}
	if s.NameClaim == "" {
		s.NameClaim = "name"
	}
	if s.GroupsClaim == "" {
		s.GroupsClaim = "groups"
	}
	if s.JIT.Mode == "" {
		s.JIT.Mode = JITSCIMOnly
	}
	switch s.JIT.Mode {
	case JITSCIMOnly, JITAny:
		s.JIT.Domains = []string{}
	case JITDomain:
		if len(s.JIT.Domains) == 0 {
			return Invalidf("JIT policy %s needs at least one domain", JITDomain)
		}
		for i, d := range s.JIT.Domains {
			d = FoldASCII(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(d), "@")))
			if d == "" || strings.ContainsAny(d, "@/ ") || !strings.Contains(d, ".") {
				return Invalidf("JIT domain %q is not a domain name", s.JIT.Domains[i])
			}
			s.JIT.Domains[i] = d
		}
	default:
		return Invalidf("JIT policy %q: want %s, %s or %s", s.JIT.Mode, JITSCIMOnly, JITAny, JITDomain)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LoginClaims is what a verified ID token (and userinfo) tell about the
// person signing in.
type LoginClaims struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	OID           string // Entra's object id, when the IdP sends one
	// Groups are the values of the configured groups claim (group names,
	// or Entra's group object ids), at most MaxLoginGroups of them.
	Groups []string
}

// MaxLoginGroups bounds the groups kept from one sign-in. Entra ID itself
// stops listing groups in the token past 200 (its "overage" claim).
const MaxLoginGroups = 200

// BreakGlassPrefix marks one-time break-glass login links.
const BreakGlassPrefix = "scb_brk_"

// Break-glass login bounds: a link lives for BreakGlassLinkTTL and works
// once; at most BreakGlassMaxFailures failed attempts per organization are
// recorded within BreakGlassWindow, so that junk requests cannot flood the
// audit trail. A valid link works whatever the count, and a failure is
// answered alike under and over the limit (and for an organization that
// does not exist), so that the count reveals nothing to the anonymous.
const (
	BreakGlassLinkTTL     = 15 * time.Minute
	BreakGlassWindow      = 15 * time.Minute
	BreakGlassMaxFailures = 10
)
