package scim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// countingStore answers AuthenticateSCIM from a table and counts calls.
type countingStore struct {
	Store
	calls int
	valid map[string]directory.SCIMToken
}

func (s *countingStore) AuthenticateSCIM(_ context.Context, slug, secret string) (directory.Organization, directory.SCIMToken, error) {
	s.calls++
	t, ok := s.valid[slug+"/"+secret]
	if !ok {
		return directory.Organization{}, directory.SCIMToken{}, directory.ErrUnauthorized
	}
	return directory.Organization{Slug: slug}, t, nil
}

func TestAuthCacheReusesSuccessesBriefly(t *testing.T) {
	t.Parallel()
	soon := time.Now().Add(2 * time.Second)
	store := &countingStore{valid: map[string]directory.SCIMToken{
		"acme/good":     {Name: "good"},
		"acme/expiring": {Name: "expiring", ExpiresAt: &soon},
	}}
	c := newAuthCache()
	now := time.Now()
	c.now = func() time.Time { return now }
	ctx := context.Background()
	for range 3 {
		if _, _, err := c.authenticate(ctx, store, "acme", "good"); err != nil {
			t.Fatal(err)
		}
	}
	if store.calls != 1 {
		t.Fatalf("%d store calls for 3 uses within the TTL, want 1", store.calls)
	}
	// The same secret for another organization is a different key.
	if _, _, err := c.authenticate(ctx, store, "other", "good"); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatalf("other org: %v", err)
	}
	// Failures are never cached.
	for range 2 {
		_, _, _ = c.authenticate(ctx, store, "acme", "bad")
	}
	if store.calls != 4 {
		t.Fatalf("%d store calls, want failures to go to the store each time", store.calls)
	}
	// After the TTL the store is asked again (a revocation takes effect).
	now = now.Add(authTTL + time.Millisecond)
	delete(store.valid, "acme/good")
	if _, _, err := c.authenticate(ctx, store, "acme", "good"); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatalf("after TTL, revoked token: %v", err)
	}
	// A token expiring within the TTL is cached only until it expires.
	now = time.Now()
	if _, _, err := c.authenticate(ctx, store, "acme", "expiring"); err != nil {
		t.Fatal(err)
	}
	now = soon.Add(time.Millisecond)
	calls := store.calls
	_, _, _ = c.authenticate(ctx, store, "acme", "expiring")
	if store.calls != calls+1 {
		t.Fatal("an expired token was served from the cache")
	}
}
