package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func ds(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value p50", ds(7), 50, 7 * time.Millisecond},
		{"one value p99", ds(7), 99, 7 * time.Millisecond},
		{"two values p50 is the lower", ds(1, 2), 50, 1 * time.Millisecond},
		{"two values p51 is the upper", ds(1, 2), 51, 2 * time.Millisecond},
		{"1..100 p50", ds(hundred...), 50, 50 * time.Millisecond},
		{"1..100 p90", ds(hundred...), 90, 90 * time.Millisecond},
		{"1..100 p99", ds(hundred...), 99, 99 * time.Millisecond},
		{"1..100 p100", ds(hundred...), 100, 100 * time.Millisecond},
		{"ten values p99 is the max", ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"tiny p is the min", ds(3, 4, 5), 0.1, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name   string
		durs   []time.Duration
		errors int
		wall   time.Duration
		want   kindSummary
	}{
		{
			name: "unsorted input", durs: ds(30, 10, 20, 40), wall: 2 * time.Second,
			want: kindSummary{Kind: "k", Count: 4, RPS: 2, P50: 20 * time.Millisecond, P90: 40 * time.Millisecond, P99: 40 * time.Millisecond, Max: 40 * time.Millisecond},
		},
		{
			name: "errors count in count and rate, not in latency", durs: ds(5), errors: 3, wall: time.Second,
			want: kindSummary{Kind: "k", Count: 4, Errors: 3, RPS: 4, P50: 5 * time.Millisecond, P90: 5 * time.Millisecond, P99: 5 * time.Millisecond, Max: 5 * time.Millisecond},
		},
		{
			name: "only errors", errors: 2, wall: 500 * time.Millisecond,
			want: kindSummary{Kind: "k", Count: 2, Errors: 2, RPS: 4},
		},
		{
			name: "zero wall time gives no rate", durs: ds(1), wall: 0,
			want: kindSummary{Kind: "k", Count: 1, P50: time.Millisecond, P90: time.Millisecond, P99: time.Millisecond, Max: time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize("k", tt.durs, tt.errors, tt.wall); got != tt.want {
				t.Errorf("summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRecorderKeepsKindOrder(t *testing.T) {
	r := newRecorder(newErrorLog())
	r.ok("lookup", time.Millisecond)
	r.fail("create", 409, "POST /Users", "conflict")
	r.ok("lookup", 3*time.Millisecond)
	got := r.summaries(time.Second)
	if len(got) != 2 || got[0].Kind != "lookup" || got[1].Kind != "create" {
		t.Fatalf("summaries = %+v, want lookup then create", got)
	}
	if got[0].Count != 2 || got[1].Errors != 1 || got[1].Count != 1 {
		t.Errorf("summaries = %+v", got)
	}
}

func TestErrorLogKeepsFirstDistinct(t *testing.T) {
	e := newErrorLog()
	for i := range 20 {
		e.add("create", 500, "POST /Users", fmt.Sprintf("boom %d", i%7))
	}
	e.add("create", 500, "POST /Users", "boom 0")
	total, first := e.snapshot()
	if total != 21 || len(first) != maxDistinctErrors {
		t.Fatalf("total %d, %d distinct; want 21, %d", total, len(first), maxDistinctErrors)
	}
	for i, s := range first {
		if want := fmt.Sprintf("boom %d", i); s.Detail != want {
			t.Errorf("first[%d] = %q, want %q", i, s.Detail, want)
		}
	}
}

func TestTickPlan(t *testing.T) {
	tests := []struct {
		rate        float64
		wantPeriod  time.Duration
		wantPerTick float64
	}{
		{200, 5 * time.Millisecond, 1},
		{500, 2 * time.Millisecond, 1},
		{1000, time.Millisecond, 1},
		{1500, time.Millisecond, 1.5},
		{5000, time.Millisecond, 5},
		{0.5, 2 * time.Second, 1},
		{3, 333333333 * time.Nanosecond, 1},
		{300, 3333333 * time.Nanosecond, 1},
	}
	for _, tt := range tests {
		period, perTick := tickPlan(tt.rate)
		if period != tt.wantPeriod || abs(perTick-tt.wantPerTick) > 1e-9 {
			t.Errorf("tickPlan(%v) = %v, %v; want %v, %v", tt.rate, period, perTick, tt.wantPeriod, tt.wantPerTick)
		}
	}
}

func abs(f float64) float64 { return max(f, -f) }

// drain takes every index from p on workers goroutines.
func drain(p *pacer, workers int) []int {
	var mu sync.Mutex
	var got []int
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range p.C {
				mu.Lock()
				got = append(got, i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	return got
}

func TestPacerIssuesEachIndexOnce(t *testing.T) {
	for _, rate := range []float64{0, 20000, 1e6} {
		for _, n := range []int{0, 1, 7, 300} {
			t.Run(fmt.Sprintf("rate %v n %d", rate, n), func(t *testing.T) {
				got := drain(startPacer(t.Context(), n, rate), 4)
				if len(got) != n {
					t.Fatalf("%d indexes, want %d", len(got), n)
				}
				for i, v := range got {
					if v != i {
						t.Fatalf("indexes %v, want 0..%d once each", got, n-1)
					}
				}
			})
		}
	}
}

func TestPacerTicks(t *testing.T) {
	// 1e6/s is 1,000 permits per 1ms tick: 2,500 permits take 3 ticks.
	p := startPacer(t.Context(), 2500, 1e6)
	if got := drain(p, 3); len(got) != 2500 {
		t.Fatalf("%d permits, want 2500", len(got))
	}
	if p.ticks != 3 {
		t.Errorf("%d ticks, want 3", p.ticks)
	}
	// 500/s is one permit per tick.
	p = startPacer(t.Context(), 5, 500)
	drain(p, 2)
	if p.ticks != 5 {
		t.Errorf("%d ticks, want 5", p.ticks)
	}
	// Unpaced: no ticker.
	p = startPacer(t.Context(), 5, 0)
	drain(p, 2)
	if p.ticks != 0 {
		t.Errorf("%d ticks, want 0", p.ticks)
	}
}

func TestPacerStopsWhenContextEnds(t *testing.T) {
	for _, rate := range []float64{0, 1000} {
		ctx, cancel := context.WithCancel(t.Context())
		p := startPacer(ctx, 1_000_000, rate)
		<-p.C
		cancel()
		// One send may already be under way when cancel returns.
		if got := drain(p, 1); len(got) > 1 {
			t.Errorf("rate %v: %d permits after cancel, want at most 1", rate, len(got))
		}
	}
}

func TestPlanGroup(t *testing.T) {
	tests := []struct {
		users, members, batch int
		want                  groupPlan
	}{
		{100000, 50000, 1000, groupPlan{users: 100000, fill: 50000, final: 1000}},
		{2000, 2000, 1000, groupPlan{users: 2000, fill: 1000, final: 1000}},
		{1000, 1000, 1000, groupPlan{users: 1000, fill: 500, final: 500}},
		{10, 10, 3, groupPlan{users: 10, fill: 7, final: 3}},
		{1, 1, 1000, groupPlan{users: 1, fill: 1, final: 0}},
	}
	for _, tt := range tests {
		if got := planGroup(tt.users, tt.members, tt.batch); got != tt.want {
			t.Errorf("planGroup(%d, %d, %d) = %+v, want %+v", tt.users, tt.members, tt.batch, got, tt.want)
		}
	}
}

func TestGroupPlanNeeds(t *testing.T) {
	p := planGroup(10, 10, 3) // fill 0..6, final 7..9
	var got []int
	for i := range 10 {
		if p.needs(i) {
			got = append(got, i)
		}
	}
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("needs: %v, want %v", got, want)
	}
	p = planGroup(100, 20, 10) // fill 0..19, final 90..99
	if !p.needs(19) || p.needs(20) || p.needs(89) || !p.needs(90) {
		t.Errorf("planGroup(100, 20, 10) = %+v: wrong needs", p)
	}
}

func TestFilterQuery(t *testing.T) {
	got := filterQuery("userName", "eq", "load-user-0000001@example.com", 1)
	want := "filter=userName%20eq%20%22load-user-0000001%40example.com%22&startIndex=1&count=100"
	if got != want {
		t.Errorf("filterQuery = %q, want %q", got, want)
	}
}

func TestUserIndex(t *testing.T) {
	l := &loader{cfg: config{prefix: "load-user", users: 1000}}
	for _, i := range []int{0, 7, 999} {
		if got, ok := l.userIndex(l.userName(i)); !ok || got != i {
			t.Errorf("userIndex(userName(%d)) = %d, %v", i, got, ok)
		}
	}
	for _, name := range []string{"load-user-2-0000001@example.com", "load-user-0001000@example.com", "load-user-01@example.com", "x@example.com", "load-user-@example.com"} {
		if i, ok := l.userIndex(name); ok {
			t.Errorf("userIndex(%q) = %d, want no match", name, i)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	status := "Name:\tscimbridge\nVmPeak:\t 1300000 kB\nVmHWM:\t   81234 kB\nVmRSS:\t   70000 kB\nThreads:\t12\n"
	rss, hwm, err := parseProcStatus(strings.NewReader(status))
	if err != nil || rss != 70000 || hwm != 81234 {
		t.Errorf("parseProcStatus = %d, %d, %v; want 70000, 81234, nil", rss, hwm, err)
	}
	if _, _, err := parseProcStatus(strings.NewReader("Name:\tkthreadd\n")); err == nil {
		t.Error("parseProcStatus of a kernel thread: no error")
	}
}

func TestListeningInodes(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:46A0 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0
`
	if got := listeningInodes([]byte(table), 18080); !slices.Equal(got, []string{"111"}) {
		t.Errorf("listeningInodes(18080) = %v, want [111]", got)
	}
	if got := listeningInodes([]byte(table), 8080); !slices.Equal(got, []string{"333"}) {
		t.Errorf("listeningInodes(8080) = %v, want [333]", got)
	}
}

func TestHasScimbridgeServe(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"/usr/local/bin/scimbridge", "serve", "--addr", ":8080"}, true},
		{[]string{"/tmp/go-build1/b001/exe/scimbridge", "--log-level", "debug", "serve"}, true},
		{[]string{"scimbridge", "token", "create"}, false},
		{[]string{"vim", "scimbridge", "serve"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := hasScimbridgeServe(tt.args); got != tt.want {
			t.Errorf("hasScimbridgeServe(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

// fakeSCIM is a minimal in-memory SCIM server, enough for every phase.
type fakeSCIM struct {
	mu      sync.Mutex
	users   []map[string]any
	groups  map[string]map[string]bool // id → member ids
	names   map[string]string          // group id → displayName
	failPOS int                        // fail every failPOS-th user POST with 500 (0: never)
	posts   int
}

var fakeFilter = regexp.MustCompile(`^(\w+) (eq|sw) "(.*)"$`)

func (f *fakeSCIM) handler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", scimMediaType)
		w.WriteHeader(status)
		_ = jsonEncode(w, v)
	}
	mux.HandleFunc("GET /scim/v2/t/Users", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var match []map[string]any
		m := fakeFilter.FindStringSubmatch(r.URL.Query().Get("filter"))
		for _, u := range f.users {
			v, _ := u[m1(m, 1)].(string)
			if m == nil || (m[2] == "eq" && v == m[3]) || (m[2] == "sw" && strings.HasPrefix(v, m[3])) {
				match = append(match, u)
			}
		}
		reply(w, 200, page(match, r))
	})
	mux.HandleFunc("POST /scim/v2/t/Users", func(w http.ResponseWriter, r *http.Request) {
		var u map[string]any
		if err := decodeBody(r, &u); err != nil {
			reply(w, 400, map[string]string{"detail": err.Error()})
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.posts++
		if f.failPOS > 0 && f.posts%f.failPOS == 0 {
			reply(w, 500, map[string]string{"detail": "injected failure"})
			return
		}
		u["id"] = "u" + strconv.Itoa(len(f.users))
		delete(u, "password")
		f.users = append(f.users, u)
		reply(w, 201, u)
	})
	mux.HandleFunc("GET /scim/v2/t/Groups", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		m := fakeFilter.FindStringSubmatch(r.URL.Query().Get("filter"))
		var match []map[string]any
		for id, name := range f.names {
			if m != nil && name == m[3] {
				match = append(match, map[string]any{"id": id, "displayName": name})
			}
		}
		reply(w, 200, page(match, r))
	})
	mux.HandleFunc("POST /scim/v2/t/Groups", func(w http.ResponseWriter, r *http.Request) {
		var g map[string]any
		_ = decodeBody(r, &g)
		f.mu.Lock()
		defer f.mu.Unlock()
		id := "g" + strconv.Itoa(len(f.names)+1)
		f.names[id], _ = g["displayName"].(string)
		f.groups[id] = map[string]bool{}
		reply(w, 201, map[string]any{"id": id, "displayName": f.names[id]})
	})
	mux.HandleFunc("PATCH /scim/v2/t/Groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		var p patchAdd
		_ = decodeBody(r, &p)
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, op := range p.Operations {
			for _, m := range op.Value {
				f.groups[r.PathValue("id")][m.Value] = true
			}
		}
		w.WriteHeader(204)
	})
	mux.HandleFunc("GET /scim/v2/t/Groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		var ms []member
		for id := range f.groups[r.PathValue("id")] {
			ms = append(ms, member{Value: id})
		}
		reply(w, 200, map[string]any{"id": r.PathValue("id"), "members": ms})
	})
	mux.HandleFunc("DELETE /scim/v2/t/Groups/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.names, r.PathValue("id"))
		w.WriteHeader(204)
	})
	return mux
}

func m1(m []string, i int) string {
	if m == nil {
		return ""
	}
	return m[i]
}

func page(all []map[string]any, r *http.Request) map[string]any {
	start, _ := strconv.Atoi(r.URL.Query().Get("startIndex"))
	count, _ := strconv.Atoi(r.URL.Query().Get("count"))
	from := min(max(start, 1)-1, len(all))
	res := all[from:min(from+count, len(all))]
	return map[string]any{"totalResults": len(all), "Resources": res}
}

func jsonEncode(w http.ResponseWriter, v any) error { return json.NewEncoder(w).Encode(v) }

func decodeBody(r *http.Request, v any) error { return json.NewDecoder(r.Body).Decode(v) }

func runAgainst(t *testing.T, f *fakeSCIM, extra ...string) (int, string, *report) {
	t.Helper()
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	jsonPath := filepath.Join(t.TempDir(), "report.json")
	args := append([]string{
		"--base", srv.URL + "/scim/v2/t/", "--users", "250", "--batch", "40", "--lookups", "60",
		"--pages", "10", "--pid", "-1", "--progress", "0", "--json", jsonPath,
	}, extra...)
	var stdout, stderr strings.Builder
	getenv := func(k string) string {
		if k == "SCIMLOAD_TOKEN" {
			return "secret"
		}
		return ""
	}
	code := run(args, getenv, &stdout, &stderr)
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatalf("no JSON report: %v (stderr %s)", err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	return code, stdout.String(), &rep
}

func TestRunAllPhases(t *testing.T) {
	f := &fakeSCIM{groups: map[string]map[string]bool{}, names: map[string]string{}}
	code, out, rep := runAgainst(t, f)
	if code != 0 {
		t.Fatalf("exit %d, want 0:\n%s", code, out)
	}
	for _, want := range []string{"lookup-userName", "lookup-externalId", "create", "page", "group-create", "group-patch-final", "group-get", "created 250, skipped 0", "errors: 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret") || strings.Contains(rep.Flags["token"], "secret") {
		t.Errorf("token leaked into the report (flags %v)", rep.Flags)
	}
	if len(f.users) != 250 {
		t.Errorf("server has %d users, want 250", len(f.users))
	}
	// 125 fill members in 4 PATCHes, then 125 more.
	for _, members := range f.groups {
		if len(members) != 250 {
			t.Errorf("group has %d members, want 250", len(members))
		}
	}

	// A re-run skips every user, replaces the group and finds ids by lookup.
	code, out, _ = runAgainst(t, f, "--phases", "push,groups")
	if code != 0 || !strings.Contains(out, "created 0, skipped 250") || !strings.Contains(out, "group-delete") {
		t.Errorf("re-run: exit %d:\n%s", code, out)
	}
	// Without the push phase the ids come from listing the users.
	code, out, _ = runAgainst(t, f, "--phases", "groups")
	if code != 0 || !strings.Contains(out, "collect-ids") {
		t.Errorf("groups only: exit %d:\n%s", code, out)
	}
}

func TestRunReportsErrors(t *testing.T) {
	f := &fakeSCIM{groups: map[string]map[string]bool{}, names: map[string]string{}, failPOS: 10}
	code, out, rep := runAgainst(t, f, "--phases", "push")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if rep.Errors.Total != 25 || len(rep.Errors.First) != 1 || rep.Errors.First[0].Status != 500 {
		t.Errorf("errors %+v, want 25 errors, 1 distinct with status 500", rep.Errors)
	}
	if !strings.Contains(out, "create, status 500, POST /Users:") || !strings.Contains(out, "injected failure") {
		t.Errorf("report does not show the error:\n%s", out)
	}
}

func TestParseFlagsRejects(t *testing.T) {
	env := func(string) string { return "" }
	for _, args := range [][]string{
		{},
		{"--base", "http://127.0.0.1:1/scim/v2/x"},
		{"--base", "127.0.0.1:1", "--token", "t"},
		{"--base", "http://h/s", "--token", "t", "--phases", "push,bogus"},
		{"--base", "http://h/s", "--token", "t", "--concurrency", "0"},
		{"--base", "http://h/s", "--token", "t", "extra"},
	} {
		var stderr strings.Builder
		if _, _, err := parseFlags(args, env, &stderr); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
}
