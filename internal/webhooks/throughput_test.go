package webhooks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/webhooks"
)

// TestDeliveryKeepsUpWithAnInitialPush measures how long one replica's
// worker takes to deliver a burst of events, as an initial push of
// users makes, to a receiver on loopback. Plain `go test` runs 2,000
// events and checks only that every one arrives once; with
// SCIMBRIDGE_BENCH_WEBHOOK_EVENTS=100000 it is the benchmark of
// docs/BENCHMARKS.md and must finish within 60 s of the push's end.
//
// The events are appended by SQL in batches (user.created, a user as the
// admin API renders it), not by a SCIM push: the time measured is from
// the last batch's commit to the last delivery's answer.
func TestDeliveryKeepsUpWithAnInitialPush(t *testing.T) {
	t.Parallel()
	n, bench := 2000, false
	if s := os.Getenv("SCIMBRIDGE_BENCH_WEBHOOK_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("SCIMBRIDGE_BENCH_WEBHOOK_EVENTS=%q", s)
		}
		n, bench = v, true
	}
	e := newEnv(t)
	var (
		mu       sync.Mutex
		seen     = make(map[string]int, n)
		received atomic.Int64
		last     atomic.Int64
	)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Scimbridge-Event-Id")
		mu.Lock()
		seen[id]++
		mu.Unlock()
		received.Add(1)
		last.Store(time.Now().UnixNano())
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	e.subscribe(t, e.org.ID, rc.URL+"/hook")

	ctx, cancel := context.WithCancel(context.Background())
	w := e.worker(nil)
	w.Now, w.Poll = time.Now, 100*time.Millisecond
	w.Client = webhooks.NewClient(egress.Policy{AllowPrivate: true}, webhooks.DefaultTimeout, webhooks.DefaultPerSubscription)
	w.PerSubscription = webhooks.DefaultPerSubscription
	stopped := make(chan struct{})
	go func() { w.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })

	// The push: events committed in batches of 1,000, as fast as the
	// database takes them, while the worker runs.
	pushStart := time.Now()
	for done := 0; done < n; done += 1000 {
		k := min(1000, n-done)
		if _, err := e.db.Pool.Exec(context.Background(), `INSERT INTO events (org_id, type, resource_type, resource_id, actor_kind, actor_name, data)
			SELECT $1, 'user.created', 'User', 'u' || i, 'scim-token', 'okta',
				jsonb_build_object('id', 'u' || i, 'userName', 'user' || i || '@acme.example', 'displayName', 'User ' || i,
					'emails', jsonb_build_array(jsonb_build_object('value', 'user' || i || '@acme.example', 'primary', true)),
					'active', true, 'source', 'scim', 'status', 'active', 'externalId', md5(i::text),
					'createdAt', now(), 'updatedAt', now())
			FROM generate_series($2::int, $3::int) i`, e.org.ID, done, done+k-1); err != nil {
			t.Fatal(err)
		}
	}
	pushEnd := time.Now()
	limit := 60 * time.Second
	if !bench {
		limit = 5 * time.Minute // correctness only on a shared machine
	}
	for received.Load() < int64(n) && time.Since(pushEnd) < limit {
		time.Sleep(50 * time.Millisecond)
	}
	got := received.Load()
	after := time.Duration(last.Load() - pushEnd.UnixNano())
	total := time.Duration(last.Load() - pushStart.UnixNano())
	t.Logf("%d events: push (SQL) %v; all delivered %v after the push's end, %v after its start (%.0f deliveries/s over the whole run)",
		n, pushEnd.Sub(pushStart).Round(time.Millisecond), after.Round(time.Millisecond), total.Round(time.Millisecond),
		float64(got)/total.Seconds())
	if got < int64(n) {
		t.Fatalf("only %d of %d events delivered within %v of the push's end", got, n, limit)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("%d distinct events of %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("%s delivered %d times", id, c)
		}
	}
}
