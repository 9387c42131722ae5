package sync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	reconcile "github.com/scimbridge/scimbridge/sync"
)

func TestAutoMap(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// setup returns the identity to check.
		setup        func(e *env) directory.GitIdentity
		wantUser     string // userName it ends mapped to; "" unmapped
		wantConflict string // kind of the open conflict about it, if any
	}{
		{"unique email is mapped", func(e *env) directory.GitIdentity {
			e.user("ann", "ann@example.com")
			e.user("bob", "bob@example.com")
			return e.seen("Ann@Example.com")
		}, "ann", ""},
		{"email of two users is a conflict, not a mapping", func(e *env) directory.GitIdentity {
			e.user("ann", "team@example.com")
			e.user("bob", "bob@example.com", "team@example.com")
			return e.seen("team@example.com")
		}, "", postgres.ConflictAmbiguousEmail},
		{"email of an active and a deactivated user goes to the active one", func(e *env) directory.GitIdentity {
			e.user("ann", "team@example.com")
			bob := e.user("bob", "team@example.com")
			e.setActive(bob, false)
			return e.seen("team@example.com")
		}, "ann", ""},
		{"noreply address is never matched by email", func(e *env) directory.GitIdentity {
			e.user("ann", "123+ann@users.noreply.github.com")
			return e.seen("123+ann@users.noreply.github.com")
		}, "", ""},
		{"localhost address is never matched", func(e *env) directory.GitIdentity {
			e.user("root", "root@localhost")
			return e.seen("root@localhost")
		}, "", ""},
		{"machine-local host is never matched", func(e *env) directory.GitIdentity {
			e.user("ann", "ann@laptop.local")
			return e.seen("ann@laptop.local")
		}, "", ""},
		{"robot local part is never matched", func(e *env) directory.GitIdentity {
			e.user("ci", "noreply@example.com")
			return e.seen("noreply@example.com")
		}, "", ""},
		{"identity already mapped is untouched", func(e *env) directory.GitIdentity {
			e.user("ann", "ann@example.com")
			bob := e.user("bob", "bob@example.com")
			g := e.seen("bob@example.com")
			e.mapTo(g, bob)
			return g
		}, "bob", ""},
		{"deactivated user's email is not auto-mapped", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			e.setActive(ann, false)
			return e.seen("ann@example.com")
		}, "", ""},
		{"removed user's email is not auto-mapped", func(e *env) directory.GitIdentity {
			ann := e.member("ann", "ann@example.com")
			e.remove(ann)
			return e.seen("ann@example.com")
		}, "", ""},
		{"identity an admin unmapped is not mapped again", func(e *env) directory.GitIdentity {
			ann := e.user("ann", "ann@example.com")
			g := e.seen("ann@example.com")
			e.mapTo(g, ann)
			e.unmap(g)
			return g
		}, "", ""},
		{"unknown email stays unmapped", func(e *env) directory.GitIdentity {
			e.user("ann", "ann@example.com")
			return e.seen("stranger@example.org")
		}, "", ""},
		{"user of another organization is never a match", func(e *env) directory.GitIdentity {
			other := e.newOrg("other")
			e.userIn(other, "ann", "ann@example.com")
			return e.seen("ann@example.com")
		}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			g := tc.setup(e)
			before := e.identity(g.ID)
			res := e.run(false)
			after := e.identity(g.ID)
			var got string
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
			mappedByUs := after.MappedBy == reconcile.Actor.String()
			if mappedByUs != (before.UserID == "" && tc.wantUser != "") {
				t.Errorf("mapped_by %q (was %q)", after.MappedBy, before.MappedBy)
			}
			if before.UserID != "" && (after.MappedBy != before.MappedBy || !after.MappedAt.Equal(*before.MappedAt)) {
				t.Errorf("an existing mapping was rewritten: %+v → %+v", before, after)
			}
			audits, err := e.db.AuditEvents(e.ctx, e.org.ID, "GitIdentity", g.ID)
			if err != nil {
				t.Fatal(err)
			}
			var auto int
			for _, a := range audits {
				if a.Actor == reconcile.Actor.String() && a.Action == "git.map" {
					auto++
				}
			}
			if want := map[bool]int{true: 1}[mappedByUs]; auto != want {
				t.Errorf("%d audit events by the reconciler, want %d", auto, want)
			}
			conflicts := e.openConflicts()
			switch {
			case tc.wantConflict == "" && len(conflicts) > 0:
				t.Errorf("conflicts %q, want none", conflicts)
			case tc.wantConflict != "" && (len(conflicts) != 1 || !strings.HasPrefix(conflicts[0], tc.wantConflict+" ")):
				t.Errorf("conflicts %q, want one %s", conflicts, tc.wantConflict)
			}
		})
	}
}

