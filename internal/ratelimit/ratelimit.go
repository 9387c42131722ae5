// Package ratelimit bounds requests per organization: one token bucket
// per tenant, so that one tenant's runaway client cannot starve the
// others. The configured rate is the service's: each replica admits its
// share, the rate divided by the replicas that are live (SetReplicas, fed
// by a heartbeat in PostgreSQL), so that N replicas behind a load balancer
// admit about the rate, not N times it, without a database round trip per
// request.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// PerOrg holds the buckets. A nil *PerOrg admits everything.
type PerOrg struct {
	mu       sync.Mutex
	total    float64 // the service's requests per second per organization
	replicas int
	byOrg    map[string]*rate.Limiter
	now      func() time.Time
}

// New returns buckets of perSecond requests per organization (bursts of
// twice that), or nil, which admits everything, when perSecond <= 0.
// now is the clock the buckets refill by; nil means time.Now.
func New(perSecond float64, now func() time.Time) *PerOrg {
	if perSecond <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &PerOrg{total: perSecond, replicas: 1, byOrg: map[string]*rate.Limiter{}, now: now}
}

// share is this replica's rate and burst (twice the rate, at least one).
func (l *PerOrg) share() (rate.Limit, int) {
	r := l.total / float64(l.replicas)
	return rate.Limit(r), max(int(r*2), 1)
}

// SetReplicas sets how many replicas share the rate (at least one).
func (l *PerOrg) SetReplicas(n int) {
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
	now := l.now()
	for _, b := range l.byOrg {
		b.SetLimitAt(now, r)
		b.SetBurstAt(now, burst)
	}
}

// Allow reports whether the organization may make a request now. Call it
// for authenticated organizations only, so that the buckets are bounded
// by the organizations that exist.
func (l *PerOrg) Allow(orgID string) bool {
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
	return b.AllowN(l.now(), 1)
}
