package main

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The pure parts of the soak: which operation and organization job j is,
// whether --base is loopback, and the slope of the server's RSS.

// soakOps are the soak's operations, in the report's order.
var soakOps = []string{"okta-push", "entra-patch", "group-okta", "group-entra", "authorize", "me", "hook", "events"}

// defaultSoakMix weighs the operations roughly as a busy tenant sees them:
// mostly IdP traffic, then the platform's authorize questions.
const defaultSoakMix = "okta-push=3,entra-patch=3,group-okta=1,group-entra=1,authorize=4,me=2,hook=1,events=1"

// soakMix turns a job index into an operation and an organization.
type soakMix struct {
	// table holds each operation as often as its weight, interleaved
	// (smooth weighted round-robin), so a short run sees every operation
	// and no operation comes in bursts.
	table []string
	orgs  int
}

// parseMix parses "op=weight,…"; operations left out have weight 0.
func parseMix(s string, orgs int) (soakMix, error) {
	weights := map[string]int{}
	for _, part := range splitList(s) {
		op, w, ok := strings.Cut(part, "=")
		n, err := strconv.Atoi(w)
		switch {
		case !ok || err != nil || n < 0 || n > 100:
			return soakMix{}, fmt.Errorf("--mix %q: want op=weight with a weight 0..100", part)
		case !slices.Contains(soakOps, op):
			return soakMix{}, fmt.Errorf("--mix: unknown operation %q (known: %s)", op, strings.Join(soakOps, ", "))
		case weights[op] != 0:
			return soakMix{}, fmt.Errorf("--mix: %s given twice", op)
		}
		weights[op] = n
	}
	if orgs < 1 {
		return soakMix{}, fmt.Errorf("no organizations")
	}
	m := soakMix{orgs: orgs, table: smoothTable(weights)}
	if len(m.table) == 0 {
		return soakMix{}, fmt.Errorf("--mix %q: every weight is 0", s)
	}
	return m, nil
}

// smoothTable lists each operation weight times, spread out: at every
// step each operation gains its weight and the one with the most credit
// (first in soakOps on a tie) is chosen and pays the total.
func smoothTable(weights map[string]int) []string {
	total := 0
	for _, w := range weights {
		total += w
	}
	credit := map[string]int{}
	out := make([]string, 0, total)
	for range total {
		best := ""
		for _, op := range soakOps {
			if weights[op] == 0 {
				continue
			}
			credit[op] += weights[op]
			if best == "" || credit[op] > credit[best] {
				best = op
			}
		}
		credit[best] -= total
		out = append(out, best)
	}
	return out
}

// pick is job j's operation and organization: consecutive jobs go to
// consecutive organizations, and each organization walks the table, so
// every organization gets every operation in the mix's proportions.
func (m soakMix) pick(j int) (op string, org int) {
	return m.table[(j/m.orgs)%len(m.table)], j % m.orgs
}

// loopbackBase checks that base is an absolute http URL of a loopback
// address: the soak is a load generator and must not be pointed at
// somebody else's server.
func loopbackBase(base string) error {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("--base %q: want http://127.0.0.1:PORT (or another loopback address)", base)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || strings.EqualFold(host, "localhost") {
		return nil
	}
	return fmt.Errorf("--base %q: the soak runs against a loopback address only", base)
}

// rssPoint is one sample of the server's RSS.
type rssPoint struct {
	At  time.Duration // since the start of the soak
	KiB int64
}

// rssSlope is the least-squares slope of the samples taken at or after
// warmup, in MiB per hour; ok is false with fewer than 3 such samples or
// when they all share one time.
func rssSlope(points []rssPoint, warmup time.Duration) (mibPerHour float64, n int, ok bool) {
	var sx, sy, sxx, sxy float64
	for _, p := range points {
		if p.At < warmup {
			continue
		}
		x, y := p.At.Hours(), float64(p.KiB)/1024
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
		n++
	}
	if n < 3 {
		return 0, n, false
	}
	fn := float64(n)
	den := fn*sxx - sx*sx
	if den <= 1e-9*fn*sxx { // every sample at one instant, but for rounding
		return 0, n, false
	}
	return (fn*sxy - sx*sy) / den, n, true
}
