package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

var reconciler = directory.Actor{Kind: "system", Name: "reconciler"}

func TestReconcileLockIsExclusiveAndReleasedOnClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _, _, _ := gitSetup(t)
	s, err := db.LockReconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.LockReconcile(ctx); !errors.Is(err, postgres.ErrReconcileLocked) {
		t.Fatalf("second lock: %v", err)
	}
	s.Close()
	s, err = db.LockReconcile(ctx)
	if err != nil {
		t.Fatalf("lock after close: %v", err)
	}
	s.Close()
}

// AutoMap re-checks at write time what the plan was computed on.
func TestAutoMapHoldsOnlyWhatWasPlanned(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		change func(t *testing.T, db *postgres.DB, org directory.Organization, ann, bob directory.User, g directory.GitIdentity)
		want   int
	}{
		{"nothing changed", func(*testing.T, *postgres.DB, directory.Organization, directory.User, directory.User, directory.GitIdentity) {
		}, 1},
		{"another user took the email meanwhile", func(t *testing.T, db *postgres.DB, org directory.Organization, _, bob directory.User, _ directory.GitIdentity) {
			setEmails(t, db, org, bob, "bob@example.com", "ann@example.com")
		}, 0},
		{"the user was deactivated meanwhile", func(t *testing.T, db *postgres.DB, org directory.Organization, ann, _ directory.User, _ directory.GitIdentity) {
			if _, err := db.UpdateUser(context.Background(), tester, org.ID, ann.ID, 0, func(u directory.User) (directory.User, error) {
				u.Attributes["active"] = false
				return u, nil
			}); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"the user lost the email meanwhile", func(t *testing.T, db *postgres.DB, org directory.Organization, ann, _ directory.User, _ directory.GitIdentity) {
			setEmails(t, db, org, ann, "ann@elsewhere.example")
		}, 0},
		{"an admin mapped the identity meanwhile", func(t *testing.T, db *postgres.DB, org directory.Organization, _, bob directory.User, g directory.GitIdentity) {
			if _, err := db.MapGitIdentity(context.Background(), tester, org.ID, g.ID, bob.ID); err != nil {
				t.Fatal(err)
			}
		}, 0},
		// Only verified addresses map (users.verified_login, 00012).
		{"the user's address is an unverified JIT login's", func(t *testing.T, db *postgres.DB, org directory.Organization, ann, _ directory.User, _ directory.GitIdentity) {
			if _, err := db.Pool.Exec(context.Background(), `UPDATE users SET source = 'jit', verified_login = false WHERE org_id = $1 AND id = $2`,
				org.ID, ann.ID); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"an unverified JIT login with the address is no rival", func(t *testing.T, db *postgres.DB, org directory.Organization, ann, _ directory.User, _ directory.GitIdentity) {
			// ann's userName is her address, which a JIT user is named by.
			if _, err := db.UpdateUser(context.Background(), tester, org.ID, ann.ID, 0, func(u directory.User) (directory.User, error) {
				u.Attributes["userName"] = "ann"
				return u, nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.LinkLogin(context.Background(), org.ID, directory.LoginClaims{Issuer: "https://idp.example", Subject: "mallory",
				Email: "ann@example.com"}, directory.JITPolicy{Mode: directory.JITAny}); err != nil {
				t.Fatal(err)
			}
		}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, org, ann, bob := gitSetup(t)
			if _, err := db.IngestGitObservations(ctx, org.ID, []directory.GitObservation{obs("acme/api", sha1, "ann@example.com", "")}); err != nil {
				t.Fatal(err)
			}
			g, _ := db.FindGitIdentity(ctx, org.ID, "github", "ann@example.com", "")
			tc.change(t, db, org, ann, bob, g)
			s, err := db.LockReconcile(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n, err := s.AutoMap(ctx, reconciler, org.ID, []postgres.AutoMapping{{IdentityID: g.ID, UserID: ann.ID, Reason: "test"}})
			if err != nil || n != tc.want {
				t.Fatalf("mapped %d, %v; want %d", n, err, tc.want)
			}
			events, _ := db.AuditEvents(ctx, org.ID, "GitIdentity", g.ID)
			auto := 0
			for _, e := range events {
				if e.Actor == reconciler.String() {
					auto++
				}
			}
			if auto != tc.want {
				t.Fatalf("%d audit events by the reconciler, want %d", auto, tc.want)
			}
		})
	}
}

func setEmails(t *testing.T, db *postgres.DB, org directory.Organization, u directory.User, emails ...string) {
	t.Helper()
	list := make([]any, len(emails))
	for i, e := range emails {
		list[i] = map[string]any{"value": e}
	}
	if _, err := db.UpdateUser(context.Background(), tester, org.ID, u.ID, 0, func(cur directory.User) (directory.User, error) {
		cur.Attributes["emails"] = list
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestTouchedAtFollowsEveryWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ann, _ := gitSetup(t)
	if _, err := db.IngestGitObservations(ctx, org.ID, []directory.GitObservation{obs("acme/api", sha1, "ann@example.com", "")}); err != nil {
		t.Fatal(err)
	}
	g, _ := db.FindGitIdentity(ctx, org.ID, "github", "ann@example.com", "")
	touched := func() (at string) {
		if err := db.Pool.QueryRow(ctx, `SELECT touched_at::text FROM git_identities WHERE org_id = $1 AND id = $2`, org.ID, g.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	// Each write is its own transaction, so now() moves on.
	prev := touched()
	writes := []struct {
		name  string
		write func() error
	}{
		{"map", func() error { _, err := db.MapGitIdentity(ctx, tester, org.ID, g.ID, ann.ID); return err }},
		{"unmap", func() error { return db.UnmapGitIdentity(ctx, tester, org.ID, g.ID) }},
		{"ingest", func() error {
			_, err := db.IngestGitObservations(ctx, org.ID, []directory.GitObservation{obs("acme/web", sha2, "ann@example.com", "")})
			return err
		}},
	}
	for _, w := range writes {
		if err := w.write(); err != nil {
			t.Fatal(err)
		}
		if cur := touched(); cur == prev {
			t.Errorf("%s left touched_at at %s", w.name, cur)
		} else {
			prev = cur
		}
	}
}

// github_login (a generated column) is the rule of
// directory.GitHubNoreplyLogin, lower-cased: the login when there is one,
// else the login a GitHub noreply address carries.
func TestGitHubLoginIsTheLoginOrTheNoreplyAddressLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, _, _ := gitSetup(t)
	cases := []struct {
		provider, email, login string
		want                   string // "" for NULL
	}{
		{"github", "ann@example.com", "Ann-B", "ann-b"},
		{"github", "12345+ann-b@users.noreply.github.com", "", "ann-b"},
		{"github", "Ann-B@Users.Noreply.GitHub.com", "", "ann-b"},
		{"github", "41898282+github-actions[bot]@users.noreply.github.com", "", "github-actions[bot]"},
		{"github", "12345+ann@users.noreply.github.com", "other", "other"},
		{"github", "abc+ann@users.noreply.github.com", "", ""},
		{"github", "ann.b@users.noreply.github.com", "", ""},
		{"github", "1234567890123456789012345678901234567890@users.noreply.github.com", "", ""},
		{"github", "ann@noreply.github.example", "", ""},
		{"github", "ann@example.com", "", ""},
		{"gitlab", "12345+ann@users.noreply.github.com", "", ""},
		{"gitlab", "ann@example.com", "ann", ""},
		// GitHub logins are ASCII; a Kelvin sign (U+212A) is not k, though
		// lower() under a UTF-8 locale says it is.
		{"github", "12345+\u212Aate@users.noreply.github.com", "", ""},
		{"github", "\u212Aate@users.noreply.github.com", "", ""},
		{"github", "ann@example.com", "\u212Aate", "\u212Aate"},
		{"github", "ann@example.com", "ANN-\u212A", "ann-\u212A"},
	}
	for _, c := range cases {
		var got *string
		err := db.Pool.QueryRow(ctx, `INSERT INTO git_identities (org_id, provider, email, login, first_seen, last_seen)
			VALUES ($1, $2, $3, $4, now(), now()) RETURNING github_login`,
			org.ID, c.provider, directory.NormalizeEmail(c.email), c.login).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		s := ""
		if got != nil {
			s = *got
		}
		if s != c.want {
			t.Errorf("%s %q %q: github_login %q, want %q", c.provider, c.email, c.login, s, c.want)
		}
		// The Go rule agrees on the noreply addresses.
		if l, ok := directory.GitHubNoreplyLogin(c.email); c.provider == "github" && c.login == "" && (ok != (c.want != "") || ok && !strings.EqualFold(l, c.want)) {
			t.Errorf("%q: GitHubNoreplyLogin %q %v, column %q", c.email, l, ok, c.want)
		}
	}
}

// A mapping by GitHub login re-checks at write time what it was planned on:
// the user still holds the login, nobody else does, and the identity's
// personal address is no other active user's.
func TestAutoMapByLoginHoldsOnlyWhatWasPlanned(t *testing.T) {
	t.Parallel()
	type fixture struct {
		db            *postgres.DB
		org           directory.Organization
		ann, bob      directory.User
		held, sibling directory.GitIdentity // ann's mapped identity; the one to map
	}
	cases := []struct {
		name string
		// byEmail: the mapping was planned on the sibling's address, which
		// ann has; it must still respect the login.
		byEmail bool
		change  func(t *testing.T, f fixture)
		want    int
	}{
		{"nothing changed", false, func(*testing.T, fixture) {}, 1},
		{"the held identity was unmapped meanwhile", false, func(t *testing.T, f fixture) {
			if err := f.db.UnmapGitIdentity(context.Background(), tester, f.org.ID, f.held.ID); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"the held identity was remapped to another user meanwhile", false, func(t *testing.T, f fixture) {
			if err := f.db.UnmapGitIdentity(context.Background(), tester, f.org.ID, f.held.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := f.db.MapGitIdentity(context.Background(), tester, f.org.ID, f.held.ID, f.bob.ID); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"another identity with the login was mapped to another user meanwhile", false, func(t *testing.T, f fixture) {
			ingest(t, f.db, f.org, obs("acme/api", sha2, "bob@home.example", "Ann-GH"))
			g, _ := f.db.FindGitIdentity(context.Background(), f.org.ID, "github", "bob@home.example", "ann-gh")
			if _, err := f.db.MapGitIdentity(context.Background(), tester, f.org.ID, g.ID, f.bob.ID); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"the owner was deactivated meanwhile", false, func(t *testing.T, f fixture) {
			if _, err := f.db.UpdateUser(context.Background(), tester, f.org.ID, f.ann.ID, 0, func(u directory.User) (directory.User, error) {
				u.Attributes["active"] = false
				return u, nil
			}); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"another user took the identity's address meanwhile", false, func(t *testing.T, f fixture) {
			setEmails(t, f.db, f.org, f.bob, "bob@example.com", "ann@laptop.example")
		}, 0},
		{"the owner took the identity's address meanwhile", false, func(t *testing.T, f fixture) {
			setEmails(t, f.db, f.org, f.ann, "ann@example.com", "ann@laptop.example")
		}, 1},
		{"by email, nothing changed", true, func(*testing.T, fixture) {}, 1},
		{"by email, another identity with the login was mapped to another user meanwhile", true, func(t *testing.T, f fixture) {
			if err := f.db.UnmapGitIdentity(context.Background(), tester, f.org.ID, f.held.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := f.db.MapGitIdentity(context.Background(), tester, f.org.ID, f.held.ID, f.bob.ID); err != nil {
				t.Fatal(err)
			}
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, org, ann, bob := gitSetup(t)
			ingest(t, db, org, obs("acme/api", sha1, "ann@home.example", "ann-gh"), obs("acme/web", sha1, "ann@laptop.example", "ann-gh"))
			held, _ := db.FindGitIdentity(ctx, org.ID, "github", "ann@home.example", "ann-gh")
			sibling, _ := db.FindGitIdentity(ctx, org.ID, "github", "ann@laptop.example", "ann-gh")
			if _, err := db.MapGitIdentity(ctx, tester, org.ID, held.ID, ann.ID); err != nil {
				t.Fatal(err)
			}
			if tc.byEmail {
				setEmails(t, db, org, ann, "ann@example.com", "ann@laptop.example")
			}
			tc.change(t, fixture{db, org, ann, bob, held, sibling})
			s, err := db.LockReconcile(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n, err := s.AutoMap(ctx, reconciler, org.ID, []postgres.AutoMapping{{IdentityID: sibling.ID, UserID: ann.ID,
				Reason: "test", ByLogin: !tc.byEmail, Login: "ann-gh", PersonalEmail: true}})
			if err != nil || n != tc.want {
				t.Fatalf("mapped %d, %v; want %d", n, err, tc.want)
			}
			if g, _ := db.GitIdentity(ctx, org.ID, sibling.ID); (g.UserID == ann.ID) != (tc.want == 1) {
				t.Fatalf("identity %+v", g)
			}
		})
	}
}

func ingest(t *testing.T, db *postgres.DB, org directory.Organization, o ...directory.GitObservation) {
	t.Helper()
	if _, err := db.IngestGitObservations(context.Background(), org.ID, o); err != nil {
		t.Fatal(err)
	}
}

// Past ginProbeMax mappings, AutoMap counts rivals in one pass over the
// users: the same rules hold.
func TestAutoMapManyByLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ann, bob := gitSetup(t)
	const n = 150
	batch := []directory.GitObservation{obs("acme/api", sha1, "ann@home.example", "ann-gh")}
	for i := range n {
		batch = append(batch, obs("acme/api", fmt.Sprintf("%040x", i+10), fmt.Sprintf("ann%d@laptop.example", i), "ann-gh"))
	}
	ingest(t, db, org, batch...)
	held, _ := db.FindGitIdentity(ctx, org.ID, "github", "ann@home.example", "ann-gh")
	if _, err := db.MapGitIdentity(ctx, tester, org.ID, held.ID, ann.ID); err != nil {
		t.Fatal(err)
	}
	// Bob has the address of one of them, Ann of another.
	setEmails(t, db, org, bob, "bob@example.com", "ann7@laptop.example")
	setEmails(t, db, org, ann, "ann@example.com", "ann8@laptop.example")
	var maps []postgres.AutoMapping
	for i := range n {
		g, err := db.FindGitIdentity(ctx, org.ID, "github", fmt.Sprintf("ann%d@laptop.example", i), "ann-gh")
		if err != nil {
			t.Fatal(err)
		}
		maps = append(maps, postgres.AutoMapping{IdentityID: g.ID, UserID: ann.ID, Reason: "test", ByLogin: true, Login: "ann-gh", PersonalEmail: true})
	}
	s, err := db.LockReconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.AutoMap(ctx, reconciler, org.ID, maps)
	if err != nil || got != n-1 {
		t.Fatalf("mapped %d, %v; want %d", got, err, n-1)
	}
	if g, _ := db.FindGitIdentity(ctx, org.ID, "github", "ann7@laptop.example", "ann-gh"); g.UserID != "" {
		t.Fatal("mapped by login although another user has its address")
	}
}

// A removal in flight when AutoMap runs must be seen: AutoMap's UPDATE
// touches the identity, not the user, so without a lock on the user a
// removal committing meanwhile went unseen and the identity was mapped to
// a removed user.
func TestAutoMapWaitsForARemovalInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ann, _ := gitSetup(t)
	if _, err := db.IngestGitObservations(ctx, org.ID, []directory.GitObservation{obs("acme/api", sha1, "ann@example.com", "")}); err != nil {
		t.Fatal(err)
	}
	g, _ := db.FindGitIdentity(ctx, org.ID, "github", "ann@example.com", "")
	// A removal that has locked and changed ann's row but not committed.
	removal, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer removal.Rollback(ctx)
	if _, err := removal.Exec(ctx, `UPDATE users SET removed_at = now(), active = false WHERE org_id = $1 AND id = $2`, org.ID, ann.ID); err != nil {
		t.Fatal(err)
	}
	s, err := db.LockReconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.AutoMap(ctx, reconciler, org.ID, []postgres.AutoMapping{{IdentityID: g.ID, UserID: ann.ID, Reason: "test"}})
		done <- result{n, err}
	}()
	// AutoMap either waits for the removal (the fix) or has already mapped
	// (the race); committing the removal now tells the two apart.
	select {
	case r := <-done:
		t.Fatalf("AutoMap finished while a removal of its user was in flight: mapped %d, %v", r.n, r.err)
	case <-waitForLockWait(t, db):
	}
	if err := removal.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.n != 0 {
		t.Fatalf("mapped %d, %v; want none after the removal", r.n, r.err)
	}
}

// waitForLockWait is closed once some session of the database waits on a
// lock (polling pg_stat_activity, a state change rather than a sleep).
func waitForLockWait(t *testing.T, db *postgres.DB) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for range 2000 {
			var waiting bool
			if err := db.Pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting); err != nil || waiting {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return ch
}