func summaryOf(s reconcile.OrgSummary) string {
	return reconcile.Summary{Orgs: []reconcile.OrgSummary{s}}.String()
}

func TestAmbiguousConflictNamesTheUsersAndResolvesWhenOneLeaves(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user("ann", "team@example.com")
	bob := e.user("bob", "team@example.com")
	g := e.seen("team@example.com")
	e.run(false)
	want := []string{"ambiguous-email github team@example.com: team@example.com is a verified email of 2 active users (ann, bob): map the identity by hand"}
	if got := e.openConflicts(); !slices.Equal(got, want) {
		t.Fatalf("conflicts %q, want %q", got, want)
	}
	// Bob's address changes at the IdP: the email is Ann's alone now, the
	// conflict is resolved and the identity mapped, in one incremental run.
	e.setEmails(bob, "bob@example.com")
	res := e.run(false)
	if res.Since == nil {
		t.Error("second run was full, want incremental")
	}
	if got := e.openConflicts(); len(got) != 0 {
		t.Fatalf("conflicts %q after the change", got)
	}
	if len(res.Resolved) != 1 || e.identity(g.ID).UserID == "" {
		t.Fatalf("resolved %+v, identity %+v", res.Resolved, e.identity(g.ID))
	}
}

func TestContradictionIsReportedAndResolvedWhenEmailsChangeBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.user("ann", "ann@example.com")
	bob := e.user("bob", "bob@example.com")
	g := e.seen("ann@example.com")
	e.run(false)
	if e.identity(g.ID).UserID != ann.ID {
		t.Fatal("not auto-mapped to ann")
	}
	// The IdP gives ann@ to Bob and Ann a new address.
	e.setEmails(ann, "ann.new@example.com")
	e.setEmails(bob, "bob@example.com", "ann@example.com")
	res := e.run(false)
	want := []string{"contradicts-email github ann@example.com: mapped to ann, but ann@example.com is now an email of bob and no longer of ann: remap or unmap the identity"}
	if got := e.openConflicts(); !slices.Equal(got, want) {
		t.Fatalf("conflicts %q, want %q\n%s", got, want, summaryOf(res))
	}
	if e.identity(g.ID).UserID != ann.ID {
		t.Fatal("the reconciler remapped a contradicted identity; it must only report it")
	}
	if j := job(res, reconcile.JobConflicts); j.Changed != 1 || j.Conflicts != 1 || j.Counts["new"] != 1 {
		t.Fatalf("conflicts job %+v", j)
	}
	// A run with nothing new keeps the conflict as it is.
	before := e.digest("reconcile_conflicts")
	e.run(false)
	if e.digest("reconcile_conflicts") != before {
		t.Fatal("an unchanged conflict was rewritten")
	}
	// The emails change back: resolved.
	e.setEmails(bob, "bob@example.com")
	e.setEmails(ann, "ann@example.com")
	res = e.run(false)
	if got := e.openConflicts(); len(got) != 0 {
		t.Fatalf("conflicts %q after the emails changed back", got)
	}
	all, err := e.db.ReconcileConflicts(e.ctx, e.org.ID, postgres.ConflictQuery{Resolved: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ResolvedAt == nil || len(res.Resolved) != 1 {
		t.Fatalf("conflicts %+v, resolved in run %+v", all, res.Resolved)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		setup         func(e *env, u directory.User)
		wantMapped    bool
		wantSuspended int
		wantReleased  int
	}{
		{"deactivated user keeps its mappings, suspended", func(e *env, u directory.User) { e.setActive(u, false) }, true, 1, 0},
		{"reactivated user has them back", func(e *env, u directory.User) { e.setActive(u, false); e.setActive(u, true) }, true, 0, 0},
		{"removal released them already", func(e *env, u directory.User) {
			e.remove(u)
		}, false, 0, 0},
		{"a mapping to a removed user that escaped removal is released", func(e *env, u directory.User) {
			e.exec(`UPDATE users SET removed_at = now(), active = false, updated_at = now() WHERE org_id = $1 AND id = $2`, e.org.ID, u.ID)
		}, false, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var u directory.User
			if strings.Contains(tc.name, "remov") {
				u = e.member("ann", "ann@example.com")
			} else {
				u = e.user("ann", "ann@example.com")
			}
			g := e.seen("ann@example.com")
			e.run(false)
			tc.setup(e, u)
			res := e.run(false)
			j := job(res, reconcile.JobLifecycle)
			if (e.identity(g.ID).UserID == u.ID) != tc.wantMapped || j.Counts["suspended"] != tc.wantSuspended || j.Changed != tc.wantReleased {
				t.Fatalf("identity %+v, lifecycle %+v", e.identity(g.ID), j)
			}
			if tc.wantMapped {
				a, err := e.db.ResolveGit(e.ctx, e.org.ID, "github", "ann@example.com", "")
				if err != nil || a.User.ID != u.ID {
					t.Fatalf("resolve: %+v %v", a.User, err)
				}
			}
			if tc.wantReleased > 0 {
				// Reported, then resolved by the release, in the same run.
				all, _ := e.db.ReconcileConflicts(e.ctx, e.org.ID, postgres.ConflictQuery{Resolved: true})
				if len(all) != 1 || all[0].Kind != postgres.ConflictMappedToRemoved || all[0].ResolvedAt == nil {
					t.Fatalf("conflicts %+v", all)
				}
				n := e.count(`SELECT count(*) FROM audit_events WHERE org_id = $1 AND action = 'git.unmap' AND actor = $2 AND resource_id = $3`,
					e.org.ID, reconcile.Actor.String(), g.ID)
				if n != 1 {
					t.Fatalf("%d unmap audit events", n)
				}
				// And the released identity is not auto-mapped back.
				if again := e.run(false); e.identity(g.ID).UserID != "" || job(again, reconcile.JobAutoMap).Changed != 0 {
					t.Fatal("released identity mapped again")
				}
			}
		})
	}
}

