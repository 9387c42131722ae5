package directory

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// Secret prefixes make a leaked secret recognisable (secret scanners, logs).
const (
	SCIMTokenPrefix = "scb_scim_"
	APITokenPrefix  = "scb_api_"
)

// NewSecret returns a fresh random secret with the given prefix: 32 bytes
// from crypto/rand, base64url without padding.
func NewSecret(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret is the digest stored for a secret. A secret of 256 random bits
// needs no salt or slow hash: SHA-256 is preimage resistant, and lookups by
// digest keep authentication one indexed query.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// LooksLikeSecret reports whether s has the shape of a secret of this
// prefix, to reject garbage before touching the database.
func LooksLikeSecret(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	return ok && len(rest) == 43
}

// Token lifetimes. Every SCIM and admin API token expires: a credential
// nobody remembers minting must not outlive the reasons it was minted
// (an admin's offboarding, an IdP migration). A token asked for without a
// lifetime gets DefaultTokenTTL; the operator bounds lifetimes with a
// maximum, DefaultMaxTokenTTL unless configured.
const (
	DefaultTokenTTL    = 90 * 24 * time.Hour
	DefaultMaxTokenTTL = 365 * 24 * time.Hour
)

// TokenTTL is the lifetime a new token gets when ttl was asked for (0:
// none was) under the longest allowed lifetime max (0: DefaultMaxTokenTTL).
// The default never exceeds max. ErrInvalid: ttl is longer than max.
func TokenTTL(ttl, max time.Duration) (time.Duration, error) {
	if max <= 0 {
		max = DefaultMaxTokenTTL
	}
	switch {
	case ttl < 0:
		return 0, Invalidf("a token lifetime must be positive")
	case ttl == 0:
		return min(DefaultTokenTTL, max), nil
	case ttl > max:
		return 0, Invalidf("token lifetime %s is longer than the maximum, %s (set by the operator's --max-token-ttl)", FormatTTL(ttl), FormatTTL(max))
	}
	return ttl, nil
}

// FormatTTL writes a lifetime the way ParseTTL reads it: whole days as
// "90d", anything else as Go writes durations.
func FormatTTL(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}

// CheckAPITokenOwner says whether caller, through the admin API, may mint
// an admin API token that acts as owner. A token is minted for oneself or
// for a service account of the organization, never for another person:
// it would let the caller act, and be audited, as that person, and it
// would outlive the caller's own offboarding. Never for the break-glass
// owner either, not even by the owner's own session: that account is the
// way in when the IdP fails, and a standing credential of it would turn
// an audited one-time link into a permanent back door. The operator CLI,
// which holds the database anyway, is not bound by this rule.
// ErrForbidden explains the refusal.
func CheckAPITokenOwner(caller, owner User) error {
	switch {
	case owner.Source == SourceBreakGlass:
		return Forbiddenf("no API token may act as the break-glass owner %s: it signs in only through a one-time break-glass link; mint the token for yourself or for a service account", owner.UserName)
	case owner.ID == caller.ID, owner.Kind == KindService:
		return nil
	}
	return Forbiddenf("%s is another person: an API token is minted for yourself or for a service account, never in someone else's name", owner.UserName)
}
