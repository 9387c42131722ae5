package ratelimit_test

import (
	"testing"

	"github.com/scimbridge/scimbridge/internal/ratelimit"
)

// burst counts the requests admitted at once (the bucket's burst; the
// refill during the loop is negligible at these rates).
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
		l := ratelimit.New(c.rate)
		l.SetReplicas(c.replicas)
		if got := burst(l, "org"); got != c.want {
			t.Errorf("%s: burst %d, want %d", c.name, got, c.want)
		}
	}
	// A bucket made before the replica count changed follows it.
	l := ratelimit.New(10)
	l.Allow("early")
	l.SetReplicas(5)
	if got := burst(l, "early"); got > 4 {
		t.Errorf("an existing bucket kept its old burst: %d", got)
	}
	// Organizations do not share a bucket.
	if got := burst(l, "other"); got != 4 {
		t.Errorf("another organization: %d", got)
	}
	// No rate: everything passes.
	var none *ratelimit.PerOrg = ratelimit.New(0)
	none.SetReplicas(3)
	if got := burst(none, "org"); got != 1000 {
		t.Errorf("unbounded: %d", got)
	}
}