func TestPruneUnmappedIdentitiesNotSeenWithinRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.user("ann", "ann@example.com")
	old := e.seen("old@example.org")
	e.age(old, 400, 400)
	oldMapped := e.seen("ann@example.com")
	e.mapTo(oldMapped, ann)
	e.age(oldMapped, 400, 400)
	// Old commits ingested today: seen today, kept.
	imported := e.seen("history@example.org")
	e.age(imported, 400, 0)
	recent := e.seen("recent@example.org")
	e.age(recent, 10, 10)

	dry := e.run(true)
	if j := job(dry, reconcile.JobExpiry); j.Planned != 1 || j.Counts["pruned-identities"] != 1 {
		t.Fatalf("dry expiry %+v", j)
	}
	res := e.run(false)
	if j := job(res, reconcile.JobExpiry); j.Changed != 1 {
		t.Fatalf("expiry %+v", j)
	}
	if _, err := e.db.GitIdentity(e.ctx, e.org.ID, old.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("old unmapped identity: %v", err)
	}
	for _, g := range []directory.GitIdentity{oldMapped, imported, recent} {
		e.identity(g.ID)
	}
	if n := e.count(`SELECT count(*) FROM git_commits WHERE org_id = $1 AND identity_id = $2`, e.org.ID, old.ID); n != 0 {
		t.Fatalf("%d commits of the pruned identity remain", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE org_id = $1 AND action = 'git.prune' AND resource_id = $2`, e.org.ID, old.ID); n != 1 {
		t.Fatalf("%d prune audit events", n)
	}
	// A shorter retention prunes the recent one too, never the mapped one.
	sum, err := e.reconciler(reconcile.Config{RetentionDays: 5}).RunOnce(e.ctx, e.org.Slug, false)
	if err != nil {
		t.Fatal(err)
	}
	if j := job(sum.Orgs[0], reconcile.JobExpiry); j.Changed != 1 {
		t.Fatalf("expiry %+v", j)
	}
	e.identity(oldMapped.ID)
}

func TestExpiryCountsAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ann := e.member("ann", "ann@example.com")
	if _, err := e.db.CreateInvitation(e.ctx, tester, e.org.ID, "new@example.com", false, nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.CreateAPIToken(e.ctx, tester, e.org.ID, ann.ID, "ci", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.db.CreateSCIMToken(e.ctx, e.org.ID, "okta", time.Hour); err != nil {
		t.Fatal(err)
	}
	before := e.digest("invitations", "api_tokens", "scim_tokens")
	r := e.reconciler(reconcile.Config{Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	sum, err := r.RunOnce(e.ctx, e.org.Slug, false)
	if err != nil {
		t.Fatal(err)
	}
	j := job(sum.Orgs[0], reconcile.JobExpiry)
	if j.Counts["expired-invitations"] != 1 || j.Counts["expired-api-tokens"] != 1 || j.Counts["expired-scim-tokens"] != 1 || j.Changed != 0 {
		t.Fatalf("expiry %+v", j)
	}
	if e.digest("invitations", "api_tokens", "scim_tokens") != before {
		t.Fatal("expiry wrote to invitations or tokens")
	}
}

func TestExpiryPrunesLoginSessionsEndedOverADayAgo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.newOrg("other")
	ann := e.member("ann", "ann@example.com")
	cases := []struct {
		name string
		org  directory.Organization
		// expires and revoked are offsets from now ("" for none), as
		// PostgreSQL intervals.
		expires, revoked string
		kept             bool
	}{
		{"live session", e.org, "1 hour", "", true},
		{"expired an hour ago", e.org, "-1 hour", "", true},
		{"revoked an hour ago", e.org, "1 hour", "-1 hour", true},
		{"expired two days ago", e.org, "-2 days", "", false},
		{"revoked two days ago, expiring later", e.org, "1 hour", "-2 days", false},
		{"revoked two days ago, expired since", e.org, "-1 hour", "-2 days", false},
		{"another organization's, expired two days ago", other, "-2 days", "", true},
	}
	hashes := make([][]byte, len(cases))
	for i, c := range cases {
		owner := ann
		if c.org.ID != e.org.ID {
			owner = e.userIn(other, fmt.Sprintf("user%d", i), "")
		}
		id, err := e.db.CreateSession(e.ctx, c.org.ID, owner.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		hashes[i] = directory.HashSecret(id)
		e.exec(`UPDATE sessions SET expires_at = now() + $3::interval,
				revoked_at = CASE WHEN $4 = '' THEN NULL ELSE now() + $4::interval END,
				created_at = now() - interval '3 days', last_seen_at = now() - interval '3 days'
			WHERE org_id = $1 AND id_hash = $2`, c.org.ID, hashes[i], c.expires, c.revoked)
	}
	want := 0
	for _, c := range cases {
		if !c.kept {
			want++
		}
	}

	before := e.digest("sessions")
	dry := job(e.run(true), reconcile.JobExpiry)
	if dry.Counts["pruned-sessions"] != want || dry.Planned != want || dry.Changed != 0 {
		t.Fatalf("dry expiry %+v, want %d sessions planned", dry, want)
	}
	if e.digest("sessions") != before {
		t.Fatal("a dry run deleted sessions")
	}
	j := job(e.run(false), reconcile.JobExpiry)
	if j.Counts["pruned-sessions"] != want || j.Changed != want {
		t.Fatalf("expiry %+v, want %d sessions pruned", j, want)
	}
	for i, c := range cases {
		n := e.count(`SELECT count(*) FROM sessions WHERE org_id = $1 AND id_hash = $2`, c.org.ID, hashes[i])
		if (n == 1) != c.kept {
			t.Errorf("%s: %d rows left, kept %v", c.name, n, c.kept)
		}
	}
	// Nothing left to prune: the next run counts none and deletes none.
	before = e.digest("sessions")
	if j := job(e.run(false), reconcile.JobExpiry); j.Counts["pruned-sessions"] != 0 || j.Changed != 0 {
		t.Fatalf("second expiry %+v", j)
	}
	if e.digest("sessions") != before {
		t.Fatal("a run with no ended sessions wrote to sessions")
	}
}

// A webhook delivery's record is kept for a week, so that a copy is
// ignored for that long; then the expiry job deletes it.
func TestExpiryPrunesWebhookDeliveriesAfterAWeek(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.newOrg("other")
	cases := []struct {
		name     string
		org      directory.Organization
		received string // a PostgreSQL interval from now
		kept     bool
	}{
		{"received an hour ago", e.org, "-1 hour", true},
		{"received six days ago", e.org, "-6 days", true},
		{"received eight days ago", e.org, "-8 days", false},
		{"another organization's, received eight days ago", other, "-8 days", true},
	}
	for i, c := range cases {
		d := postgres.WebhookDelivery{Provider: directory.GitProviderGitHub, ID: fmt.Sprintf("delivery-%d", i), Body: []byte(c.name)}
		if _, dup, err := e.db.IngestWebhookDelivery(e.ctx, c.org.ID, d, nil); err != nil || dup {
			t.Fatalf("%s: duplicate %v, %v", c.name, dup, err)
		}
		e.exec(`UPDATE webhook_deliveries SET received_at = now() + $3::interval WHERE org_id = $1 AND delivery_id = $2`,
			c.org.ID, d.ID, c.received)
	}
	dry := job(e.run(true), reconcile.JobExpiry)
	if dry.Counts["pruned-deliveries"] != 1 || dry.Planned != 1 || dry.Changed != 0 {
		t.Fatalf("dry expiry %+v, want 1 delivery planned", dry)
	}
	j := job(e.run(false), reconcile.JobExpiry)
	if j.Counts["pruned-deliveries"] != 1 || j.Changed != 1 {
		t.Fatalf("expiry %+v, want 1 delivery pruned", j)
	}
	for i, c := range cases {
		n := e.count(`SELECT count(*) FROM webhook_deliveries WHERE org_id = $1 AND delivery_id = $2`, c.org.ID, fmt.Sprintf("delivery-%d", i))
		if (n == 1) != c.kept {
			t.Errorf("%s: %d rows left, kept %v", c.name, n, c.kept)
		}
	}
	if j := job(e.run(false), reconcile.JobExpiry); j.Counts["pruned-deliveries"] != 0 || j.Changed != 0 {
		t.Fatalf("second expiry %+v", j)
	}
}

// setupEverything prepares one change of each job: an identity to map,
// an ambiguous email, a mapping to a removed user, and an identity to prune.
func setupEverything(e *env) (toMap, ambiguous, removed, stale directory.GitIdentity) {
	e.user("ann", "ann@example.com")
	e.user("bob", "team@example.com")
	e.user("cid", "team@example.com")
	dan := e.member("dan", "dan@example.com")
	toMap = e.seen("ann@example.com")
	ambiguous = e.seen("team@example.com")
	removed = e.seen("dan@example.com")
	e.mapTo(removed, dan)
	e.exec(`UPDATE users SET removed_at = now(), active = false, updated_at = now() WHERE org_id = $1 AND id = $2`, e.org.ID, dan.ID)
	stale = e.seen("gone@example.org")
	e.age(stale, 365, 365)
	return
}

var allTables = []string{"users", "git_identities", "git_commits", "git_identity_repos", "reconcile_conflicts", "reconcile_runs", "audit_events"}

func TestDryRunChangesNothingYetReportsThePlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	toMap, _, _, _ := setupEverything(e)
	before := e.digest(allTables...)
	sum, err := e.reconciler(reconcile.Config{}).RunOnce(e.ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if after := e.digest(allTables...); after != before {
		t.Fatalf("a dry run changed the database\nbefore %s\nafter  %s", before, after)
	}
	res := sum.Orgs[0]
	planned := map[string]int{}
	for _, j := range res.Jobs {
		planned[j.Job] = j.Planned
		if j.Changed != 0 {
			t.Errorf("dry %s changed %d", j.Job, j.Changed)
		}
	}
	want := map[string]int{reconcile.JobAutoMap: 1, reconcile.JobConflicts: 2, reconcile.JobLifecycle: 1, reconcile.JobServiceAccounts: 0, reconcile.JobExpiry: 1}
	if !equalMaps(planned, want) {
		t.Fatalf("planned %v, want %v\n%s", planned, want, sum)
	}
	if res.RunID != "" || len(res.Mappings) != 1 || res.Mappings[0].IdentityID != toMap.ID || res.Mappings[0].User != "ann" {
		t.Fatalf("plan %+v", res)
	}
	out := sum.String()
	for _, s := range []string{"dry run", "would map github ann@example.com → ann", "conflict (new) ambiguous-email github team@example.com",
		"(bob, cid)", "conflict (new) mapped-to-removed github dan@example.com: mapped to dan, who was removed", "service-accounts  skipped: no service accounts file"} {
		if !strings.Contains(out, s) {
			t.Errorf("summary lacks %q:\n%s", s, out)
		}
	}
	// The real run does what the dry run said.
	sum, err = e.reconciler(reconcile.Config{}).RunOnce(e.ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range sum.Orgs[0].Jobs {
		if j.Changed != want[j.Job] {
			t.Errorf("%s changed %d, dry run planned %d", j.Job, j.Changed, want[j.Job])
		}
	}
}

func equalMaps(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestIncrementalRunWithNothingChangedWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	toMap, ambiguous, _, _ := setupEverything(e)
	first := e.run(false)
	if first.Since != nil {
		t.Fatal("first run was incremental")
	}
	before := e.digest("users", "git_identities", "git_commits", "reconcile_conflicts", "audit_events")
	runs := e.count(`SELECT count(*) FROM reconcile_runs`)
	second := e.run(false)
	if second.Since == nil {
		t.Fatal("second run was full")
	}
	if after := e.digest("users", "git_identities", "git_commits", "reconcile_conflicts", "audit_events"); after != before {
		t.Fatalf("a run with nothing to do wrote\n%s", summaryOf(second))
	}
	if n := e.count(`SELECT count(*) FROM reconcile_runs`); n != runs+1 {
		t.Fatalf("%d runs recorded, want %d", n, runs+1)
	}
	for _, j := range second.Jobs {
		if j.Planned != 0 || j.Changed != 0 {
			t.Errorf("%s: %+v", j.Job, j)
		}
	}
	if len(second.Conflicts) != 1 || second.Conflicts[0].IdentityID != ambiguous.ID || second.Conflicts[0].New {
		t.Fatalf("conflicts %+v", second.Conflicts)
	}
	// A change is picked up by the next incremental run: a new user takes
	// an unknown address that an identity has.
	g := e.seen("eve@example.com")
	e.run(false)
	if e.identity(g.ID).UserID != "" {
		t.Fatal("mapped before anyone has the email")
	}
	eve := e.user("eve", "eve@example.com")
	third := e.run(false)
	if third.Since == nil || e.identity(g.ID).UserID != eve.ID || e.identity(toMap.ID).UserID == "" {
		t.Fatalf("incremental run missed a change\n%s", summaryOf(third))
	}
	runs2, err := e.db.ReconcileRuns(e.ctx, e.org.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs2) != 4 || runs2[0].Outcome != postgres.RunOK || runs2[0].Since == nil || runs2[len(runs2)-1].Since != nil {
		t.Fatalf("runs %d, newest %+v", len(runs2), runs2[0])
	}
	var counts map[string]reconcile.JobSummary
	if err := json.Unmarshal(runs2[0].Counts, &counts); err != nil {
		t.Fatal(err)
	}
	if j := counts[reconcile.JobAutoMap]; j.Planned != 1 || j.Changed != 1 || len(counts) != 5 {
		t.Fatalf("recorded counts %s", runs2[0].Counts)
	}
}

func TestFullSweepAfterFullSweepEvery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.run(false)
	r := e.reconciler(reconcile.Config{FullSweepEvery: time.Nanosecond})
	sum, err := r.RunOnce(e.ctx, e.org.Slug, false)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Orgs[0].Since != nil {
		t.Fatal("run was incremental past FullSweepEvery")
	}
}

func TestTwoReconcilersStartedTogetherExactlyOneRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	setupEverything(e)
	var ran atomic.Int32
	otherDone := make(chan struct{})
	// The reconciler that gets the lock holds it (in its first job) until
	// the other one has returned: the other can only have been skipped.
	hook := func(ctx context.Context, org, job string) {
		if job != reconcile.JobAutoMap {
			return
		}
		ran.Add(1)
		select {
		case <-otherDone:
		case <-time.After(10 * time.Second):
		}
	}
	start := make(chan struct{})
	type result struct {
		sum reconcile.Summary
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		r := e.reconciler(reconcile.Config{AfterJob: hook})
		go func() {
			<-start
			sum, err := r.RunOnce(e.ctx, "", false)
			results <- result{sum, err}
		}()
	}
	close(start)
	first := <-results
	close(otherDone)
	second := <-results
	if first.err != nil || second.err != nil {
		t.Fatal(first.err, second.err)
	}
	if !first.sum.Skipped || second.sum.Skipped || ran.Load() != 1 {
		t.Fatalf("first skipped %v, second skipped %v, %d ran", first.sum.Skipped, second.sum.Skipped, ran.Load())
	}
	if !strings.Contains(first.sum.String(), "skipped: another run holds the reconcile lock") || len(first.sum.Orgs) != 0 {
		t.Fatalf("skipped summary: %s", first.sum)
	}
	if n := e.count(`SELECT count(*) FROM reconcile_runs`); n != 1 {
		t.Fatalf("%d runs recorded, want 1", n)
	}
	// The lock was released with the run.
	if sum, err := e.reconciler(reconcile.Config{}).RunOnce(e.ctx, "", true); err != nil || sum.Skipped {
		t.Fatalf("after both: skipped %v, %v", sum.Skipped, err)
	}
}

func TestCancelledMidwayThenRerunConverges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	toMap, ambiguous, removed, stale := setupEverything(e)
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	r := e.reconciler(reconcile.Config{AfterJob: func(_ context.Context, _, job string) {
		if job == reconcile.JobAutoMap {
			cancel()
		}
	}})
	sum, err := r.RunOnce(ctx, e.org.Slug, false)
	if !errors.Is(err, context.Canceled) || sum.Outcome() != postgres.RunCancelled {
		t.Fatalf("cancelled run: %v, outcome %s", err, sum.Outcome())
	}
	// The first job is whole, the others did not begin.
	if e.identity(toMap.ID).UserID == "" {
		t.Fatal("the first job's mapping was lost")
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'git.map' AND actor = $1`, reconcile.Actor.String()); n != 1 {
		t.Fatalf("%d auto-map audit events", n)
	}
	if n := e.count(`SELECT count(*) FROM reconcile_conflicts`); n != 0 {
		t.Fatalf("%d conflicts after a run cancelled before the conflicts job", n)
	}
	if e.identity(removed.ID).UserID == "" {
		t.Fatal("lifecycle ran after the cancellation")
	}
	e.identity(stale.ID)
	runs, _ := e.db.ReconcileRuns(e.ctx, e.org.ID, 0)
	if len(runs) != 1 || runs[0].Outcome != postgres.RunCancelled {
		t.Fatalf("runs %+v", runs)
	}
	// The next run starts from the last successful one (none: full) and
	// converges.
	res := e.run(false)
	if res.Since != nil {
		t.Fatal("a cancelled run moved the watermark")
	}
	if e.identity(removed.ID).UserID != "" {
		t.Fatal("removed user's mapping not released")
	}
	if _, err := e.db.GitIdentity(e.ctx, e.org.ID, stale.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatal("stale identity not pruned")
	}
	if got := e.openConflicts(); len(got) != 1 || !strings.HasPrefix(got[0], "ambiguous-email github team@example.com") {
		t.Fatalf("conflicts %q", got)
	}
	_ = ambiguous
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'git.map' AND actor = $1`, reconcile.Actor.String()); n != 1 {
		t.Fatalf("%d auto-map audit events after the rerun", n)
	}
	// Converged: nothing left to do.
	for _, j := range e.run(false).Jobs {
		if j.Planned != 0 {
			t.Errorf("after convergence %s planned %d", j.Job, j.Planned)
		}
	}
}

func TestRunCoversEveryOrganizationSeparately(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.newOrg("other")
	e.user("ann", "ann@example.com")
	e.userIn(other, "ann2", "ann@example.com")
	a := e.seen("ann@example.com")
	b := e.seenIn(other, "ann@example.com", "")
	sum, err := e.reconciler(reconcile.Config{}).RunOnce(e.ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Orgs) != 2 {
		t.Fatalf("%d organizations", len(sum.Orgs))
	}
	ga, _ := e.db.GitIdentity(e.ctx, e.org.ID, a.ID)
	gb, _ := e.db.GitIdentity(e.ctx, other.ID, b.ID)
	ua, _ := e.db.Member(e.ctx, e.org.ID, ga.UserID)
	ub, _ := e.db.Member(e.ctx, other.ID, gb.UserID)
	if ua.UserName != "ann" || ub.UserName != "ann2" {
		t.Fatalf("mapped to %q and %q", ua.UserName, ub.UserName)
	}
	for _, o := range []directory.Organization{e.org, other} {
		runs, _ := e.db.ReconcileRuns(e.ctx, o.ID, 0)
		if len(runs) != 1 {
			t.Fatalf("%s: %d runs", o.Slug, len(runs))
		}
	}
	if _, err := e.reconciler(reconcile.Config{}).RunOnce(e.ctx, "nope", false); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown org: %v", err)
	}
}
