package main

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// readTenants reads the tenants file: one "BASE-URL TOKEN" line per
// organization; blank lines and lines starting with # are skipped.
func readTenants(path string) ([]tenant, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--tenants: %w", err)
	}
	defer f.Close()
	var out []tenant
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("--tenants %s:%d: want \"BASE-URL TOKEN\"", path, n)
		}
		base := strings.TrimRight(fields[0], "/")
		if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--tenants %s:%d: %q is not an absolute http(s) URL", path, n, fields[0])
		}
		if seen[base] {
			return nil, fmt.Errorf("--tenants %s:%d: %s listed twice", path, n, base)
		}
		seen[base] = true
		out = append(out, tenant{Base: base, Token: fields[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--tenants: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--tenants %s: no tenants", path)
	}
	return out, nil
}

// tenantResult is one organization of the tenants phase.
type tenantResult struct {
	Base    string        `json:"base"`
	Created int64         `json:"created"`
	P50     time.Duration `json:"p50_ns"` // over its lookups and creates
	P99     time.Duration `json:"p99_ns"`
}

// pushTenants pushes --users users into every tenant at once: job j is
// user j/T of tenant j%T, so the clients interleave the organizations as
// IdPs provisioning them side by side would.
func (l *loader) pushTenants(ctx context.Context, rec *recorder) (time.Duration, []string, int64, []float64, []tenantResult) {
	ts := l.cfg.tenants
	type perTenant struct {
		mu      sync.Mutex
		lat     []time.Duration
		created atomic.Int64
	}
	per := make([]perTenant, len(ts))
	jobs := len(ts) * l.cfg.users
	ends := newCompletions(jobs)
	var created, skipped atomic.Int64
	wall := l.runWorkers(ctx, "tenants", jobs, l.cfg.rate, func(ctx context.Context, j int) {
		t, i := j%len(ts), j/len(ts)
		p := &per[t]
		var id string
		out := l.pushUser(ctx, rec, ts[t], i, &id, func(d time.Duration) {
			p.mu.Lock()
			p.lat = append(p.lat, d)
			p.mu.Unlock()
		})
		switch out {
		case pushCreated:
			created.Add(1)
			p.created.Add(1)
		case pushSkipped:
			skipped.Add(1)
		}
		ends.add()
	})
	res := make([]tenantResult, len(ts))
	for t := range ts {
		lat := per[t].lat
		slices.Sort(lat)
		res[t] = tenantResult{Base: ts[t].Base, Created: per[t].created.Load(), P50: percentile(lat, 50), P99: percentile(lat, 99)}
	}
	notes := []string{fmt.Sprintf("%d tenants × %d users: created %d, skipped %d (already there)", len(ts), l.cfg.users, created.Load(), skipped.Load())}
	return wall, notes, created.Load(), ends.tenths(), res
}
