package scim

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// authTTL is how long a successful token check is reused. An IdP's push
// sends hundreds of requests a second with one token; checking each against
// PostgreSQL costs a round trip. A token revoked (by any replica or the
// CLI) is refused here at most this long after.
const authTTL = 5 * time.Second

// maxAuthEntries bounds the cache; past it the cache starts afresh.
const maxAuthEntries = 4096

type authEntry struct {
	org   directory.Organization
	token directory.SCIMToken
	until time.Time
}

// authCache remembers successful authentications only: a failure always
// goes to the store, so a guessed token cannot fill the cache.
type authCache struct {
	mu      sync.Mutex
	entries map[[32]byte]authEntry
	now     func() time.Time
}

func newAuthCache() *authCache {
	return &authCache{entries: make(map[[32]byte]authEntry), now: time.Now}
}

func authKey(slug, secret string) [32]byte {
	return sha256.Sum256([]byte(slug + "\x00" + secret))
}

func (c *authCache) authenticate(ctx context.Context, store Store, slug, secret string) (directory.Organization, directory.SCIMToken, error) {
	key := authKey(slug, secret)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.org, e.token, nil
	}
	org, tok, err := store.AuthenticateSCIM(ctx, slug, secret)
	if err != nil {
		return org, tok, err
	}
	until := now.Add(authTTL)
	if tok.ExpiresAt != nil && tok.ExpiresAt.Before(until) {
		until = *tok.ExpiresAt
	}
	c.mu.Lock()
	if len(c.entries) >= maxAuthEntries {
		c.entries = make(map[[32]byte]authEntry)
	}
	c.entries[key] = authEntry{org: org, token: tok, until: until}
	c.mu.Unlock()
	return org, tok, nil
}
