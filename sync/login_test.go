package sync_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	reconcile "github.com/scimbridge/scimbridge/sync"
)

func TestAutoMapByGitHubLogin(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// setup returns the identity to check.
		setup    func(e *env) directory.GitIdentity
		wantUser string // userName it ends mapped to; "" unmapped
		// wantReason is the start of the audited reason of the mapping.
		wantReason string
		// wantConflict: "kind: detail substring" of the open conflict about
		// the identity, if any.
		wantConflict string
	}{
		{"sibling of an identity mapped by hand is mapped by its login", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			return e.seenOn("github", "a.n@laptop-work.example", "ann-gh")
		}, "ann", "same GitHub login (ann-gh) as an identity mapped to ann", ""},
		{"logins compare case-insensitively", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.mappedSeen("ann@home.example", "Ann-GH", ann)
			return e.seenOn("github", "a.n@laptop-work.example", "ANN-gh")
		}, "ann", "same GitHub login (ann-gh)", ""},
		{"a noreply address carries its login", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			return e.seenOn("github", "12345+Ann-GH@users.noreply.github.com", "")
		}, "ann", "same GitHub login (ann-gh)", ""},
		{"a noreply address mapped by hand lends its login", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.mappedSeen("ann-gh@users.noreply.github.com", "", ann)
			return e.seenOn("github", "", "ann-gh")
		}, "ann", "same GitHub login (ann-gh)", ""},
		{"a machine-local address is mapped by its login, not by the address", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com", "ann@laptop.local")
			e.mappedSeen("ann@example.com", "ann-gh", ann)
			return e.seenOn("github", "ann@laptop.local", "ann-gh")
		}, "ann", "same GitHub login (ann-gh)", ""},
		{"login and email of the same user map by email", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			return e.seenOn("github", "ann@example.com", "ann-gh")
		}, "ann", "the only active user with this verified email", ""},
		{"login on identities of two users is a conflict", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			bob := e.user("bob", "bob@example.com")
			e.mappedSeen("ann@home.example", "shared-gh", ann)
			e.mappedSeen("bob@home.example", "shared-gh", bob)
			return e.seenOn("github", "someone@laptop-work.example", "shared-gh")
		}, "", "", "ambiguous-login: GitHub login shared-gh is on identities mapped to 2 users (ann, bob): map the identity by hand"},
		{"login of one user and email of another is a conflict", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.user("bob", "bob@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			return e.seenOn("github", "bob@example.com", "ann-gh")
		}, "", "", "ambiguous-login: GitHub login ann-gh is on an identity mapped to ann, but bob@example.com is a verified email of bob"},
		{"one login whose unmapped identities carry two users' emails is a conflict", func(e *env) directory.GitIdentity {
			e.user("ann", "ann@example.com")
			e.user("bob", "bob@example.com")
			e.seenOn("github", "bob@example.com", "shared-gh")
			return e.seenOn("github", "ann@example.com", "shared-gh")
		}, "", "", "ambiguous-login: GitHub login shared-gh is on identities whose emails are verified emails of 2 users (ann, bob)"},
		{"deactivated owner's login maps nothing", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			e.setActive(ann, false)
			return e.seenOn("github", "a.n@laptop-work.example", "ann-gh")
		}, "", "", ""},
		{"removed owner's login maps nothing", func(e *env) directory.GitIdentity {
			ann := e.member("ann", "ann@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			e.remove(ann)
			return e.seenOn("github", "a.n@laptop-work.example", "ann-gh")
		}, "", "", ""},
		{"the same login on GitLab is another account", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			return e.seenOn("gitlab", "a.n@laptop-work.example", "ann-gh")
		}, "", "", ""},
		{"a GitLab mapping lends no login to GitHub", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.mapTo(e.seenOn("gitlab", "ann@home.example", "ann-gh"), ann)
			return e.seenOn("github", "a.n@laptop-work.example", "ann-gh")
		}, "", "", ""},
		{"an identity an admin unmapped is not mapped again by login", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.mappedSeen("ann@home.example", "ann-gh", ann)
			g := e.seenOn("github", "a.n@laptop-work.example", "ann-gh")
			e.mapTo(g, ann)
			e.unmap(g)
			return g
		}, "", "", ""},
		{"a login nobody mapped maps nothing", func(e *env) directory.GitIdentity {
			e.user("ann", "ann@example.com")
			e.seenOn("github", "ann@home.example", "ann-gh")
			return e.seenOn("github", "a.n@laptop-work.example", "ann-gh")
		}, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			g := tc.setup(e)

			// The dry run writes nothing and plans what the run then does.
			before := e.digest(allTables...)
			dry := e.run(true)
			if e.digest(allTables...) != before {
				t.Fatal("a dry run changed the database")
			}
			planned := ""
			for _, m := range dry.Mappings {
				if m.IdentityID == g.ID {
					planned = m.User
					if !strings.HasPrefix(m.Reason, tc.wantReason) || !strings.Contains(summaryOf(dry), " "+m.Identity+" → "+m.User+" ("+m.Reason+")") {
						t.Errorf("dry run plans %+v, want reason %q\n%s", m, tc.wantReason, summaryOf(dry))
					}
				}
			}
			if planned != tc.wantUser {
				t.Fatalf("dry run plans %q, want %q\n%s", planned, tc.wantUser, summaryOf(dry))
			}

			res := e.run(false)
			after := e.identity(g.ID)
			got := ""
			if after.UserID != "" {
				u, err := e.db.Member(e.ctx, e.org.ID, after.UserID)
				if err != nil {
					t.Fatal(err)
				}
				got = u.UserName
			}
			if got != tc.wantUser {
				t.Fatalf("mapped to %q, want %q\n%s", got, tc.wantUser, summaryOf(res))
			}
			audits, err := e.db.AuditEvents(e.ctx, e.org.ID, "GitIdentity", g.ID)
			if err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, a := range audits {
				if a.Actor == reconcile.Actor.String() && a.Action == "git.map" {
					r, _ := a.After["reason"].(string)
					reasons = append(reasons, r)
				}
			}
			switch {
			case tc.wantUser == "" && len(reasons) > 0:
				t.Errorf("audited auto-mappings %q, want none", reasons)
			case tc.wantUser != "" && (len(reasons) != 1 || !strings.HasPrefix(reasons[0], tc.wantReason)):
				t.Errorf("audited reasons %q, want one starting %q", reasons, tc.wantReason)
			}
			if tc.wantUser != "" && after.MappedBy != reconcile.Actor.String() {
				t.Errorf("mapped by %q", after.MappedBy)
			}

			all, err := e.db.ReconcileConflicts(e.ctx, e.org.ID, postgres.ConflictQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var about []string
			for _, c := range all {
				if c.IdentityID == g.ID {
					about = append(about, c.Kind+": "+c.Detail)
				}
			}
			switch {
			case tc.wantConflict == "" && len(about) > 0:
				t.Errorf("conflicts %q, want none", about)
			case tc.wantConflict != "" && (len(about) != 1 || !strings.HasPrefix(about[0], tc.wantConflict)):
				t.Errorf("conflicts %q, want %q", about, tc.wantConflict)
			}

			// Converged: another run plans nothing.
			if j := job(e.run(false), reconcile.JobAutoMap); j.Planned != 0 {
				t.Errorf("the next run plans %d mappings", j.Planned)
			}
		})
	}
}

