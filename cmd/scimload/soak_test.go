package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseMixRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ mix, want string }{
		{"okta-push=x", "want op=weight"},
		{"okta-push", "want op=weight"},
		{"okta-push=-1", "want op=weight"},
		{"okta-push=101", "want op=weight"},
		{"nope=1", "unknown operation"},
		{"me=1,me=2", "given twice"},
		{"me=0,hook=0", "every weight is 0"},
		{"", "every weight is 0"},
	} {
		if _, err := parseMix(tc.mix, 3); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseMix(%q) = %v, want an error with %q", tc.mix, err, tc.want)
		}
	}
}

// Over any whole number of rounds (orgs × total weight jobs) every
// organization gets every operation exactly in the mix's proportions.
func TestMixGivesEveryOrganizationItsShare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mix  string
		orgs int
		want map[string]int // per organization per round
	}{
		{"me=1", 1, map[string]int{"me": 1}},
		{"okta-push=3,authorize=1", 20, map[string]int{"okta-push": 3, "authorize": 1}},
		{defaultSoakMix, 20, map[string]int{"okta-push": 3, "entra-patch": 3, "group-okta": 1, "group-entra": 1, "authorize": 4, "me": 2, "hook": 1, "events": 1}},
		{"hook=2,events=0,me=5", 7, map[string]int{"hook": 2, "me": 5}},
	} {
		m, err := parseMix(tc.mix, tc.orgs)
		if err != nil {
			t.Fatalf("parseMix(%q): %v", tc.mix, err)
		}
		total := 0
		for _, w := range tc.want {
			total += w
		}
		const rounds = 3
		got := make([]map[string]int, tc.orgs)
		for o := range got {
			got[o] = map[string]int{}
		}
		for j := range rounds * tc.orgs * total {
			op, org := m.pick(j)
			if org != j%tc.orgs {
				t.Fatalf("%q: job %d went to organization %d, want %d", tc.mix, j, org, j%tc.orgs)
			}
			got[org][op]++
		}
		for o, counts := range got {
			for op, w := range tc.want {
				if counts[op] != rounds*w {
					t.Errorf("%q: organization %d got %s %d times, want %d", tc.mix, o, op, counts[op], rounds*w)
				}
			}
			if len(counts) != len(tc.want) {
				t.Errorf("%q: organization %d got operations %v, want only %v", tc.mix, o, counts, tc.want)
			}
		}
	}
}

// The table spreads a heavy operation out instead of running it in a
// burst: no operation of weight w < total/2 comes twice in a row.
func TestSmoothTableInterleaves(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		weights map[string]int
		want    string
	}{
		{map[string]int{"okta-push": 2, "me": 1}, "okta-push me okta-push"},
		{map[string]int{"okta-push": 1, "me": 1, "hook": 1}, "okta-push me hook"},
		{map[string]int{"authorize": 3, "events": 1}, "authorize authorize events authorize"},
		{map[string]int{"okta-push": 3, "entra-patch": 3, "authorize": 4}, "authorize okta-push entra-patch authorize okta-push entra-patch authorize okta-push entra-patch authorize"},
	} {
		if got := strings.Join(smoothTable(tc.weights), " "); got != tc.want {
			t.Errorf("smoothTable(%v) = %q, want %q", tc.weights, got, tc.want)
		}
	}
}

func TestLoopbackBase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		base string
		ok   bool
	}{
		{"http://127.0.0.1:18080", true},
		{"http://127.9.9.9:1", true},
		{"http://[::1]:8080", true},
		{"http://localhost:8080", true},
		{"http://LOCALHOST:8080", true},
		{"http://10.0.0.1:8080", false},
		{"http://192.168.1.10", false},
		{"http://example.com", false},
		{"http://127.0.0.1.example.com:80", false},
		{"http://localhost.example.com", false},
		{"http://[::ffff:8.8.8.8]:80", false},
		{"https://127.0.0.1:8443", false}, // the soak speaks plain http to loopback
		{"127.0.0.1:8080", false},
		{"", false},
	} {
		err := loopbackBase(tc.base)
		if (err == nil) != tc.ok {
			t.Errorf("loopbackBase(%q) = %v, want ok=%v", tc.base, err, tc.ok)
		}
	}
}

