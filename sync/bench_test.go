package sync_test

import (
	"context"
	"testing"
	"time"

	reconcile "github.com/scimbridge/scimbridge/sync"
)

const (
	benchUsers      = 50_000
	benchIdentities = 100_000
	benchMapped     = 40_000 // identities mapped to their user before the first run
	benchMatching   = 50_000 // identities whose email is a user's (the rest match no one)
)

// seedBench fills the organization with generate_series: users
// user{n}@example.com; identities 1..benchMapped mapped to user n,
// benchMapped+1..benchMatching unmapped with user n's email (the warm-up
// run maps them), the rest unmapped with addresses no one has. Everything
// was last written ten days ago and seen within the retention window.
func seedBench(tb testing.TB, e *env) {
	tb.Helper()
	e.exec(`INSERT INTO users (org_id, user_name, emails, attributes, created_at, updated_at)
		SELECT $1, 'user' || n || '@example.com', ARRAY['user' || n || '@example.com'],
			jsonb_build_object('userName', 'user' || n || '@example.com',
				'emails', jsonb_build_array(jsonb_build_object('value', 'user' || n || '@example.com'))),
			now() - interval '10 days', now() - interval '10 days'
		FROM generate_series(1, $2::int) AS n`, e.org.ID, benchUsers)
	e.exec(`INSERT INTO git_identities (org_id, provider, email, name, first_seen, last_seen, commits, user_id, mapped_by, mapped_at, touched_at)
		SELECT $1, 'github', 'user' || n || '@example.com', 'User ' || n,
			now() - (n % 170) * interval '1 day' - interval '1 day', now() - (n % 170) * interval '1 day', 1,
			CASE WHEN n <= $2 THEN u.id END, CASE WHEN n <= $2 THEN 'cli:seed' END, CASE WHEN n <= $2 THEN now() - interval '10 days' END,
			now() - interval '10 days'
		FROM generate_series(1, $3::int) AS n
		JOIN users u ON u.org_id = $1 AND ascii_lower(u.user_name) = 'user' || n || '@example.com'`,
		e.org.ID, benchMapped, benchMatching)
	e.exec(`INSERT INTO git_identities (org_id, provider, email, name, first_seen, last_seen, commits, touched_at)
		SELECT $1, 'github', 'dev' || n || '@elsewhere.example', 'Dev ' || n,
			now() - (n % 170) * interval '1 day' - interval '1 day', now() - (n % 170) * interval '1 day', 1, now() - interval '10 days'
		FROM generate_series($2::int + 1, $3::int) AS n`, e.org.ID, benchMatching, benchIdentities)
	e.exec(`ANALYZE users`)
	e.exec(`ANALYZE git_identities`)
}

// change1pct changes 1 % of the rows, as a busy five minutes would: 1,000
// identities seen again and 500 users given a new address, which 500
// unmatched identities carry (they are mapped by the run).
func change1pct(tb testing.TB, e *env, round int) {
	tb.Helper()
	base := round * 1000 % benchMatching
	e.exec(`UPDATE git_identities SET last_seen = now()
		WHERE org_id = $1 AND email IN (SELECT 'user' || n || '@example.com' FROM generate_series($2::int + 1, $2::int + 1000) AS n)`,
		e.org.ID, base)
	ubase := round * 500 % benchUsers
	dbase := benchMatching + round*500%(benchIdentities-benchMatching)
	e.exec(`UPDATE users u SET emails = u.emails || ('dev' || ($3::int + (s.n - $2::int)) || '@elsewhere.example'), updated_at = now()
		FROM (SELECT n FROM generate_series($2::int + 1, $2::int + 500) AS n) s
		WHERE u.org_id = $1 AND ascii_lower(u.user_name) = 'user' || s.n || '@example.com'`, e.org.ID, ubase, dbase)
}

// BenchmarkReconcileNoop measures runs at 100,000 identities and 50,000
// users, after a warm-up (full) run: one with nothing to do (target at
// most 1 s) and one with 1 % changed (target at most 2 s), and for the
// record a full sweep with nothing to do. The overlap is
// cut to a millisecond so that each run sees only what the benchmark
// changed since the previous one.
func BenchmarkReconcileNoop(b *testing.B) {
	e := newEnv(b)
	seedStart := time.Now()
	seedBench(b, e)
	b.Logf("seeded %d users and %d identities in %s", benchUsers, benchIdentities, time.Since(seedStart).Round(time.Millisecond))
	r := e.reconciler(reconcile.Config{Overlap: time.Millisecond})
	ctx := context.Background()
	warm := time.Now()
	sum, err := r.RunOnce(ctx, e.org.Slug, false)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("warm-up (full) run: %s, %d mapped", time.Since(warm).Round(time.Millisecond), sum.Orgs[0].Jobs[0].Changed)

	measure := func(name string, r *reconcile.Reconciler, target time.Duration, before func(b *testing.B, i int), check func(b *testing.B, s reconcile.OrgSummary)) {
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				before(b, i)
				b.StartTimer()
				t0 := time.Now()
				sum, err := r.RunOnce(ctx, e.org.Slug, false)
				total += time.Since(t0)
				if err != nil {
					b.Fatal(err)
				}
				check(b, sum.Orgs[0])
			}
			per := total / time.Duration(b.N)
			b.ReportMetric(float64(per.Microseconds())/1000, "ms/run")
			if per > target {
				b.Errorf("%s: %s per run, target %s", name, per, target)
			}
		})
	}
	noChange := func(b *testing.B, s reconcile.OrgSummary) {
		for _, j := range s.Jobs {
			if j.Changed != 0 {
				b.Fatalf("%s changed %d with nothing to do", j.Job, j.Changed)
			}
		}
	}
	measure("nothing-changed", r, time.Second, func(*testing.B, int) {}, func(b *testing.B, s reconcile.OrgSummary) {
		if s.Since == nil {
			b.Fatal("full run")
		}
		noChange(b, s)
	})
	round := 0
	measure("1pct-changed", r, 2*time.Second, func(b *testing.B, _ int) {
		round++
		change1pct(b, e, round)
	}, func(b *testing.B, s reconcile.OrgSummary) {
		if j := s.Jobs[0]; j.Changed != 500 {
			b.Fatalf("auto-map changed %d, want 500\n%s", j.Changed, summaryOf(s))
		}
		b.ReportMetric(float64(s.Jobs[0].Changed), "mapped/run")
	})
	// The daily full sweep, with nothing to do: no target, for the record.
	full := e.reconciler(reconcile.Config{FullSweepEvery: time.Nanosecond})
	measure("full-sweep-nothing-changed", full, 5*time.Second, func(*testing.B, int) {}, func(b *testing.B, s reconcile.OrgSummary) {
		if s.Since != nil {
			b.Fatal("incremental run")
		}
		noChange(b, s)
	})
}
