package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// recorder collects the latencies of one phase, per request kind. Every
// duration is kept (8 bytes each), which is fine up to a few million requests.
type recorder struct {
	errs  *errorLog
	mu    sync.Mutex
	kinds map[string]*kindData
	order []string // kinds in first-seen order, for the report
}

type kindData struct {
	durs   []time.Duration // successful requests only
	errors int
}

func newRecorder(errs *errorLog) *recorder {
	return &recorder{errs: errs, kinds: map[string]*kindData{}}
}

func (r *recorder) kind(k string) *kindData {
	d, ok := r.kinds[k]
	if !ok {
		d = &kindData{}
		r.kinds[k] = d
		r.order = append(r.order, k)
	}
	return d
}

// ok records a successful request of kind k that took d.
func (r *recorder) ok(k string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kd := r.kind(k)
	kd.durs = append(kd.durs, d)
}

// fail records a failed request of kind k; status is 0 when no response
// came. where names the request, detail is the response body or the error.
func (r *recorder) fail(k string, status int, where, detail string) {
	r.mu.Lock()
	r.kind(k).errors++
	r.mu.Unlock()
	r.errs.add(k, status, where, detail)
}

// summaries returns one summary per kind, over the phase's wall time.
func (r *recorder) summaries(wall time.Duration) []kindSummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]kindSummary, 0, len(r.order))
	for _, k := range r.order {
		d := r.kinds[k]
		out = append(out, summarize(k, d.durs, d.errors, wall))
	}
	return out
}

// percentileAll is the p-th percentile over every kind's requests.
func (r *recorder) percentileAll(p float64) time.Duration {
	r.mu.Lock()
	var all []time.Duration
	for _, d := range r.kinds {
		all = append(all, d.durs...)
	}
	r.mu.Unlock()
	slices.Sort(all)
	return percentile(all, p)
}

// kindSummary is one row of the report. Latency percentiles are over the
// successful requests; Count includes the errors.
type kindSummary struct {
	Kind   string
	Count  int
	Errors int
	RPS    float64
	P50    time.Duration
	P90    time.Duration
	P99    time.Duration
	Max    time.Duration
}

// summarize sorts durs in place and computes a report row.
func summarize(kind string, durs []time.Duration, errors int, wall time.Duration) kindSummary {
	slices.Sort(durs)
	s := kindSummary{Kind: kind, Count: len(durs) + errors, Errors: errors}
	if wall > 0 {
		s.RPS = float64(s.Count) / wall.Seconds()
	}
	s.P50 = percentile(durs, 50)
	s.P90 = percentile(durs, 90)
	s.P99 = percentile(durs, 99)
	if len(durs) > 0 {
		s.Max = durs[len(durs)-1]
	}
	return s
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted: the smallest value that at least p% of the values are <= to.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// maxDistinctErrors is how many distinct error bodies the report shows.
const maxDistinctErrors = 5

// errorLog counts every failure of the run and keeps the first distinct ones.
type errorLog struct {
	mu    sync.Mutex
	total int
	first []errorSample
	seen  map[string]bool
}

type errorSample struct {
	Kind   string `json:"kind"`
	Status int    `json:"status"` // 0: no response
	Where  string `json:"request"`
	Detail string `json:"detail"`
}

func newErrorLog() *errorLog { return &errorLog{seen: map[string]bool{}} }

// add counts an error; errors are distinct by kind, status and detail.
func (e *errorLog) add(kind string, status int, where, detail string) {
	where, detail = truncate(where, 200), truncate(strings.TrimSpace(detail), 600)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.total++
	key := fmt.Sprintf("%s %d %s", kind, status, detail)
	if len(e.first) < maxDistinctErrors && !e.seen[key] {
		e.seen[key] = true
		e.first = append(e.first, errorSample{Kind: kind, Status: status, Where: where, Detail: detail})
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func (e *errorLog) snapshot() (int, []errorSample) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.total, slices.Clone(e.first)
}
