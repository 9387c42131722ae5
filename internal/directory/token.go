package directory

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
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
