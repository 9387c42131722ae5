package scim

import (
	"sync"

	"golang.org/x/time/rate"
)

// limiters holds one token bucket per organization, so that one tenant's
// runaway client cannot starve the others. The configured rate is the
// service's: each replica admits its share, the rate divided by the
// replicas that are live (SetReplicas, fed by the heartbeat in
// PostgreSQL), so N replicas behind a load balancer admit about the rate,
// not N times it, without a database round trip per request.
type limiters struct {
	mu       sync.Mutex
	total    float64 // the service's requests per second per organization
	replicas int
	byOrg    map[string]*rate.Limiter
}

func newLimiters(perSecond float64) *limiters {
	if perSecond <= 0 {
		return nil
	}
	return &limiters{total: perSecond, replicas: 1, byOrg: map[string]*rate.Limiter{}}
}

// share is this replica's rate and burst (twice the rate, at least one).
func (l *limiters) share() (rate.Limit, int) {
	r := l.total / float64(l.replicas)
	return rate.Limit(r), max(int(r*2), 1)
}

// setReplicas sets how many replicas share the rate (at least one).
func (l *limiters) setReplicas(n int) {
	if l == nil {
		return
	}
	n = max(n, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if n == l.replicas {
		return
	}
	l.replicas = n
	r, burst := l.share()
	for _, b := range l.byOrg {
		b.SetLimit(r)
		b.SetBurst(burst)
	}
}

// allow reports whether the organization may make a request now. Only
// authenticated organizations get a bucket, so the map is bounded by the
// organizations that exist.
func (l *limiters) allow(orgID string) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	b, ok := l.byOrg[orgID]
	if !ok {
		b = rate.NewLimiter(l.share())
		l.byOrg[orgID] = b
	}
	l.mu.Unlock()
	return b.Allow()
}
