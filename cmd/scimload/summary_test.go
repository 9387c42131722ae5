package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

func TestTenthRates(t *testing.T) {
	t.Parallel()
	even := make([]time.Duration, 100)
	for i := range even {
		even[i] = time.Duration(i+1) * 10 * time.Millisecond // 100 jobs/s throughout
	}
	// The same, but the last ten jobs take 4 times as long.
	slowEnd := append([]time.Duration(nil), even[:90]...)
	for i := range 10 {
		slowEnd = append(slowEnd, even[89]+time.Duration(i+1)*40*time.Millisecond)
	}
	tests := []struct {
		name string
		ends []time.Duration
		want []float64
	}{
		{"fewer than ten jobs", even[:9], nil},
		{"even", even, []float64{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}},
		{"slow last tenth", slowEnd, []float64{100, 100, 100, 100, 100, 100, 100, 100, 100, 25}},
		{"ten jobs, one each", even[:10], []float64{100, 100, 100, 100, 100, 100, 100, 100, 100, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tenthRates(tt.ends)
			if len(got) != len(tt.want) {
				t.Fatalf("tenthRates = %v, want %v", got, tt.want)
			}
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-6 {
					t.Fatalf("tenthRates = %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestSummarizeRunAgainstTargets(t *testing.T) {
	t.Parallel()
	lookup := func(p50, p99 int) kindSummary {
		return kindSummary{Kind: "lookup-userName", Count: 10, P50: time.Duration(p50) * time.Millisecond, P99: time.Duration(p99) * time.Millisecond}
	}
	rep := &report{
		Phases: []phaseResult{
			{Name: "raw", Wall: 10 * time.Second, Done: 30000},
			{Name: "push", Wall: 100 * time.Second, Done: 100000, RequestP99: 20 * time.Millisecond,
				Tenths: []float64{1000, 1000, 900, 1000, 1000, 1000, 1000, 1000, 1000, 600},
				Kinds:  []kindSummary{lookup(2, 8), {Kind: "create", Count: 10}}},
			{Name: "lookup", Wall: time.Second, Kinds: []kindSummary{lookup(1, 12)}},
			{Name: "raw", Wall: 10 * time.Second, Done: 10000},
		},
		RSS: &rssReport{HWMKiB: 100 * 1024},
	}
	s := summarizeRun(rep, nil)
	if s.RawRate != 2000 || s.PushRate != 1000 || s.PushOverRaw != 0.5 {
		t.Errorf("raw %v push %v ratio %v, want the mean of both raw phases 2000, 1000 and 0.5", s.RawRate, s.PushRate, s.PushOverRaw)
	}
	if s.SlowestOverFastest != 0.6 || s.LookupDuringP99MS != 8 || s.LookupAfterP99MS != 12 || s.RSSPeakMiB != 100 {
		t.Errorf("summary %+v", s)
	}
	var b strings.Builder
	writeSummary(&b, s)
	for _, want := range []string{
		"raw durable INSERTs: 2000 rows/s (each raw phase: 3000, 1000)",
		"push/raw: 0.500 (target ≥ 0.5: met)",
		"slowest/fastest 0.600 (target ≥ 0.7: MISSED)",
		"userName eq during the push: p50 2.00ms p99 8.00ms (target p99 ≤ 10ms: met)",
		"userName eq after the push: p50 1.00ms p99 12.00ms (target p99 ≤ 10ms: MISSED)",
		"server peak RSS: 100.0 MiB (target ≤ 150 MiB: met)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestReadTenants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		want    int
		wantErr string
	}{
		{"two with a comment and a blank line", "# base token\nhttp://127.0.0.1:1/scim/v2/a/ t1\n\nhttp://127.0.0.1:1/scim/v2/b t2\n", 2, ""},
		{"no token", "http://127.0.0.1:1/scim/v2/a\n", 0, "want \"BASE-URL TOKEN\""},
		{"not a URL", "127.0.0.1:1/scim/v2/a t\n", 0, "not an absolute"},
		{"listed twice", "http://h/scim/v2/a t1\nhttp://h/scim/v2/a/ t2\n", 0, "listed twice"},
		{"empty", "# nothing\n", 0, "no tenants"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tenants")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readTenants(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readTenants error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want || strings.HasSuffix(got[0].Base, "/") {
				t.Fatalf("readTenants = %+v, %v; want %d tenants, bases without a trailing slash", got, err, tt.want)
			}
		})
	}
}

// Every tenant gets its users, under its own token, and the summary
// compares the worst tenant and the total rate with the baseline run.
func TestRunTenantsPhase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fakes := make([]*fakeSCIM, 3)
	firstPost := make([]int64, len(fakes)) // order of each tenant's first create among all
	var posts atomic.Int64
	var lines []string
	for i := range fakes {
		fakes[i] = &fakeSCIM{groups: map[string]map[string]bool{}, names: map[string]string{}}
		h := fakes[i].handler()
		counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				n := posts.Add(1)
				atomic.CompareAndSwapInt64(&firstPost[i], 0, n)
			}
			h.ServeHTTP(w, r)
		})
		srv := httptest.NewServer(requireToken(fmt.Sprintf("tok%d", i), counted))
		t.Cleanup(srv.Close)
		lines = append(lines, srv.URL+"/scim/v2/t "+fmt.Sprintf("tok%d", i))
	}
	tenants := filepath.Join(dir, "tenants")
	if err := os.WriteFile(tenants, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	baseline := filepath.Join(dir, "baseline.json")
	b, _ := json.Marshal(map[string]any{"summary": runSummary{PushRate: 1e6, PushRequestP99MS: 1000}})
	if err := os.WriteFile(baseline, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	code := run([]string{"--tenants", tenants, "--phases", "tenants", "--users", "40", "--concurrency", "4",
		"--pid", "-1", "--progress", "0", "--baseline", baseline}, func(string) string { return "" }, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout.String(), stderr.String())
	}
	for i, f := range fakes {
		if len(f.users) != 40 {
			t.Errorf("tenant %d has %d users, want 40", i, len(f.users))
		}
		// The tenants advance together: each one's first user is among
		// the first few created, not after the other tenants' 40.
		if firstPost[i] > int64(len(fakes)+4) {
			t.Errorf("tenant %d got its first create as number %d of all", i, firstPost[i])
		}
	}
	out := stdout.String()
	for _, want := range []string{
		"3 tenants × 40 users: created 120, skipped 0",
		"tenants: 3 organizations at",
		"tenants by tenths (users/s):",
		"/ single-tenant p99 1000.00ms:",
		"(target ≤ 3: met)",
		"/ single-tenant rate 1000000.0 users/s:",
		"(target within 20%: MISSED)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "tok1") {
		t.Errorf("a tenant's token is in the report:\n%s", out)
	}
}

