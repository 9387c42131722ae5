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

// people is an organization with one user of each kind and status that
// sign-in and sessions tell apart, and a second organization.
type people struct {
	db         *postgres.DB
	org, other directory.Organization
	alice      directory.User // SCIM, active
	bob        directory.User // SCIM, deactivated
	carol      directory.User // JIT, removed
	bot        directory.User // a service account
	owner      directory.User // the break-glass owner
	olga       directory.User // SCIM, active, in the other organization
	actor      directory.Actor
	issuer     string
}

func newPeople(t *testing.T) people {
	t.Helper()
	ctx := context.Background()
	p := people{db: pgtest.DB(t), actor: directory.Actor{Kind: "test", Name: "t"}, issuer: "https://idp.example.com"}
	var err error
	if p.org, err = p.db.CreateOrganization(ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	if p.other, err = p.db.CreateOrganization(ctx, "other", ""); err != nil {
		t.Fatal(err)
	}
	scim := func(orgID, name string, active bool) directory.User {
		t.Helper()
		u, err := p.db.CreateUser(ctx, p.actor, directory.User{OrgID: orgID,
			Attributes: map[string]any{"userName": name, "active": active, "emails": []any{map[string]any{"value": name}}}})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	p.alice = scim(p.org.ID, "alice@example.com", true)
	p.bob = scim(p.org.ID, "bob@example.com", false)
	p.olga = scim(p.other.ID, "olga@example.com", true)
	carol, _, err := p.db.LinkLogin(ctx, p.org.ID, directory.LoginClaims{Issuer: p.issuer, Subject: "s-carol", Email: "carol@example.com", EmailVerified: true},
		directory.JITPolicy{Mode: directory.JITAny})
	if err != nil {
		t.Fatal(err)
	}
	if p.carol, err = p.db.RemoveMember(ctx, p.actor, p.org.ID, carol.ID); err != nil {
		t.Fatal(err)
	}
	if p.bot, err = p.db.CreateServiceAccount(ctx, p.actor, p.org.ID, "ci-bot", "", ""); err != nil {
		t.Fatal(err)
	}
	if p.owner, err = p.db.FindMember(ctx, p.org.ID, postgres.BreakGlassUserName); err != nil {
		t.Fatal(err)
	}
	return p
}

// A session is created only for an active, unremoved user of the
// organization, with a positive lifetime.
func TestSessionsStartOnlyForActiveUsersOfTheOrganization(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	for _, tc := range []struct {
		name   string
		orgID  string
		userID string
		ttl    time.Duration
		want   error // nil: a session
	}{
		{"an active user", p.org.ID, p.alice.ID, time.Hour, nil},
		{"the break-glass owner", p.org.ID, p.owner.ID, time.Hour, nil},
		{"a lifetime of one second", p.org.ID, p.alice.ID, time.Second, nil},
		{"a lifetime of zero", p.org.ID, p.alice.ID, 0, directory.ErrInvalid},
		{"a negative lifetime", p.org.ID, p.alice.ID, -time.Hour, directory.ErrInvalid},
		{"no user id", p.org.ID, "alice@example.com", time.Hour, directory.ErrInvalid},
		{"a deactivated user", p.org.ID, p.bob.ID, time.Hour, directory.ErrForbidden},
		{"a removed user", p.org.ID, p.carol.ID, time.Hour, directory.ErrForbidden},
		{"a user of another organization", p.org.ID, p.olga.ID, time.Hour, directory.ErrForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := p.db.CreateSession(ctx, tc.orgID, tc.userID, tc.ttl)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || id != "" {
					t.Fatalf("got %q, %v; want %v", id, err, tc.want)
				}
				return
			}
			if err != nil || !directory.LooksLikeSecret(directory.SessionPrefix, id) {
				t.Fatalf("got %q, %v", id, err)
			}
			var lifetime time.Duration
			if err := p.db.Pool.QueryRow(ctx, `SELECT expires_at - created_at FROM sessions WHERE id_hash = $1`, directory.HashSecret(id)).Scan(&lifetime); err != nil {
				t.Fatal(err)
			}
			if lifetime != tc.ttl {
				t.Fatalf("the session lives %s, want %s", lifetime, tc.ttl)
			}
		})
	}
}