func TestParseSoakFlagsRefusesANonLoopbackBase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--base", "http://10.1.2.3:8080", "--orgs", "x"}, "loopback address only"},
		{[]string{"--base", "http://127.0.0.1:8080"}, "--orgs is required"},
		{[]string{"--base", "http://127.0.0.1:8080", "--orgs", "x", "--duration", "2h"}, "--duration"},
		{[]string{"--base", "http://127.0.0.1:8080", "--orgs", "x", "--warmup", "3m", "--duration", "2m"}, "--warmup"},
		{[]string{"--base", "http://127.0.0.1:8080", "--orgs", "x", "--rate", "0"}, "--rate"},
	} {
		if _, err := parseSoakFlags(tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseSoakFlags(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if _, err := parseSoakFlags([]string{"--base", "http://127.0.0.1:8080/", "--orgs", "x"}, io.Discard); err != nil {
		t.Errorf("a loopback base was refused: %v", err)
	}
}

// line makes RSS samples every second from 0 to n-1 s: kib(i).
func line(n int, kib func(i int) float64) []rssPoint {
	out := make([]rssPoint, n)
	for i := range out {
		out[i] = rssPoint{At: time.Duration(i) * time.Second, KiB: int64(math.Round(kib(i)))}
	}
	return out
}

func TestRSSSlope(t *testing.T) {
	t.Parallel()
	const mib = 1024.0
	for _, tc := range []struct {
		name   string
		points []rssPoint
		warmup time.Duration
		want   float64 // MiB/h
		n      int
		ok     bool
	}{
		{"flat", line(100, func(int) float64 { return 30 * mib }), 0, 0, 100, true},
		{"one MiB a minute is 60 MiB/h", line(121, func(i int) float64 { return 20*mib + float64(i)*mib/60 }), 0, 60, 121, true},
		{"shrinking", line(61, func(i int) float64 { return 50*mib - float64(i)*mib/60 }), 0, -60, 61, true},
		{"the warm-up's growth is left out", line(120, func(i int) float64 {
			if i < 30 {
				return float64(i) * mib // 1 MiB/s while warming up
			}
			return 30 * mib
		}), 30 * time.Second, 0, 90, true},
		// The saw tooth's own ramp leaves 1 MiB/h over 10 minutes.
		{"a saw tooth (GC) around a flat line is ≈ 0", line(600, func(i int) float64 { return 40*mib + float64(i%10)*mib }), 0, 1, 600, true},
		{"too few samples after the warm-up", line(10, func(int) float64 { return mib }), 8 * time.Second, 0, 2, false},
		{"one instant", []rssPoint{{time.Second, 1}, {time.Second, 2}, {time.Second, 3}}, 0, 0, 3, false},
		{"no samples", nil, 0, 0, 0, false},
	} {
		got, n, ok := rssSlope(tc.points, tc.warmup)
		if ok != tc.ok || n != tc.n || math.Abs(got-tc.want) > 0.5 {
			t.Errorf("%s: rssSlope = %.3f MiB/h over %d samples, ok %v; want %.1f over %d, ok %v", tc.name, got, n, ok, tc.want, tc.n, tc.ok)
		}
	}
}

func TestValidSignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"evt_1"}`)
	sign := func(secret, ts string) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + "."))
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{"t=100,v1=" + sign("s", "100"), true},
		{"t=100,v1=" + sign("old", "100") + ",v1=" + sign("s", "100"), true}, // a rotation's overlap
		{"t=100, v1=" + strings.ToUpper(sign("s", "100")), true},
		{"t=101,v1=" + sign("s", "100"), false},
		{"t=100,v1=" + sign("other", "100"), false},
		{"v1=" + sign("s", ""), false},
		{"t=100", false},
		{"", false},
	} {
		if got := validSignature("s", tc.header, body); got != tc.ok {
			t.Errorf("validSignature(%q) = %v, want %v", tc.header, got, tc.ok)
		}
	}
}

func TestSoakVerdict(t *testing.T) {
	t.Parallel()
	cfg := soakConfig{maxSlope: 30, warmup: time.Minute}
	good := func() soakReport {
		return soakReport{Planned: 1000, Done: 1000, RSS: soakRSS{SlopeOK: true, SlopeMiBHour: 5}}
	}
	for _, tc := range []struct {
		name string
		edit func(*soakReport)
		want string
	}{
		{"everything held", func(*soakReport) {}, "PASS"},
		{"a negative slope holds", func(r *soakReport) { r.RSS.SlopeMiBHour = -40 }, "PASS"},
		{"90% of the rate holds", func(r *soakReport) { r.Done = 900 }, "PASS"},
		{"one error", func(r *soakReport) { r.Errors.Total = 1 }, "FAIL: 1 errors"},
		{"RSS growing", func(r *soakReport) { r.RSS.SlopeMiBHour = 31 }, "FAIL: RSS grows 31.0 MiB/h"},
		{"RSS not known", func(r *soakReport) { r.RSS.SlopeOK, r.RSS.Error = false, "no server pid" }, "FAIL: RSS slope unknown (no server pid)"},
		{"an undelivered event", func(r *soakReport) { r.Deliveries.Missing = 1 }, "FAIL: 1 feed events undelivered"},
		{"a bad signature", func(r *soakReport) { r.Deliveries.BadSig = 2 }, "FAIL: 0 feed events undelivered, 2 bad signatures"},
		{"the rate not sustained", func(r *soakReport) { r.Done = 899 }, "FAIL: the server (or this machine) did not sustain --rate: 899 of 1000"},
		{"interrupted", func(r *soakReport) { r.Interrupted = "context canceled" }, "FAIL: interrupted: context canceled"},
	} {
		r := good()
		tc.edit(&r)
		r.verdict(cfg)
		if !strings.HasPrefix(r.Verdict, tc.want) || r.Pass != strings.HasPrefix(tc.want, "PASS") {
			t.Errorf("%s: verdict %q (pass %v), want it to start with %q", tc.name, r.Verdict, r.Pass, tc.want)
		}
	}
}

func TestRedactToken(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/auth/a/breakglass?token=scb_brk_secret", "/auth/a/breakglass?token=%28redacted%29"},
		{"/x?a=1&token=s", "/x?a=1&token=%28redacted%29"},
		{"/Users?filter=userName%20eq%20%22a%22", "/Users?filter=userName%20eq%20%22a%22"},
		{"/Users", "/Users"},
	} {
		if got := redactToken(tc.in); got != tc.want || strings.Contains(got, "secret") {
			t.Errorf("redactToken(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
