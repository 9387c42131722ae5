package ratelimit_test

import (
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/ratelimit"
)

// clock is a clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// burst counts the requests admitted at once (the clock stands still).
func burst(l *ratelimit.PerOrg, org string) int {
	n := 0
	for range 1000 {
		if !l.Allow(org) {
			break
		}
		n++
	}
	return n
}

func TestShareOfTheServiceRate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		rate     float64
		replicas int
		want     int // burst: twice this replica's share, at least one
	}{
		{"alone", 10, 1, 20},
		{"one of five", 10, 5, 4},
		{"one of fifty: at least one request", 10, 50, 1},
		{"a count below one counts as one", 10, 0, 20},
	}
	for _, c := range cases {
		l := ratelimit.New(c.rate, newClock().Now)
		l.SetReplicas(c.replicas)
		if got := burst(l, "org"); got != c.want {
			t.Errorf("%s: burst %d, want %d", c.name, got, c.want)
		}
	}
	// A bucket made before the replica count changed follows it.
	l := ratelimit.New(10, newClock().Now)
	l.Allow("early")
	l.SetReplicas(5)
	if got := burst(l, "early"); got != 4 {
		t.Errorf("an existing bucket kept its old burst: %d, want 4", got)
	}
	// Organizations do not share a bucket.
	if got := burst(l, "other"); got != 4 {
		t.Errorf("another organization: %d", got)
	}
	// No rate: everything passes.
	var none *ratelimit.PerOrg = ratelimit.New(0, nil)
	none.SetReplicas(3)
	if got := burst(none, "org"); got != 1000 {
		t.Errorf("unbounded: %d", got)
	}
}

// A bucket refills at the rate by the injected clock, up to its burst.
func TestBucketsRefillAtTheRate(t *testing.T) {
	t.Parallel()
	clk := newClock()
	l := ratelimit.New(2, clk.Now) // one request every 500 ms, bursts of 4
	if got := burst(l, "org"); got != 4 {
		t.Fatalf("burst %d, want 4", got)
	}
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{499 * time.Millisecond, 0},
		{time.Millisecond, 1},
		{time.Second, 2},
		{time.Hour, 4}, // never more than the burst
	}
	for _, s := range steps {
		clk.Advance(s.advance)
		if got := burst(l, "org"); got != s.want {
			t.Fatalf("after %v more: %d admitted, want %d", s.advance, got, s.want)
		}
	}
	// With two replicas, each refills at half the rate.
	l.SetReplicas(2)
	clk.Advance(999 * time.Millisecond)
	if got := burst(l, "org"); got != 0 {
		t.Fatalf("a replica's share refilled early: %d", got)
	}
	clk.Advance(time.Millisecond)
	if got := burst(l, "org"); got != 1 {
		t.Fatalf("a replica's share after a second: %d, want 1", got)
	}
}
