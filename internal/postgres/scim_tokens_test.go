package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
)

func TestSCIMTokenLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	acme, err := db.CreateOrganization(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.CreateOrganization(ctx, "other", "")
	if err != nil {
		t.Fatal(err)
	}

	tok1, secret1, err := db.CreateSCIMToken(ctx, acme.ID, "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, secret2, err := db.CreateSCIMToken(ctx, acme.ID, "okta-rotated", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateSCIMToken(ctx, acme.ID, "okta", 0); !errors.Is(err, directory.ErrConflict) {
		t.Fatalf("second live token named okta: err = %v, want ErrConflict", err)
	}
	if _, _, err := db.CreateSCIMToken(ctx, other.ID, "okta", 0); err != nil {
		t.Fatalf("same name in another organization: %v", err)
	}

	// Hashing at rest: the plain secret appears in no column.
	rows, err := db.Pool.Query(ctx, `SELECT t::text, token_hash FROM scim_tokens t`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var text string
		var hash []byte
		if err := rows.Scan(&text, &hash); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{secret1, secret2} {
			if bytes.Contains([]byte(text), []byte(s)) {
				t.Fatalf("plain secret stored in row %s", text)
			}
		}
		if len(hash) != 32 {
			t.Fatalf("token_hash has %d bytes, want a SHA-256 digest", len(hash))
		}
	}
	rows.Close()

	// Both live tokens work: rotation without downtime.
	for _, s := range []string{secret1, secret2} {
		if _, _, err := db.AuthenticateSCIM(ctx, "acme", s); err != nil {
			t.Fatalf("authenticate live token: %v", err)
		}
	}
	cases := []struct {
		name, org, secret string
	}{
		{"token of another organization", "other", secret1},
		{"unknown organization", "nope", secret1},
		{"garbage", "acme", "Bearer nonsense"},
		{"right shape, unknown", "acme", directory.NewSecret(directory.SCIMTokenPrefix)},
		{"empty", "acme", ""},
	}
	for _, c := range cases {
		if _, _, err := db.AuthenticateSCIM(ctx, c.org, c.secret); !errors.Is(err, directory.ErrUnauthorized) {
			t.Errorf("%s: err = %v, want ErrUnauthorized", c.name, err)
		}
	}

	list, err := db.SCIMTokens(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("listed %d tokens, want 2", len(list))
	}
	for _, tk := range list {
		if tk.OrgID != acme.ID {
			t.Fatalf("listed a token of another organization: %+v", tk)
		}
		if tk.Name == "okta-rotated" && tk.ExpiresAt == nil {
			t.Error("okta-rotated: no expiry recorded")
		}
	}

	revoked, err := db.RevokeSCIMToken(ctx, acme.ID, "okta")
	if err != nil {
		t.Fatal(err)
	}
	if revoked.ID != tok1.ID || revoked.Status(time.Now()) != directory.TokenRevoked {
		t.Fatalf("revoked %+v, want token %s revoked", revoked, tok1.ID)
	}
	if _, _, err := db.AuthenticateSCIM(ctx, "acme", secret1); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatalf("revoked token: err = %v, want ErrUnauthorized", err)
	}
	if _, _, err := db.AuthenticateSCIM(ctx, "acme", secret2); err != nil {
		t.Fatalf("the other token after revoking one: %v", err)
	}
	if _, err := db.RevokeSCIMToken(ctx, acme.ID, "okta"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("revoke twice: err = %v, want ErrNotFound", err)
	}
	// A revoked token's name may be used again.
	if _, _, err := db.CreateSCIMToken(ctx, acme.ID, "okta", 0); err != nil {
		t.Fatalf("reuse name of revoked token: %v", err)
	}
}

func TestSCIMTokenExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := db.CreateSCIMToken(ctx, org.ID, "short", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AuthenticateSCIM(ctx, "acme", secret); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE scim_tokens SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.AuthenticateSCIM(ctx, "acme", secret); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatalf("after expiry: err = %v, want ErrUnauthorized", err)
	}
	list, _ := db.SCIMTokens(ctx, org.ID)
	if got := list[0].Status(time.Now()); got != directory.TokenExpired {
		t.Fatalf("status = %s, want expired", got)
	}
}

func TestTokenUsageRecordsLastUseInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	tok, secret, err := db.CreateSCIMToken(ctx, org.ID, "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	usage := db.NewTokenUsage()
	for range 3 {
		_, got, err := db.AuthenticateSCIM(ctx, "acme", secret)
		if err != nil {
			t.Fatal(err)
		}
		usage.Touch(got.OrgID, got.ID)
	}
	list, _ := db.SCIMTokens(ctx, org.ID)
	if list[0].LastUsedAt != nil {
		t.Fatal("last_used_at written before a flush: want no write per request")
	}
	if err := usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	list, _ = db.SCIMTokens(ctx, org.ID)
	if list[0].ID != tok.ID || list[0].LastUsedAt == nil || time.Since(*list[0].LastUsedAt) > time.Minute {
		t.Fatalf("after flush: %+v, want last_used_at set to about now", list[0])
	}
}

func TestCreateOrganizationValidatesSlug(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	for _, slug := range []string{"", "Acme", "-acme", "a b", "acme-", "ä"} {
		if _, err := db.CreateOrganization(ctx, slug, ""); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("slug %q: err = %v, want ErrInvalid", slug, err)
		}
	}
	if _, err := db.CreateOrganization(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateOrganization(ctx, "acme", ""); !errors.Is(err, directory.ErrConflict) {
		t.Fatalf("duplicate slug: err = %v, want ErrConflict", err)
	}
}
