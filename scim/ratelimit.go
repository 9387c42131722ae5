package scim

import (
	"sync"

	"golang.org/x/time/rate"
)

// limiters holds one token bucket per organization, so that one tenant's
// runaway client cannot starve the others. Buckets are per replica: N
// replicas admit up to N times the rate.
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	byOrg map[string]*rate.Limiter
}

func newLimiters(perSecond float64) *limiters {
	if perSecond <= 0 {
		return nil
	}
	return &limiters{rate: rate.Limit(perSecond), burst: max(int(perSecond*2), 1), byOrg: map[string]*rate.Limiter{}}
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
		b = rate.NewLimiter(l.rate, l.burst)
		l.byOrg[orgID] = b
	}
	l.mu.Unlock()
	return b.Allow()
}
