package events_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/events"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The store is what the loops need.
var _ events.Store = (*postgres.DB)(nil)

var scim = directory.Actor{Kind: "scim-token", Name: "okta"}

// clock is an injected clock: After hands its waits to the test, which
// fires them.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan wait
}

type wait struct {
	d  time.Duration
	ch chan time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC), waits: make(chan wait, 16)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- wait{d, ch}
	return ch
}

// next is the next wait a loop began, of duration d (others are put back
// for their loop).
func (c *clock) next(t *testing.T, d time.Duration) wait {
	t.Helper()
	for {
		select {
		case w := <-c.waits:
			if w.d == d {
				return w
			}
			go func() { c.waits <- w }()
		case <-time.After(30 * time.Second):
			t.Fatalf("no loop waited %v", d)
		}
	}
}

func createUsers(t *testing.T, db *postgres.DB, orgID, prefix string, n int) {
	t.Helper()
	for i := range n {
		u := directory.User{OrgID: orgID, Attributes: map[string]any{"userName": fmt.Sprintf("%s%d@example.com", prefix, i)}}
		if _, err := db.CreateUser(context.Background(), scim, u); err != nil {
			t.Fatal(err)
		}
	}
}

func unnumbered(t *testing.T, db *postgres.DB) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE seq IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSequencerDrainsABacklogInFullBatchesThenWaits(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	org, err := db.CreateOrganization(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	createUsers(t, db, org.ID, "u", 24) // with the break-glass owner's two: 26 events
	reg := prometheus.NewRegistry()
	clk := newClock()
	r := events.New(events.Config{Store: db, Batch: 10, Interval: 250 * time.Millisecond, PruneEvery: time.Hour,
		Metrics: events.NewMetrics(reg), Now: clk.Now, After: clk.After})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	// 10, 10, 6: the full batches are followed at once, and only the
	// short one waits for the interval.
	w := clk.next(t, 250*time.Millisecond)
	if n := unnumbered(t, db); n != 0 {
		t.Fatalf("%d events left unnumbered when the sequencer first waited", n)
	}
	if got := metric(t, reg, "scimbridge_events_numbered_total", ""); got != 26 {
		t.Fatalf("numbered_total %v, want 26", got)
	}
	if got := metric(t, reg, "scimbridge_event_sequencer_passes_total", "ok"); got != 3 {
		t.Fatalf("%v passes before the first wait, want 3 (10, 10, 6)", got)
	}
	createUsers(t, db, org.ID, "v", 3)
	if n := unnumbered(t, db); n != 3 {
		t.Fatalf("%d unnumbered before the clock fired, want 3", n)
	}
	w.ch <- clk.Now()
	clk.next(t, 250*time.Millisecond)
	if n := unnumbered(t, db); n != 0 {
		t.Fatalf("%d left after the next pass", n)
	}
	page, err := db.Events(ctx, org.ID, 0, nil, 1000)
	if err != nil || len(page.Events) != 29 {
		t.Fatalf("feed: %d events, %v; want 29", len(page.Events), err)
	}
}

// metric is the value of a counter or gauge of reg: the one with the
// label value label, or the only one when label is "".
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s{%s}", name, label)
	return 0
}

func TestRetentionDeletesWhatIsOlderThanTheRetentionByTheInjectedClock(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	org, err := db.CreateOrganization(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	createUsers(t, db, org.ID, "u", 5)
	if _, err := db.SequenceEvents(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	// 7 events: 2 at 40 days, 3 at 20 days, 2 an hour ago.
	if _, err := db.Pool.Exec(ctx, `UPDATE events SET occurred_at = CASE
		WHEN seq <= 2 THEN now() - interval '40 days' WHEN seq <= 5 THEN now() - interval '20 days' ELSE now() - interval '1 hour' END`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		retention time.Duration
		want      int
	}{
		{"the default keeps 30 days", 0, 2},
		{"a week", 7 * 24 * time.Hour, 3},
		{"a day keeps the last hour", 24 * time.Hour, 0},
	}
	for _, tt := range tests { // in order: each deletes what is left
		reg := prometheus.NewRegistry()
		r := events.New(events.Config{Store: db, Retention: tt.retention, PruneBatch: 2, Metrics: events.NewMetrics(reg), Now: time.Now})
		if got := r.PruneOnce(ctx); got != tt.want {
			t.Fatalf("%s: deleted %d, want %d", tt.name, got, tt.want)
		}
		if got := metric(t, reg, "scimbridge_events_pruned_total", ""); got != float64(tt.want) {
			t.Fatalf("%s: pruned_total %v", tt.name, got)
		}
	}
	var left int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&left); err != nil || left != 2 {
		t.Fatalf("%d events left, %v; want the 2 of the last hour", left, err)
	}
	// The clock decides, not the database's: ten days on, all is old.
	later := events.New(events.Config{Store: db, Retention: 24 * time.Hour, Now: func() time.Time { return time.Now().Add(10 * 24 * time.Hour) }})
	if got := later.PruneOnce(ctx); got != 2 {
		t.Fatalf("ten days later: deleted %d, want 2", got)
	}
	if _, err := db.Events(ctx, org.ID, 0, nil, 10); err == nil {
		t.Fatal("the beginning of a pruned feed answered; want Gone")
	}
}

func TestSequencerLagIsTheAgeOfTheOldestWaitingEvent(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	org, err := db.CreateOrganization(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SequenceEvents(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if lag, err := db.EventsLag(ctx); err != nil || lag != 0 {
		t.Fatalf("nothing waits: lag %v %v", lag, err)
	}
	createUsers(t, db, org.ID, "u", 2)
	if _, err := db.Pool.Exec(ctx, `UPDATE events SET occurred_at = now() - interval '90 seconds' WHERE seq IS NULL`); err != nil {
		t.Fatal(err)
	}
	lag, err := db.EventsLag(ctx)
	if err != nil || lag < 90*time.Second || lag > 100*time.Second {
		t.Fatalf("lag %v %v, want about 90s", lag, err)
	}
	reg := prometheus.NewRegistry()
	clk := newClock()
	r := events.New(events.Config{Store: db, Metrics: events.NewMetrics(reg), Now: clk.Now, After: clk.After})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(runCtx); close(done) }()
	clk.next(t, events.DefaultInterval)
	stop()
	<-done
	if v := metric(t, reg, "scimbridge_event_sequencer_lag_seconds", ""); v < 90 || v > 100 {
		t.Fatalf("lag gauge %v, want about 90", v)
	}
}
