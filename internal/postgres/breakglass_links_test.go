package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// A break-glass link signs the organization's owner in once, within its
// quarter of an hour; every bad link is the same ErrUnauthorized, and a
// failed attempt on an existing organization is audited. Confirming a
// link (the page) spends nothing.
func TestBreakGlassLinksWorkOnceWithinTheirLifetime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	operator := directory.Actor{Kind: "cli", Name: "operator"}
	mint := func(t *testing.T, orgID string) string {
		t.Helper()
		secret, expires, err := p.db.CreateBreakGlassLink(ctx, operator, orgID)
		if err != nil {
			t.Fatal(err)
		}
		if !directory.LooksLikeSecret(directory.BreakGlassPrefix, secret) || time.Until(expires) > directory.BreakGlassLinkTTL || time.Until(expires) < directory.BreakGlassLinkTTL-time.Minute {
			t.Fatalf("minted %q expiring %s", secret, expires)
		}
		// The issuance is audited, naming who printed the link.
		var actor string
		if err := p.db.Pool.QueryRow(ctx, `SELECT a.actor FROM audit_events a JOIN breakglass_links l ON a.resource_id = l.id::text
			WHERE l.token_hash = $1 AND a.action = 'breakglass.link'`, directory.HashSecret(secret)).Scan(&actor); err != nil || actor != "cli:operator" {
			t.Fatalf("the issuance audited as %q, %v", actor, err)
		}
		return secret
	}
	denials := func() int {
		t.Helper()
		var n int
		if err := p.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE org_id = $1 AND action = 'breakglass.denied'`, p.org.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		name    string
		slug    string
		link    func(t *testing.T) string
		ok      bool
		audited bool // a failure recorded as breakglass.denied
	}{
		{"a live link", "acme", func(t *testing.T) string { return mint(t, p.org.ID) }, true, false},
		{"a used link", "acme", func(t *testing.T) string {
			s := mint(t, p.org.ID)
			if _, _, err := p.db.UseBreakGlassLink(ctx, "acme", s, "192.0.2.1"); err != nil {
				t.Fatal(err)
			}
			return s
		}, false, true},
		{"an expired link", "acme", func(t *testing.T) string {
			s := mint(t, p.org.ID)
			if _, err := p.db.Pool.Exec(ctx, `UPDATE breakglass_links SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, directory.HashSecret(s)); err != nil {
				t.Fatal(err)
			}
			return s
		}, false, true},
		{"another organization's link", "acme", func(t *testing.T) string { return mint(t, p.other.ID) }, false, true},
		{"an unknown link", "acme", func(*testing.T) string { return directory.NewSecret(directory.BreakGlassPrefix) }, false, true},
		{"a malformed link", "acme", func(*testing.T) string { return "scb_brk_short" }, false, true},
		{"an unknown organization", "nope", func(t *testing.T) string { return mint(t, p.org.ID) }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := tc.link(t)
			before := denials()
			page, perr := p.db.BreakGlassLinkOrganization(ctx, tc.slug, link)
			o, owner, err := p.db.UseBreakGlassLink(ctx, tc.slug, link, "192.0.2.1")
			if tc.ok {
				if perr != nil || page.ID != p.org.ID {
					t.Fatalf("page: %+v, %v", page, perr)
				}
				if err != nil || o.ID != p.org.ID || owner.ID != p.owner.ID {
					t.Fatalf("sign-in: %+v %+v, %v", o, owner, err)
				}
				events := mustAudit(t, p, p.owner.ID)
				if last := events[len(events)-1]; last.Action != "breakglass.login" || last.Actor != "breakglass:"+postgres.BreakGlassUserName ||
					last.After["from"] != "192.0.2.1" {
					t.Fatalf("audited: %+v", last)
				}
				// Spent: it works once.
				if _, _, err := p.db.UseBreakGlassLink(ctx, tc.slug, link, "192.0.2.1"); !errors.Is(err, directory.ErrUnauthorized) {
					t.Fatalf("used twice: %v", err)
				}
				return
			}
			if !errors.Is(perr, directory.ErrUnauthorized) || page.ID != "" {
				t.Fatalf("page: %+v, %v", page, perr)
			}
			if !errors.Is(err, directory.ErrUnauthorized) || owner.ID != "" {
				t.Fatalf("sign-in: %+v, %v", owner, err)
			}
			if n := denials() - before; n != map[bool]int{true: 1, false: 0}[tc.audited] {
				t.Fatalf("%d denials recorded", n)
			}
		})
	}
}

// Failed attempts are limited per organization: past
// BreakGlassMaxFailures within the window, a bad link is ErrRateLimited
// and no longer recorded, while a valid link still works. An inactive
// owner is ErrForbidden, and the link is not spent.
func TestBreakGlassFailuresAreLimitedAndAValidLinkAlwaysWorks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	operator := directory.Actor{Kind: "cli", Name: "operator"}
	bad := directory.NewSecret(directory.BreakGlassPrefix)
	for i := range directory.BreakGlassMaxFailures {
		if _, _, err := p.db.UseBreakGlassLink(ctx, "acme", bad, "192.0.2.1"); !errors.Is(err, directory.ErrUnauthorized) || errors.Is(err, directory.ErrRateLimited) {
			t.Fatalf("failure %d: %v, want ErrUnauthorized", i+1, err)
		}
	}
	if _, _, err := p.db.UseBreakGlassLink(ctx, "acme", bad, "192.0.2.1"); !errors.Is(err, directory.ErrRateLimited) {
		t.Fatalf("past the limit: %v, want ErrRateLimited", err)
	}
	// The other organization's count is its own.
	if _, _, err := p.db.UseBreakGlassLink(ctx, "other", bad, "192.0.2.1"); !errors.Is(err, directory.ErrUnauthorized) || errors.Is(err, directory.ErrRateLimited) {
		t.Fatalf("another organization: %v", err)
	}
	good, _, err := p.db.CreateBreakGlassLink(ctx, operator, p.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, owner, err := p.db.UseBreakGlassLink(ctx, "acme", good, "192.0.2.1"); err != nil || owner.ID != p.owner.ID {
		t.Fatalf("a valid link past the limit: %+v, %v", owner, err)
	}

	// An inactive owner: refused, and its link left unspent.
	if _, err := p.db.Pool.Exec(ctx, `UPDATE users SET active = false WHERE id = $1`, p.owner.ID); err != nil {
		t.Fatal(err)
	}
	held, _, err := p.db.CreateBreakGlassLink(ctx, operator, p.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, owner, err := p.db.UseBreakGlassLink(ctx, "acme", held, "192.0.2.1"); !errors.Is(err, directory.ErrForbidden) || owner.Active {
		t.Fatalf("an inactive owner: %+v, %v", owner, err)
	}
	if _, err := p.db.BreakGlassLinkOrganization(ctx, "acme", held); err != nil {
		t.Fatalf("the refused link was spent: %v", err)
	}
}