// requireToken answers 401 to a request without the tenant's token.
func requireToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// The raw phase inserts into the server's PostgreSQL in the same run, the
// summary divides the push rate by it, and the scratch table goes at the end.
func TestRunRawPhaseGivesTheRatio(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	f := &fakeSCIM{groups: map[string]map[string]bool{}, names: map[string]string{}}
	code, out, rep := runAgainst(t, f, "--phases", "raw,push,raw", "--pg", dsn, "--raw-duration", "300ms")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	s := rep.Summary
	if s == nil || len(s.RawRates) != 2 || s.RawRate <= 0 || s.PushOverRaw <= 0 || len(s.Tenths) != 10 {
		t.Fatalf("summary %+v, want two raw rates, a ratio and ten tenths", s)
	}
	if math.Abs(s.PushOverRaw-s.PushRate/s.RawRate) > 1e-9 {
		t.Errorf("push/raw %v, want %v / %v", s.PushOverRaw, s.PushRate, s.RawRate)
	}
	for _, want := range []string{"raw-insert", "push/raw: ", "synchronous_commit=", "fsync="} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var left bool
	if err := conn.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, rawTable).Scan(&left); err != nil || left {
		t.Errorf("scratch table %s left behind (%v)", rawTable, err)
	}
}

// Without the library loaded, --pg-stat-statements says how to load it
// before any load is sent.
func TestRunPGStatStatementsNeedsTheLibrary(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	f := &fakeSCIM{groups: map[string]map[string]bool{}, names: map[string]string{}}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	var stdout, stderr strings.Builder
	code := run([]string{"--base", srv.URL + "/scim/v2/t", "--token", "x", "--phases", "push", "--users", "5",
		"--pid", "-1", "--progress", "0", "--pg", dsn, "--pg-stat-statements"}, func(string) string { return "" }, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "SCIMBRIDGE_PG_SETTINGS='shared_preload_libraries=pg_stat_statements") {
		t.Errorf("exit %d, stderr %q; want 2 and how to load the library", code, stderr.String())
	}
	if len(f.users) != 0 {
		t.Errorf("%d users pushed before the failure", len(f.users))
	}
}
