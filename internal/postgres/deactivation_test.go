package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// access is what lets a user act: an admin API token and a login session.
type access struct{ token, session string }

func grantAccess(t *testing.T, p people, u directory.User, name string) access {
	t.Helper()
	ctx := context.Background()
	_, token, err := p.db.CreateAPIToken(ctx, p.actor, u.OrgID, u.ID, name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	session, err := p.db.CreateSession(ctx, u.OrgID, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return access{token, session}
}

// revoked tells whether the token and the session are revoked in the
// store (not only refused while the user is inactive).
func (a access) revoked(t *testing.T, p people) (token, session bool) {
	t.Helper()
	ctx := context.Background()
	if err := p.db.Pool.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM api_tokens WHERE token_hash = $1`, directory.HashSecret(a.token)).Scan(&token); err != nil {
		t.Fatal(err)
	}
	if err := p.db.Pool.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM sessions WHERE id_hash = $1`, directory.HashSecret(a.session)).Scan(&session); err != nil {
		t.Fatal(err)
	}
	return token, session
}

func (a access) works(p people, slug string) (token, session bool) {
	ctx := context.Background()
	_, err := p.db.AuthenticateAPI(ctx, a.token)
	_, _, serr := p.db.SessionUser(ctx, slug, a.session, 0)
	return err == nil, serr == nil
}

func setActive(active bool) func(directory.User) (directory.User, error) {
	return func(u directory.User) (directory.User, error) {
		u.Attributes["active"] = active
		return u, nil
	}
}

// Deactivating a user over SCIM revokes its API tokens and sessions in
// the same transaction, for good: reactivating it brings none back. Other
// users' access, and changes that keep the user active, revoke nothing.
func TestDeactivationRevokesTheUsersTokensAndSessionsForGood(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	alice, bystander := grantAccess(t, p, p.alice, "alice"), grantAccess(t, p, p.owner, "owner")

	rename := func(u directory.User) (directory.User, error) {
		u.Attributes["displayName"] = "Alice Liddell"
		return u, nil
	}
	if _, err := p.db.UpdateUser(ctx, p.actor, p.org.ID, p.alice.ID, 0, rename); err != nil {
		t.Fatal(err)
	}
	if tok, sess := alice.revoked(t, p); tok || sess {
		t.Fatalf("an update that keeps the user active revoked: token %v, session %v", tok, sess)
	}

	steps := []struct {
		name   string
		active bool
		action string
	}{
		{"deactivation", false, "user.deactivate"},
		{"reactivation", true, "user.reactivate"},
	}
	for _, s := range steps {
		out, err := p.db.UpdateUser(ctx, p.actor, p.org.ID, p.alice.ID, 0, setActive(s.active))
		if err != nil || out.Active != s.active {
			t.Fatalf("%s: %+v, %v", s.name, out, err)
		}
		events, err := p.db.AuditEvents(ctx, p.org.ID, "User", p.alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if last := events[len(events)-1]; last.Action != s.action {
			t.Fatalf("%s audited as %s", s.name, last.Action)
		}
		if tok, sess := alice.revoked(t, p); !tok || !sess {
			t.Fatalf("after %s: token revoked %v, session revoked %v", s.name, tok, sess)
		}
		if tok, sess := alice.works(p, "acme"); tok || sess {
			t.Fatalf("after %s: token works %v, session works %v", s.name, tok, sess)
		}
	}
	if tok, sess := bystander.works(p, "acme"); !tok || !sess {
		t.Fatalf("another user's access ended: token %v, session %v", tok, sess)
	}
	// A reactivated user gets new access as anyone does.
	if fresh := grantAccess(t, p, p.alice, "alice-again"); !func() bool { tok, sess := fresh.works(p, "acme"); return tok && sess }() {
		t.Fatal("a reactivated user cannot be given access")
	}
}

// Removing a member that no IdP manages takes away everything that lets
// it act or be granted anything, in one transaction, and records what
// went; the user row stays for past attribution. Removing it again
// changes nothing; IdP-managed users and the break-glass owner are not
// removed here.
func TestRemovingAMemberTakesAwayAllItsAccess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	dave, _, err := p.db.LinkLogin(ctx, p.org.ID, directory.LoginClaims{Issuer: p.issuer, Subject: "s-dave", Email: "dave@example.com",
		EmailVerified: true, Groups: []string{"Data"}}, directory.JITPolicy{Mode: directory.JITAny})
	if err != nil {
		t.Fatal(err)
	}
	mine, bystander := grantAccess(t, p, dave, "dave"), grantAccess(t, p, p.alice, "alice")
	ws, err := p.db.CreateWorkspace(ctx, p.actor, p.org.ID, "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.db.CreateBinding(ctx, p.actor, directory.Binding{OrgID: p.org.ID, Role: directory.RoleEditor, WorkspaceID: ws.ID, UserID: dave.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.db.IngestGitObservations(ctx, p.org.ID, []directory.GitObservation{obs("acme/app", sha1, "dave@example.com", "")}); err != nil {
		t.Fatal(err)
	}
	ident, err := p.db.FindGitIdentity(ctx, p.org.ID, "github", "dave@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.db.MapGitIdentity(ctx, p.actor, p.org.ID, ident.ID, dave.ID); err != nil {
		t.Fatal(err)
	}

	removed, err := p.db.RemoveMember(ctx, p.actor, p.org.ID, dave.ID)
	if err != nil || removed.RemovedAt == nil || removed.Active || removed.Status() != directory.StatusRemoved {
		t.Fatalf("remove: %+v, %v", removed, err)
	}
	if tok, sess := mine.revoked(t, p); !tok || !sess {
		t.Fatalf("token revoked %v, session revoked %v", tok, sess)
	}
	count := func(sql string) int {
		t.Helper()
		var n int
		if err := p.db.Pool.QueryRow(ctx, sql, p.org.ID, dave.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct{ what, sql string }{
		{"role bindings", `SELECT count(*) FROM role_bindings WHERE org_id = $1 AND user_id = $2`},
		{"login links", `SELECT count(*) FROM user_links WHERE org_id = $1 AND user_id = $2`},
		{"sign-in groups", `SELECT count(*) FROM login_groups WHERE org_id = $1 AND user_id = $2`},
		{"git identities", `SELECT count(*) FROM git_identities WHERE org_id = $1 AND user_id = $2`},
	} {
		if n := count(c.sql); n != 0 {
			t.Errorf("%d %s left", n, c.what)
		}
	}
	events, err := p.db.AuditEvents(ctx, p.org.ID, "User", dave.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if last.Action != "user.remove" || last.After["apiTokensRevoked"] != float64(1) || last.After["bindingsRemoved"] != float64(1) ||
		last.After["gitIdentitiesReleased"] != float64(1) {
		t.Fatalf("audited: %s %v", last.Action, last.After)
	}
	if tok, sess := bystander.works(p, "acme"); !tok || !sess {
		t.Fatalf("another user's access ended: token %v, session %v", tok, sess)
	}
	// Again: the same user back, nothing more written.
	again, err := p.db.RemoveMember(ctx, p.actor, p.org.ID, dave.ID)
	if err != nil || again.ID != dave.ID || again.Version != removed.Version {
		t.Fatalf("removing again: %+v, %v", again, err)
	}
	if n := len(mustAudit(t, p, dave.ID)); n != len(events) {
		t.Fatalf("removing again wrote %d audit events", n-len(events))
	}

	for _, tc := range []struct {
		name string
		id   string
		want error
	}{
		{"an IdP-managed user", p.alice.ID, directory.ErrConflict},
		{"the break-glass owner", p.owner.ID, directory.ErrConflict},
		{"a user of another organization", p.olga.ID, directory.ErrNotFound},
		{"no user id", "dave@example.com", directory.ErrNotFound},
	} {
		if _, err := p.db.RemoveMember(ctx, p.actor, p.org.ID, tc.id); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if tok, sess := bystander.works(p, "acme"); !tok || !sess {
		t.Fatalf("a refused removal ended access: token %v, session %v", tok, sess)
	}
}

func mustAudit(t *testing.T, p people, id string) []postgres.AuditEvent {
	t.Helper()
	events, err := p.db.AuditEvents(context.Background(), p.org.ID, "User", id)
	if err != nil {
		t.Fatal(err)
	}
	return events
}
