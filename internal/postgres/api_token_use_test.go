package postgres_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// An admin API token works until its expiry and not a moment after, and
// its last use is recorded, at most once a minute (docs/api.md).
func TestAPITokenExpiresAndRecordsItsLastUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	start := time.Now().Truncate(time.Second)
	var offset atomic.Int64
	postgres.SetNowForTest(db, func() time.Time { return start.Add(time.Duration(offset.Load())) })
	at := func(d time.Duration) { offset.Store(int64(d)) }

	org, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	owner, err := db.FindMember(ctx, org.ID, postgres.BreakGlassUserName)
	if err != nil {
		t.Fatal(err)
	}
	tok, secret, err := db.CreateAPIToken(ctx, directory.Actor{Kind: "cli", Name: "t"}, org.ID, owner.ID, "ci", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(start.Add(time.Hour)) || tok.LastUsedAt != nil {
		t.Fatalf("new token: %+v", tok)
	}
	lastUsed := func() *time.Time {
		t.Helper()
		list, err := db.APITokens(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range list {
			if x.ID == tok.ID {
				return x.LastUsedAt
			}
		}
		t.Fatalf("token %s not listed", tok.ID)
		return nil
	}
	use := func() error {
		t.Helper()
		auth, err := db.AuthenticateAPI(ctx, secret)
		if err == nil && (auth.Token.ID != tok.ID || auth.Owner.ID != owner.ID) {
			t.Fatalf("authenticated as %+v", auth)
		}
		return err
	}

	if err := use(); err != nil {
		t.Fatalf("a new token: %v", err)
	}
	first := lastUsed()
	if first == nil || time.Since(*first) > time.Minute {
		t.Fatalf("last use not recorded: %v", first)
	}
	// Within the minute, a use writes nothing.
	at(30 * time.Second)
	if err := use(); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); got == nil || !got.Equal(*first) {
		t.Fatalf("a use within the minute rewrote last use: %v, was %v", got, first)
	}
	// Past it, the next use is recorded again.
	if _, err := db.Pool.Exec(ctx, `UPDATE api_tokens SET last_used_at = last_used_at - interval '2 minutes' WHERE id = $1`, tok.ID); err != nil {
		t.Fatal(err)
	}
	aged := lastUsed()
	at(3 * time.Minute)
	if err := use(); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(); got == nil || !got.After(*aged) {
		t.Fatalf("a use past the minute was not recorded: %v, was %v", got, aged)
	}

	at(time.Hour - time.Second)
	if err := use(); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	at(time.Hour)
	if err := use(); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatalf("at expiry: %v, want ErrUnauthorized", err)
	}
	at(90 * 24 * time.Hour)
	if _, _, _, err := db.AuthenticateAPIAndSubject(ctx, secret, postgres.AuthorizeQuery{User: owner.UserName}); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatalf("authorize's path, long after expiry: %v, want ErrUnauthorized", err)
	}
}
