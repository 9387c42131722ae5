package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Every SCIM and admin API token the store creates expires: the default
// lifetime when none is asked for, never past the maximum; and the
// creation of an API token is audited as the one who minted it, with the
// owner apart.
func TestTokensExpireByDefaultAndWithinTheMaximum(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	minter := directory.Actor{Kind: "session", Name: "ann@acme.test"}

	type created struct {
		expires *time.Time
		err     error
	}
	kinds := []struct {
		name   string
		create func(db *postgres.DB, org directory.Organization, owner directory.User, name string, ttl time.Duration) created
	}{
		{"SCIM token", func(db *postgres.DB, org directory.Organization, _ directory.User, name string, ttl time.Duration) created {
			tk, _, err := db.CreateSCIMTokenBy(ctx, minter, org.ID, name, ttl)
			return created{tk.ExpiresAt, err}
		}},
		{"API token", func(db *postgres.DB, org directory.Organization, owner directory.User, name string, ttl time.Duration) created {
			tk, _, err := db.CreateAPIToken(ctx, minter, org.ID, owner.ID, name, ttl)
			return created{tk.ExpiresAt, err}
		}},
	}
	cases := []struct {
		name     string
		max, ttl time.Duration
		want     time.Duration // 0: ErrInvalid
	}{
		{"no lifetime asked", 0, 0, 90 * day},
		{"a lifetime asked", 0, 12 * time.Hour, 12 * time.Hour},
		{"the default maximum", 0, 365 * day, 365 * day},
		{"above the default maximum", 0, 366 * day, 0},
		{"no lifetime asked, shorter maximum", 7 * day, 0, 7 * day},
		{"above a configured maximum", 7 * day, 8 * day, 0},
	}
	for _, k := range kinds {
		for _, c := range cases {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				db := pgtest.DB(t)
				postgres.SetNowForTest(db, func() time.Time { return now })
				db.SetMaxTokenTTL(c.max)
				org, err := db.CreateOrganization(ctx, "acme", "")
				if err != nil {
					t.Fatal(err)
				}
				owner, err := db.FindMember(ctx, org.ID, postgres.BreakGlassUserName)
				if err != nil {
					t.Fatal(err)
				}
				got := k.create(db, org, owner, "tok", c.ttl)
				if c.want == 0 {
					if !errors.Is(got.err, directory.ErrInvalid) {
						t.Fatalf("err = %v, want ErrInvalid", got.err)
					}
					if evs, _ := db.AuditEvents(ctx, org.ID, "", ""); len(evs) != 1 { // org.create only
						t.Fatalf("a refused token left audit events %v", evs)
					}
					return
				}
				if got.err != nil {
					t.Fatal(got.err)
				}
				if got.expires == nil || !got.expires.Equal(now.Add(c.want)) {
					t.Fatalf("expires %v, want %v", got.expires, now.Add(c.want))
				}
			})
		}
	}
}

func TestAPITokenCreationIsAuditedAsTheMinterWithTheOwnerApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	owner, err := db.FindMember(ctx, org.ID, postgres.BreakGlassUserName)
	if err != nil {
		t.Fatal(err)
	}
	minter := directory.Actor{Kind: "cli", Name: "operator"}
	tk, _, err := db.CreateAPIToken(ctx, minter, org.ID, owner.ID, "platform", 0)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := db.AuditEvents(ctx, org.ID, "APIToken", tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Action != "apitoken.create" || evs[0].Actor != "cli:operator" ||
		evs[0].After["owner"] != owner.ID || evs[0].After["ownerUserName"] != postgres.BreakGlassUserName || evs[0].After["expires"] == nil {
		t.Fatalf("audited %+v", evs)
	}
}