// SessionUser answers only for a live session, in its own organization,
// of a user who may still sign in; every other case is the same
// ErrUnauthorized. The idle timeout counts from the last use, and a zero
// or negative idle means none.
func TestSessionsAnswerOnlyWhileLiveAndTheirUserMaySignIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	start := func(t *testing.T, u directory.User) string {
		t.Helper()
		id, err := p.db.CreateSession(ctx, p.org.ID, u.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	exec := func(t *testing.T, sql string, args ...any) {
		t.Helper()
		if _, err := p.db.Pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		slug    string
		idle    time.Duration
		prepare func(t *testing.T) string // returns the session id
		want    directory.User            // zero: ErrUnauthorized
	}{
		{"a fresh session", "acme", 30 * time.Minute, func(t *testing.T) string { return start(t, p.alice) }, p.alice},
		{"the break-glass owner's session", "acme", 30 * time.Minute, func(t *testing.T) string { return start(t, p.owner) }, p.owner},
		{"another organization's slug", "other", 30 * time.Minute, func(t *testing.T) string { return start(t, p.alice) }, directory.User{}},
		{"an unknown organization", "nope", 30 * time.Minute, func(t *testing.T) string { return start(t, p.alice) }, directory.User{}},
		{"a made-up id", "acme", 30 * time.Minute, func(*testing.T) string { return directory.NewSecret(directory.SessionPrefix) }, directory.User{}},
		{"a malformed id", "acme", 30 * time.Minute, func(*testing.T) string { return "scb_sess_short" }, directory.User{}},
		{"a logged-out session", "acme", 30 * time.Minute, func(t *testing.T) string {
			id := start(t, p.alice)
			if err := p.db.RevokeSession(ctx, "acme", id); err != nil {
				t.Fatal(err)
			}
			return id
		}, directory.User{}},
		{"a session past its absolute expiry", "acme", 0, func(t *testing.T) string {
			id := start(t, p.alice)
			exec(t, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id_hash = $1`, directory.HashSecret(id))
			return id
		}, directory.User{}},
		{"idle for 29 minutes of 30", "acme", 30 * time.Minute, func(t *testing.T) string {
			id := start(t, p.alice)
			exec(t, `UPDATE sessions SET last_seen_at = now() - interval '29 minutes' WHERE id_hash = $1`, directory.HashSecret(id))
			return id
		}, p.alice},
		{"idle for 31 minutes of 30", "acme", 30 * time.Minute, func(t *testing.T) string {
			id := start(t, p.alice)
			exec(t, `UPDATE sessions SET last_seen_at = now() - interval '31 minutes' WHERE id_hash = $1`, directory.HashSecret(id))
			return id
		}, directory.User{}},
		{"idle for a day with no idle timeout (0)", "acme", 0, func(t *testing.T) string {
			id := start(t, p.alice)
			exec(t, `UPDATE sessions SET last_seen_at = now() - interval '1 day' WHERE id_hash = $1`, directory.HashSecret(id))
			return id
		}, p.alice},
		{"idle for a day with no idle timeout (negative)", "acme", -time.Minute, func(t *testing.T) string {
			id := start(t, p.alice)
			exec(t, `UPDATE sessions SET last_seen_at = now() - interval '1 day' WHERE id_hash = $1`, directory.HashSecret(id))
			return id
		}, p.alice},
		{"its user deactivated since", "acme", 30 * time.Minute, func(t *testing.T) string {
			id := start(t, p.alice)
			exec(t, `UPDATE users SET active = false WHERE id = $1`, p.alice.ID)
			t.Cleanup(func() { exec(t, `UPDATE users SET active = true WHERE id = $1`, p.alice.ID) })
			return id
		}, directory.User{}},
		{"its user removed since", "acme", 30 * time.Minute, func(t *testing.T) string {
			id := start(t, p.alice)
			exec(t, `UPDATE users SET removed_at = now() WHERE id = $1`, p.alice.ID)
			t.Cleanup(func() { exec(t, `UPDATE users SET removed_at = NULL WHERE id = $1`, p.alice.ID) })
			return id
		}, directory.User{}},
		{"a service account's", "acme", 30 * time.Minute, func(t *testing.T) string { return start(t, p.bot) }, directory.User{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.prepare(t)
			s, u, err := p.db.SessionUser(ctx, tc.slug, id, tc.idle)
			if tc.want.ID == "" {
				if !errors.Is(err, directory.ErrUnauthorized) || u.ID != "" || s.UserID != "" {
					t.Fatalf("got %+v %q, %v; want ErrUnauthorized", s, u.UserName, err)
				}
				return
			}
			if err != nil || u.ID != tc.want.ID || u.UserName != tc.want.UserName || s.UserID != tc.want.ID || s.OrgID != p.org.ID {
				t.Fatalf("got %+v %q, %v; want %s", s, u.UserName, err, tc.want.UserName)
			}
		})
	}
}

// A session's last use is recorded when it is read, at most once a
// minute, so that reads stay reads.
func TestSessionLastUseIsRecordedAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	for _, tc := range []struct {
		name     string
		seen     time.Duration // how long ago it was last seen
		recorded bool
	}{
		{"seen 30 seconds ago", 30 * time.Second, false},
		{"seen 2 minutes ago", 2 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := p.db.CreateSession(ctx, p.org.ID, p.alice.ID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			var before time.Time
			if err := p.db.Pool.QueryRow(ctx, `UPDATE sessions SET last_seen_at = now() - $2::interval WHERE id_hash = $1 RETURNING last_seen_at`,
				directory.HashSecret(id), tc.seen).Scan(&before); err != nil {
				t.Fatal(err)
			}
			s, _, err := p.db.SessionUser(ctx, "acme", id, time.Hour)
			if err != nil || !s.LastSeenAt.Equal(before) {
				t.Fatalf("the session read back %+v, %v; want last seen %s", s, err, before)
			}
			var after time.Time
			if err := p.db.Pool.QueryRow(ctx, `SELECT last_seen_at FROM sessions WHERE id_hash = $1`, directory.HashSecret(id)).Scan(&after); err != nil {
				t.Fatal(err)
			}
			if recorded := after.After(before); recorded != tc.recorded {
				t.Fatalf("last seen %s → %s: recorded %v, want %v", before, after, recorded, tc.recorded)
			}
		})
	}
}

// Logging out ends one session, in its own organization only; revoking a
// user's sessions ends all of theirs and says how many.
func TestLogoutAndRevocationEndExactlyTheSessionsTheyName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	start := func(u directory.User, orgID string) string {
		t.Helper()
		id, err := p.db.CreateSession(ctx, orgID, u.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	live := func(slug, id string) bool {
		_, _, err := p.db.SessionUser(ctx, slug, id, 0)
		return err == nil
	}
	a1, a2, owner := start(p.alice, p.org.ID), start(p.alice, p.org.ID), start(p.owner, p.org.ID)
	// Another organization's logout of the id ends nothing.
	if err := p.db.RevokeSession(ctx, "other", a1); err != nil || !live("acme", a1) {
		t.Fatalf("a logout in another organization ended the session: %v", err)
	}
	for _, id := range []string{"", "scb_sess_short", directory.NewSecret(directory.SessionPrefix)} {
		if err := p.db.RevokeSession(ctx, "acme", id); err != nil {
			t.Fatalf("logout of %q: %v", id, err)
		}
	}
	if err := p.db.RevokeSession(ctx, "acme", a1); err != nil || live("acme", a1) || !live("acme", a2) {
		t.Fatalf("logout: %v; a1 live %v, a2 live %v", err, live("acme", a1), live("acme", a2))
	}
	n, err := p.db.RevokeUserSessions(ctx, p.org.ID, p.alice.ID)
	if err != nil || n != 1 || live("acme", a2) || !live("acme", owner) {
		t.Fatalf("revoked %d, %v; a2 live %v, owner's live %v", n, err, live("acme", a2), live("acme", owner))
	}
	if n, err := p.db.RevokeUserSessions(ctx, p.org.ID, p.alice.ID); err != nil || n != 0 {
		t.Fatalf("revoking again: %d, %v", n, err)
	}
	// Revocation is by organization too.
	olga := start(p.olga, p.other.ID)
	if n, err := p.db.RevokeUserSessions(ctx, p.org.ID, p.olga.ID); err != nil || n != 0 || !live("other", olga) {
		t.Fatalf("revoking another organization's user: %d, %v", n, err)
	}
}