// A run is incremental: a hand mapping, a deactivation and a reactivation
// since the last run each decide the unmapped identities that share the
// login, although nothing else about those identities changed.
func TestLoginSiblingsFollowChangesOnIncrementalRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.user("ann", "ann@example.com")
	first := e.seenOn("github", "ann@home.example", "ann-gh")
	sibling := e.seenOn("github", "12345+ann-gh@users.noreply.github.com", "")
	if res := e.run(false); len(res.Mappings) != 0 {
		t.Fatalf("mapped with no mapped sibling\n%s", summaryOf(res))
	}

	e.mapTo(first, ann)
	res := e.run(false)
	if res.Since == nil || e.identity(sibling.ID).UserID != ann.ID {
		t.Fatalf("the sibling of a hand mapping was not mapped by the incremental run\n%s", summaryOf(res))
	}
	if j := job(res, reconcile.JobAutoMap); j.Changed != 1 || j.Counts["by-login"] != 1 {
		t.Fatalf("auto-map %+v", j)
	}

	// A new sibling while the owner is deactivated waits; the reactivation
	// maps it.
	e.setActive(ann, false)
	late := e.seenOn("github", "", "ann-gh")
	res = e.run(false)
	if e.identity(late.ID).UserID != "" || job(res, reconcile.JobAutoMap).Counts["login-owner-inactive"] != 1 {
		t.Fatalf("mapped to a deactivated owner\n%s", summaryOf(res))
	}
	e.setActive(ann, true)
	res = e.run(false)
	if res.Since == nil || e.identity(late.ID).UserID != ann.ID {
		t.Fatalf("the reactivation did not map the waiting sibling\n%s", summaryOf(res))
	}

	// A second owner of the login makes a new sibling a conflict, and
	// bob's mapping, which the login's other mappings contradict, another;
	// once bob's mapping is undone, both are resolved and the sibling maps.
	bob := e.user("bob", "bob@example.com")
	bobs := e.seenOn("github", "bob@work.example", "ann-gh")
	e.mapTo(bobs, bob)
	third := e.seenOn("github", "ann@third.example", "ann-gh")
	res = e.run(false)
	want := []string{
		"ambiguous-login github ann@third.example (ann-gh): GitHub login ann-gh is on identities mapped to 2 users (ann, bob): map the identity by hand",
		"ambiguous-login github bob@work.example (ann-gh): mapped to bob, but GitHub login ann-gh is mapped to ann on other identities: remap or unmap one of them",
	}
	if got := e.openConflicts(); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Fatalf("conflicts %q, want %q\n%s", got, want, summaryOf(res))
	}
	e.unmap(bobs)
	res = e.run(false)
	if res.Since == nil || e.identity(third.ID).UserID != ann.ID || len(e.openConflicts()) != 0 || len(res.Resolved) != 2 {
		t.Fatalf("after bob's mapping went: identity %+v, conflicts %q\n%s", e.identity(third.ID), e.openConflicts(), summaryOf(res))
	}
	if e.identity(bobs.ID).UserID != "" {
		t.Fatal("an identity unmapped by hand was mapped again by login")
	}
}
