package sync_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	reconcile "github.com/scimbridge/scimbridge/sync"
)

type observer struct {
	runs, jobs atomic.Int32
}

func (o *observer) ObserveRun(org, outcome string, d time.Duration) { o.runs.Add(1) }
func (o *observer) ObserveJob(org string, j reconcile.JobSummary)   { o.jobs.Add(1) }

// The schedule is read as operators write cron: five fields or a
// descriptor, no seconds field.
func TestScheduleSpecs(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 3, 1, 10, 7, 30, 0, time.UTC) // a Sunday
	cases := []struct {
		spec string
		want time.Time // zero: refused
	}{
		{reconcile.DefaultSchedule, from.Add(5 * time.Minute)},
		{"@every 1s", from.Add(time.Second)},
		{"@hourly", time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)},
		{"*/15 * * * *", time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)},
		{"0 3 * * *", time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)},
		{"30 2 * * 1", time.Date(2026, 3, 2, 2, 30, 0, 0, time.UTC)},
		{"every now and then", time.Time{}},
		{"* * * * * *", time.Time{}},
		{"61 * * * *", time.Time{}},
	}
	for _, c := range cases {
		got, err := reconcile.ScheduleNext(c.spec, from)
		switch {
		case c.want.IsZero():
			if !errors.Is(err, directory.ErrInvalid) {
				t.Errorf("%q: next %v, %v; want ErrInvalid", c.spec, got, err)
			}
		case err != nil || !got.Equal(c.want):
			t.Errorf("%q: next %v, %v; want %v", c.spec, got, err, c.want)
		}
	}
	// A tick lasts half the period, at most a minute.
	for spec, want := range map[string]time.Duration{"@every 1s": 500 * time.Millisecond, "@every 90s": 45 * time.Second,
		reconcile.DefaultSchedule: time.Minute, "@hourly": time.Minute, "*/15 * * * *": time.Minute} {
		if got, err := reconcile.TickWindow(spec, from); err != nil || got != want {
			t.Errorf("%q: a tick lasts %v (%v), want %v", spec, got, err, want)
		}
	}
	e := newEnv(t)
	if _, err := e.reconciler(reconcile.Config{Schedule: "every now and then"}).Start(e.ctx); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("Start with a bad schedule: %v", err)
	}
	stop, err := e.reconciler(reconcile.Config{}).Start(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop() // idempotent
}

// signals is a log handler that closes a channel the first time a
// message is logged: the test follows the scheduler by its log.
type signals struct {
	mu sync.Mutex
	on map[string]chan struct{}
}

func (s *signals) when(msg string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.on[msg] = ch
	return ch
}

func (s *signals) Enabled(context.Context, slog.Level) bool { return true }
func (s *signals) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *signals) WithGroup(string) slog.Handler            { return s }
func (s *signals) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.on[r.Message]; ok {
		delete(s.on, r.Message)
		close(ch)
	}
	return nil
}

// wait waits for ch; the bound only keeps a broken scheduler from hanging
// the test run.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("no sign of %s within a minute", what)
	}
}

// A scheduled time runs the reconciler over every organization; a time
// that comes while a run still goes is skipped; stop stops the schedule
// and waits for the run in progress. The schedule fires twice at once
// and then never, and the test moves on the scheduler's log, not on the
// wall clock.
func TestStartRunsOnScheduleSkipsWhileRunningAndStopWaits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.newOrg("globex")
	var fired atomic.Int32
	twice := func(t time.Time) time.Time {
		if fired.Add(1) <= 2 {
			return t
		}
		return t.AddDate(100, 0, 0)
	}
	log := &signals{on: map[string]chan struct{}{}}
	skipped := log.when("reconcile: the previous run is still going; this one is skipped")
	stopped := log.when("cron: stop")
	held := make(chan struct{})
	failed := make(chan struct{}) // lets a held run go when the test fails
	t.Cleanup(func() { close(failed) })
	obs := &observer{}
	r := e.reconciler(reconcile.Config{Logger: slog.New(log), Observer: obs,
		AfterJob: func(_ context.Context, org, job string) {
			if org == "acme" && job == reconcile.JobAutoMap {
				close(held)
				select { // held until stop has stopped the schedule
				case <-stopped:
				case <-failed:
				}
			}
		}})
	// ObserveRun comes last in a run: the run has ended once it counted.
	done := make(chan bool)
	stop := r.StartOn(e.ctx, twice)
	wait(t, held, "the scheduled run")
	wait(t, skipped, "the second time to be skipped")
	go func() {
		stop()
		done <- obs.runs.Load() == 2 // one run, observed per organization
	}()
	if !<-done {
		t.Fatal("stop returned before the run in progress ended")
	}
	if n := e.count(`SELECT count(*) FROM reconcile_runs`); n != 2 {
		t.Fatalf("%d runs recorded, want one per organization (the second time skipped)", n)
	}
	if obs.jobs.Load() != 10 {
		t.Fatalf("%d jobs observed, want 5 for each of the 2 organizations", obs.jobs.Load())
	}
}

// outcomes is an Observer that passes each run's outcome on.
type outcomes chan string

func (o outcomes) ObserveRun(org, outcome string, d time.Duration) { o <- outcome }
func (o outcomes) ObserveJob(string, reconcile.JobSummary)         {}

// Replicas fire the same tick at moments apart by their clocks' skew and
// their schedulers' jitter, which can be longer than a small
// organization's run (milliseconds): the lock alone would then let each
// replica run the tick in turn. A replica whose tick comes after another
// replica's run of it has ended leaves it done; the next tick runs.
func TestATickRunsOnceAcrossReplicasWhoseClocksDiffer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// tick starts a replica's reconciler whose schedule fires once, now.
	tick := func() string {
		t.Helper()
		seen := make(outcomes, 4)
		var fired atomic.Bool
		stop := e.reconciler(reconcile.Config{Observer: seen}).StartOn(e.ctx, func(t time.Time) time.Time {
			if !fired.Swap(true) {
				return t
			}
			return t.AddDate(100, 0, 0)
		})
		defer stop()
		select {
		case o := <-seen:
			return o
		case <-time.After(time.Minute):
			t.Fatal("the tick did not run within a minute")
			return ""
		}
	}
	if o := tick(); o != postgres.RunOK {
		t.Fatalf("replica a's tick: %s", o)
	}
	// Replica b's clock is behind: its tick comes once a's run is over.
	if o := tick(); o != "skipped" {
		t.Errorf("replica b's tick after a's run of it: %s, want skipped", o)
	}
	if n := e.count(`SELECT count(*) FROM reconcile_runs`); n != 1 {
		t.Fatalf("%d runs recorded for one tick of two replicas, want 1", n)
	}
	// The next tick: a's run is a period ago.
	if _, err := e.db.Pool.Exec(e.ctx, `UPDATE reconcile_runs SET started_at = started_at - interval '2 minutes', finished_at = finished_at - interval '2 minutes'`); err != nil {
		t.Fatal(err)
	}
	if o := tick(); o != postgres.RunOK {
		t.Errorf("replica b's next tick: %s, want ok", o)
	}
	if n := e.count(`SELECT count(*) FROM reconcile_runs`); n != 2 {
		t.Fatalf("%d runs recorded for two ticks, want 2", n)
	}
}
