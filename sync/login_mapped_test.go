package sync_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	reconcile "github.com/scimbridge/scimbridge/sync"
)

// loginConflicts renders the ambiguous-login conflicts as openConflicts
// does, sorted: other kinds (a removed user's mapped-to-removed) have
// tests of their own.
func loginConflicts(list []reconcile.Conflict) []string {
	var out []string
	for _, c := range list {
		if c.Kind == postgres.ConflictAmbiguousLogin {
			out = append(out, c.Kind+" "+c.Identity+": "+c.Detail)
		}
	}
	slices.Sort(out)
	return out
}

func (e *env) openLoginConflicts() []string {
	e.t.Helper()
	var out []string
	for _, c := range e.openConflicts() {
		if strings.HasPrefix(c, postgres.ConflictAmbiguousLogin+" ") {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// mappings fingerprints who the identities mapped to current users
// belong to; released mappings of removed users drop out.
func (e *env) mappings() string {
	e.t.Helper()
	var s string
	if err := e.db.Pool.QueryRow(e.ctx, `SELECT coalesce(string_agg(i.id::text || ':' || i.user_id::text, ',' ORDER BY i.id), '')
		FROM git_identities i JOIN users u ON u.org_id = i.org_id AND u.id = i.user_id
		WHERE i.org_id = $1 AND u.removed_at IS NULL`, e.org.ID).Scan(&s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// mappedSeen records an identity and maps it by hand.
func (e *env) mappedSeen(email, login string, u directory.User) directory.GitIdentity {
	e.t.Helper()
	g := e.seenOn("github", email, login)
	e.mapTo(g, u)
	return g
}

func (e *env) unmap(g directory.GitIdentity) {
	e.t.Helper()
	if err := e.db.UnmapGitIdentity(e.ctx, tester, e.org.ID, g.ID); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) remove(u directory.User) {
	e.t.Helper()
	if _, err := e.db.RemoveMember(e.ctx, tester, e.org.ID, u.ID); err != nil {
		e.t.Fatal(err)
	}
}

// runSharp runs as run does, with the watermark's overlap cut to a
// millisecond: an incremental run then reads only what changed since the
// previous run, not also what the test set up just before it.
func (e *env) runSharp(dry bool) reconcile.OrgSummary {
	e.t.Helper()
	sum, err := e.reconciler(reconcile.Config{Overlap: time.Millisecond}).RunOnce(e.ctx, e.org.Slug, dry)
	if err != nil || len(sum.Orgs) != 1 {
		e.t.Fatalf("run: %v\n%s", err, sum)
	}
	return sum.Orgs[0]
}

// byName finds a user created by the case's setup.
func (e *env) byName(name string) directory.User {
	e.t.Helper()
	var id string
	if err := e.db.Pool.QueryRow(e.ctx, `SELECT id FROM users WHERE org_id = $1 AND user_name = $2`, e.org.ID, name).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	u, err := e.db.Member(e.ctx, e.org.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// byEmail finds an identity created by the case's setup.
func (e *env) byEmail(email string) directory.GitIdentity {
	e.t.Helper()
	var id string
	if err := e.db.Pool.QueryRow(e.ctx, `SELECT id FROM git_identities WHERE org_id = $1 AND email = $2`, e.org.ID, email).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return e.identity(id)
}

// A mapped GitHub identity whose login the organization's other mappings
// give to other users only is reported, never remapped, and the report is
// resolved once it no longer holds; incremental runs see either side's
// change.
func TestMappingContradictedByItsGitHubLogin(t *testing.T) {
	t.Parallel()
	const annContradicted = "ambiguous-login github ann@home.example (ann-gh): mapped to ann, but GitHub login ann-gh is mapped to bob on other identities: remap or unmap one of them"
	// annAndTwoOfBobs maps one identity with the login to ann and two to
	// bob: a SCIM user (it can be deactivated) or a member (it can be
	// removed).
	annAndTwoOfBobs := func(member bool) func(e *env) {
		return func(e *env) {
			ann := e.user("ann", "ann@example.com")
			bob := e.user
			if member {
				bob = e.member
			}
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			b := bob("bob", "bob@example.com")
			e.mappedSeen("bob@home.example", "ann-gh", b)
			e.mappedSeen("bob@laptop.example", "ann-gh", b)
		}
	}
	scimBob, memberBob := annAndTwoOfBobs(false), annAndTwoOfBobs(true)
	cases := []struct {
		name  string
		setup func(e *env)
		// change, if any, follows a first run: the run checked is then
		// incremental.
		change       func(e *env)
		want         []string // open ambiguous-login conflicts after the run
		wantResolved int
	}{
		{"the login's other mappings are all another user's", scimBob, nil, []string{annContradicted}, 0},
		{"logins compare case-insensitively", func(e *env) {
			ann := e.user("ann", "ann@example.com")
			bob := e.user("bob", "bob@example.com")
			e.mappedSeen("ann@home.example", "Ann-GH", ann)
			e.mappedSeen("bob@home.example", "ann-gh", bob)
			e.mappedSeen("12345+ANN-gh@users.noreply.github.com", "", bob)
		}, nil, []string{"ambiguous-login github ann@home.example (ann-gh): mapped to ann, but GitHub login ann-gh is mapped to bob on other identities: remap or unmap one of them"}, 0},
		{"all identities of the login are one user's", func(e *env) {
			ann := e.user("ann", "ann@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			e.mappedSeen("ann@laptop.example", "ann-gh", ann)
			e.mappedSeen("ann@desktop.example", "ann-gh", ann)
		}, nil, nil, 0},
		{"the same login on GitLab is another account", func(e *env) {
			ann := e.user("ann", "ann@example.com")
			bob := e.user("bob", "bob@example.com")
			g := e.seenOn("gitlab", "ann@home.example", "ann-gh")
			e.mapTo(g, ann)
			e.mappedSeen("bob@home.example", "ann-gh", bob)
		}, nil, nil, 0},
		{"one identity each: both mappings are reported", func(e *env) {
			ann := e.user("ann", "ann@example.com")
			bob := e.user("bob", "bob@example.com")
			e.mappedSeen("ann@home.example", "shared-gh", ann)
			e.mappedSeen("bob@home.example", "shared-gh", bob)
		}, nil, []string{
			"ambiguous-login github ann@home.example (shared-gh): mapped to ann, but GitHub login shared-gh is mapped to bob on other identities: remap or unmap one of them",
			"ambiguous-login github bob@home.example (shared-gh): mapped to bob, but GitHub login shared-gh is mapped to ann on other identities: remap or unmap one of them",
		}, 0},
		{"other identities of two other users name both", func(e *env) {
			ann := e.user("ann", "ann@example.com")
			bob := e.user("bob", "bob@example.com")
			cat := e.user("cat", "cat@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			e.mappedSeen("bob@home.example", "ann-gh", bob)
			e.mappedSeen("bob@laptop.example", "ann-gh", bob)
			e.mappedSeen("cat@home.example", "ann-gh", cat)
			e.mappedSeen("cat@laptop.example", "ann-gh", cat)
		}, nil, []string{"ambiguous-login github ann@home.example (ann-gh): mapped to ann, but GitHub login ann-gh is mapped to bob, cat on other identities: remap or unmap one of them"}, 0},
		// Each mapping is backed by another of its own user's: the login is
		// split, which its unmapped identities report, but no mapping is
		// the odd one out.
		{"two users holding two identities each: no mapping is singled out", func(e *env) {
			ann := e.user("ann", "ann@example.com")
			bob := e.user("bob", "bob@example.com")
			e.mappedSeen("ann@home.example", "shared-gh", ann)
			e.mappedSeen("ann@laptop.example", "shared-gh", ann)
			e.mappedSeen("bob@home.example", "shared-gh", bob)
			e.mappedSeen("bob@laptop.example", "shared-gh", bob)
		}, nil, nil, 0},
		// A deactivated user keeps its mappings (and comes back with them):
		// it still owns the login.
		{"a deactivated other owner still owns the login", func(e *env) {
			scimBob(e)
			e.setActive(e.byName("bob"), false)
		}, nil, []string{annContradicted}, 0},
		{"a deactivated owner of the mapping is still reported", func(e *env) {
			scimBob(e)
			e.setActive(e.byName("ann"), false)
		}, nil, []string{annContradicted}, 0},
		// A removed user's mappings are released, by RemoveMember or by
		// this very run: they give the login to no one.
		{"a removed other owner's mappings are released: no conflict", func(e *env) {
			memberBob(e)
			e.remove(e.byName("bob"))
		}, nil, nil, 0},
		{"a removed owner whose mappings escaped the release counts for nothing", func(e *env) {
			memberBob(e)
			e.exec(`UPDATE users SET removed_at = now() WHERE org_id = $1 AND user_name = 'bob'`, e.org.ID)
		}, nil, nil, 0},

		// Incremental runs.
		{"found when the other side is mapped after the first run", func(e *env) {
			e.user("ann", "ann@example.com")
			e.member("bob", "bob@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", e.byName("ann"))
		}, func(e *env) {
			bob := e.byName("bob")
			e.mappedSeen("bob@home.example", "ann-gh", bob)
			e.mappedSeen("bob@laptop.example", "ann-gh", bob)
		}, []string{annContradicted}, 0},
		{"found when this side is mapped after the first run", func(e *env) {
			e.user("ann", "ann@example.com")
			bob := e.member("bob", "bob@example.com")
			e.mappedSeen("bob@home.example", "ann-gh", bob)
			e.mappedSeen("bob@laptop.example", "ann-gh", bob)
		}, func(e *env) {
			e.mappedSeen("ann@home.example", "ann-gh", e.byName("ann"))
		}, []string{annContradicted}, 0},
		{"resolved when the mapping is remapped", memberBob, func(e *env) {
			g := e.byEmail("ann@home.example")
			e.unmap(g)
			e.mapTo(g, e.byName("bob"))
		}, nil, 1},
		{"resolved when the other side is unmapped", memberBob, func(e *env) {
			e.unmap(e.byEmail("bob@home.example"))
			e.unmap(e.byEmail("bob@laptop.example"))
		}, nil, 1},
		{"resolved when this side's user also holds another identity", memberBob, func(e *env) {
			e.mappedSeen("ann@laptop.example", "ann-gh", e.byName("ann"))
		}, nil, 1},
		{"kept when the other owner is deactivated", scimBob, func(e *env) {
			e.setActive(e.byName("bob"), false)
		}, []string{annContradicted}, 0},
		{"resolved when the other owner is removed", memberBob, func(e *env) {
			e.remove(e.byName("bob"))
		}, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			tc.setup(e)
			if tc.change != nil {
				e.runSharp(false)
				tc.change(e)
			}
			mapped := e.mappings()

			// The dry run writes nothing and reports what the run then does.
			before := e.digest(allTables...)
			dry := e.runSharp(true)
			if e.digest(allTables...) != before {
				t.Fatal("a dry run changed the database")
			}
			if got := loginConflicts(dry.Conflicts); !slices.Equal(got, tc.want) {
				t.Fatalf("dry run reports %q, want %q\n%s", got, tc.want, summaryOf(dry))
			}
			if got := loginConflicts(dry.Resolved); len(got) != tc.wantResolved {
				t.Fatalf("dry run resolves %q, want %d\n%s", got, tc.wantResolved, summaryOf(dry))
			}

			res := e.runSharp(false)
			if tc.change != nil && res.Since == nil {
				t.Fatal("the run after the change was full, want incremental")
			}
			if got := e.openLoginConflicts(); !slices.Equal(got, tc.want) {
				t.Fatalf("conflicts %q, want %q\n%s", got, tc.want, summaryOf(res))
			}
			if got := loginConflicts(res.Resolved); len(got) != tc.wantResolved {
				t.Fatalf("resolved %q, want %d\n%s", got, tc.wantResolved, summaryOf(res))
			}
			if e.mappings() != mapped {
				t.Fatal("the run changed a mapping; it must only report a contradicted one")
			}

			// Converged: another run neither writes nor resolves a conflict.
			before = e.digest("reconcile_conflicts")
			if j := job(e.runSharp(false), reconcile.JobConflicts); j.Planned != 0 {
				t.Errorf("the next run plans %d conflict writes", j.Planned)
			}
			if e.digest("reconcile_conflicts") != before {
				t.Error("the next run rewrote conflicts")
			}
		})
	}
}
