package webhooks_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/webhooks"
)

// The signature is the documented one: vectors computed outside Go with
// openssl dgst (testdata/signature_vectors.tsv says how).
func TestSignatureMatchesVectorsComputedWithOpenSSL(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/signature_vectors.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 4 {
			t.Fatalf("bad vector line %q", sc.Text())
		}
		sec, _ := strconv.ParseInt(cols[1], 10, 64)
		got := webhooks.Sign([][]byte{[]byte(cols[0])}, time.Unix(sec, 0), []byte(cols[2]))
		if want := "t=" + cols[1] + ",v1=" + cols[3]; got != want {
			t.Errorf("Sign(%q, %s, %q) = %q, want %q", cols[0], cols[1], cols[2], got, want)
		}
		// Two secrets (a rotation's overlap): one v1 per secret, the
		// current one first.
		two := webhooks.Sign([][]byte{[]byte(cols[0]), []byte("other")}, time.Unix(sec, 0), []byte(cols[2]))
		if !strings.HasPrefix(two, "t="+cols[1]+",v1="+cols[3]+",v1=") || v1Count(two) != 2 {
			t.Errorf("two secrets: %q", two)
		}
		n++
	}
	if n < 3 {
		t.Fatalf("only %d vectors", n)
	}
}

func TestDeliversEachEventSignedWithItsIDAndBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	sub, secret := e.subscribe(t, e.org.ID, rc.URL+"/hook")
	rc.secrets = []string{secret}
	e.emit(t, e.org.ID, directory.EventUserCreated, "u1", map[string]any{"n": 1})
	e.emit(t, e.org.ID, directory.EventUserUpdated, "u1", map[string]any{"n": 2})
	w := e.worker(nil)
	for runOnce(t, w) > 0 {
	}
	got := rc.received()
	if len(got) != 2 || rc.bad != 0 {
		t.Fatalf("received %d, %d with a bad signature", len(got), rc.bad)
	}
	page, err := e.db.Events(context.Background(), e.org.ID, 0, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	// The feed also holds the organization's creation (its break-glass
	// owner), from before the subscription: compare the test's events.
	var mine []directory.Event
	for _, ev := range page.Events {
		if ev.ResourceID == "u1" {
			mine = append(mine, ev)
		}
	}
	if len(mine) != 2 {
		t.Fatal(page, err)
	}
	for i, ev := range mine {
		want, _ := json.Marshal(ev)
		if string(got[i].Body) != string(want) {
			t.Errorf("body %d:\n got %s\nwant %s", i, got[i].Body, want)
		}
		if got[i].EventID != ev.EventID() || got[i].Event.ID != ev.EventID() {
			t.Errorf("event id header %q, body %q, want %q", got[i].EventID, got[i].Event.ID, ev.EventID())
		}
		if got[i].ContentType != "application/json" || v1Count(got[i].Signature) != 1 {
			t.Errorf("content type %q, signature %q", got[i].ContentType, got[i].Signature)
		}
	}
	// Signed with another secret, the same body does not verify.
	if verify("scb_whsec_wrong", got[0].Signature, got[0].Body, time.Now(), time.Hour) {
		t.Fatal("verifies under another secret")
	}
	log := e.deliveries(t, e.org.ID, sub.ID)
	if len(log) != 2 {
		t.Fatalf("log: %+v", log)
	}
	for _, d := range log {
		if d.State != directory.DeliveryDelivered || d.Attempts != 1 || d.StatusCode != 200 || d.FinishedAt == nil || d.LastError != "" {
			t.Errorf("log entry %+v", d)
		}
	}
}

// A subscription gets the events committed after its creation, of the
// types it asks for; the others are passed over, not left waiting.
func TestSendsOnlyNewEventsOfTheSubscribedTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	e.emit(t, e.org.ID, directory.EventUserCreated, "before", nil)
	w := e.worker(nil)
	runOnce(t, w) // numbers it before the subscription exists
	_, secret := e.subscribe(t, e.org.ID, rc.URL, "user.deactivated", "group.*")
	rc.secrets = []string{secret}
	e.emit(t, e.org.ID, directory.EventUserCreated, "u1", nil)
	e.emit(t, e.org.ID, directory.EventUserDeactivated, "u1", nil)
	e.emit(t, e.org.ID, directory.EventGroupMemberAdded, "g1", nil)
	for runOnce(t, w) > 0 {
	}
	var types []string
	for _, r := range rc.received() {
		types = append(types, r.Event.Type)
	}
	slices.Sort(types)
	if strings.Join(types, ",") != "group.member_added,user.deactivated" {
		t.Fatalf("received %v", types)
	}
}

// Per resource the receiver gets the changes in feed order, though
// deliveries of different resources run concurrently and the receiver
// answers in random time.
func TestDeliversInFeedOrderPerResource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	rc.answer = func(received, int) int {
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		return http.StatusOK
	}
	_, secret := e.subscribe(t, e.org.ID, rc.URL)
	rc.secrets = []string{secret}
	const resources, perResource = 6, 15
	for i := range perResource {
		for r := range resources {
			e.emit(t, e.org.ID, directory.EventUserUpdated, fmt.Sprintf("u%d", r), map[string]any{"n": i})
		}
	}
	w := e.worker(nil)
	for runOnce(t, w) > 0 {
	}
	last := map[string]int{}
	count := 0
	for _, r := range rc.received() {
		n, seen := last[r.Event.ResourceID]
		if seen && r.Event.Data.N != n+1 || !seen && r.Event.Data.N != 0 {
			t.Fatalf("%s: change %d arrived after change %d", r.Event.ResourceID, r.Event.Data.N, n)
		}
		last[r.Event.ResourceID] = r.Event.Data.N
		count++
	}
	if count != resources*perResource {
		t.Fatalf("received %d of %d", count, resources*perResource)
	}
	if rc.maxIn < 2 {
		t.Errorf("deliveries never overlapped (max %d in flight): resources are meant to go concurrently", rc.maxIn)
	}
}

// A receiver that fails, then recovers: the delivery is retried after an
// exponential backoff (full jitter, here drawn at its ceiling), not
// before; the resource's next change waits behind it; then both arrive,
// in order, and the log tells the attempts.
func TestRetriesWithBackoffUntilTheReceiverRecovers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	rc.answer = func(_ received, n int) int {
		if n < 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	sub, secret := e.subscribe(t, e.org.ID, rc.URL)
	rc.secrets = []string{secret}
	e.emit(t, e.org.ID, directory.EventUserCreated, "u1", map[string]any{"n": 0})
	e.emit(t, e.org.ID, directory.EventUserUpdated, "u1", map[string]any{"n": 1})
	w := e.worker(nil)
	start := e.clock.Now()
	for i, wait := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second} {
		if n := runOnce(t, w); n != 1 {
			t.Fatalf("attempt %d: sent %d, want the first change only", i+1, n)
		}
		log := e.deliveries(t, e.org.ID, sub.ID)
		first := log[len(log)-1]
		if first.State != directory.DeliveryPending || first.Attempts != i+1 || first.StatusCode != 503 || first.LastError == "" ||
			first.NextAttemptAt == nil || !first.NextAttemptAt.Equal(e.clock.Now().Add(wait)) {
			t.Fatalf("after attempt %d: %+v (next %v, want now+%v)", i+1, first, first.NextAttemptAt, wait)
		}
		e.clock.Advance(wait - time.Second)
		if n := runOnce(t, w); n != 0 {
			t.Fatalf("sent %d before the backoff of %v ran out", n, wait)
		}
		e.clock.Advance(time.Second)
	}
	for runOnce(t, w) > 0 {
	}
	got := rc.received()
	if len(got) != 5 || got[3].Event.Data.N != 0 || got[4].Event.Data.N != 1 || got[0].EventID != got[3].EventID {
		t.Fatalf("received %d: %+v", len(got), got)
	}
	log := e.deliveries(t, e.org.ID, sub.ID)
	if log[1].State != directory.DeliveryDelivered || log[1].Attempts != 4 || log[1].StatusCode != 200 || log[1].LastError != "" {
		t.Fatalf("log of the first change: %+v", log[1])
	}
	if s, _ := e.subs.Get(context.Background(), e.org.ID, sub.ID); s.FailingSince != nil || !s.Enabled {
		t.Fatalf("recovered subscription: %+v", s)
	}
	_ = start
}

// A receiver that never recovers: retried for 24 hours, then given up;
// the subscription, failing all that time, is disabled, audited as the
// system's act, and sends nothing more.
func TestGivesUpAfterADayAndDisablesTheFailingSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	rc.answer = func(received, int) int { return http.StatusInternalServerError }
	sub, _ := e.subscribe(t, e.org.ID, rc.URL)
	e.emit(t, e.org.ID, directory.EventUserCreated, "u1", nil)
	w := e.worker(nil)
	start := e.clock.Now()
	for e.clock.Now().Sub(start) < 24*time.Hour {
		runOnce(t, w)
		if d := e.deliveries(t, e.org.ID, sub.ID)[0]; d.State != directory.DeliveryPending {
			t.Fatalf("given up after %v: %+v", e.clock.Now().Sub(start), d)
		}
		e.clock.Advance(time.Hour)
	}
	runOnce(t, w)
	d := e.deliveries(t, e.org.ID, sub.ID)[0]
	if d.State != directory.DeliveryFailed || d.Attempts < 20 || d.FinishedAt == nil {
		t.Fatalf("after a day: %+v", d)
	}
	s, err := e.subs.Get(context.Background(), e.org.ID, sub.ID)
	if err != nil || s.Enabled || s.DisabledReason != directory.SubscriptionFailing || s.DisabledAt == nil {
		t.Fatalf("subscription after a day of failures: %+v %v", s, err)
	}
	audit, err := e.db.AuditEvents(context.Background(), e.org.ID, "Subscription", sub.ID)
	if err != nil || len(audit) != 2 || audit[1].Action != "subscription.disable" || audit[1].Actor != "system:webhooks" {
		t.Fatalf("audit: %+v %v", audit, err)
	}
	before := len(rc.received())
	e.emit(t, e.org.ID, directory.EventUserUpdated, "u1", nil)
	e.clock.Advance(time.Hour)
	if n := runOnce(t, w); n != 0 || len(rc.received()) != before {
		t.Fatalf("a disabled subscription was sent %d", n)
	}
	// Enabled again, it resumes where it stopped, with a clean record.
	enabled := true
	if s, err = e.subs.Update(context.Background(), admin, e.org.ID, sub.ID, directory.SubscriptionChange{Enabled: &enabled}); err != nil ||
		!s.Enabled || s.DisabledReason != "" || s.FailingSince != nil {
		t.Fatalf("enable: %+v %v", s, err)
	}
	rc.answer = nil
	for runOnce(t, w) > 0 {
	}
	if got := rc.received(); len(got) != before+1 || got[before].Event.Type != directory.EventUserUpdated {
		t.Fatalf("after enabling: %d received", len(got)-before)
	}
}

// A success now and then keeps a subscription alive: only a day of
// nothing but failures disables it.
func TestAnOccasionalSuccessKeepsASubscriptionEnabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	rc.answer = func(r received, _ int) int {
		if r.Event.ResourceID == "good" {
			return http.StatusOK
		}
		return http.StatusBadGateway
	}
	sub, _ := e.subscribe(t, e.org.ID, rc.URL)
	w := e.worker(nil)
	e.emit(t, e.org.ID, directory.EventUserCreated, "bad", nil)
	for range 30 {
		e.emit(t, e.org.ID, directory.EventUserCreated, "good", nil)
		runOnce(t, w)
		e.clock.Advance(time.Hour)
	}
	if s, _ := e.subs.Get(context.Background(), e.org.ID, sub.ID); !s.Enabled {
		t.Fatalf("disabled though deliveries succeed: %+v", s)
	}
}

// A receiver that hangs: the request is cut at the timeout and retried
// later; the worker is not held.
func TestAHangingReceiverIsCutAtTheTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	rc := newReceiver(t)
	t.Cleanup(func() { close(release) }) // before the receiver closes
	rc.answer = func(received, int) int { <-release; return http.StatusOK }
	sub, _ := e.subscribe(t, e.org.ID, rc.URL)
	e.emit(t, e.org.ID, directory.EventUserCreated, "u1", nil)
	w := e.worker(nil)
	w.Timeout = 300 * time.Millisecond
	began := time.Now()
	runOnce(t, w)
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("a hanging receiver held the worker %v", took)
	}
	d := e.deliveries(t, e.org.ID, sub.ID)[0]
	if d.State != directory.DeliveryPending || d.Attempts != 1 || d.StatusCode != 0 || !strings.Contains(d.LastError, "timeout") ||
		d.LatencyMS < 300 || d.NextAttemptAt == nil {
		t.Fatalf("after the timeout: %+v", d)
	}
}

// crashing is the store of a worker that dies after sending and before it
// records anything.
type crashing struct{ webhooks.Store }

var errCrash = errors.New("the worker died")

func (crashing) RecordDeliveries(context.Context, time.Time, []postgres.DeliveryResult) ([]directory.Subscription, error) {
	return nil, errCrash
}

// A worker dies mid-delivery (its sends reached the receiver, its
// outcomes were never written): nothing is lost. Until its leases run
// out no other worker sends those deliveries; then another sends them
// again, with the same event ids, and records them.
func TestAWorkerThatDiesMidDeliveryLosesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	sub, secret := e.subscribe(t, e.org.ID, rc.URL)
	rc.secrets = []string{secret}
	for i := range 5 {
		e.emit(t, e.org.ID, directory.EventUserCreated, fmt.Sprintf("u%d", i), nil)
	}
	dead := e.worker(crashing{e.db})
	if _, err := dead.RunOnce(context.Background()); !errors.Is(err, errCrash) {
		t.Fatalf("the dying worker: %v", err)
	}
	first := rc.received()
	if len(first) != 5 {
		t.Fatalf("the dying worker sent %d", len(first))
	}
	survivor := e.worker(nil)
	if n := runOnce(t, survivor); n != 0 {
		t.Fatalf("sent %d while the dead worker's leases ran", n)
	}
	e.clock.Advance(survivor.Timeout + 31*time.Second)
	for runOnce(t, survivor) > 0 {
	}
	all := rc.received()
	if len(all) != 10 || rc.bad != 0 {
		t.Fatalf("received %d (%d bad)", len(all), rc.bad)
	}
	ids := map[string]int{}
	for _, r := range all {
		ids[r.EventID]++
	}
	for _, r := range first {
		if ids[r.EventID] != 2 {
			t.Errorf("%s received %d times", r.EventID, ids[r.EventID])
		}
	}
	if len(ids) != 5 {
		t.Fatalf("event ids: %v", ids)
	}
	for _, d := range e.deliveries(t, e.org.ID, sub.ID) {
		if d.State != directory.DeliveryDelivered || d.Attempts != 1 {
			t.Errorf("log: %+v", d)
		}
	}
}

// Two replicas deliver at once from one database: every event arrives,
// none twice (no worker dies here, so at least once is exactly once), in
// order per resource, and never two requests for one event at a time.
func TestTwoReplicasDeliverEveryEventOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	var mu sync.Mutex
	inFlight := map[string]bool{}
	concurrent := 0
	rc.answer = func(r received, _ int) int {
		mu.Lock()
		if inFlight[r.EventID] {
			concurrent++
		}
		inFlight[r.EventID] = true
		mu.Unlock()
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		mu.Lock()
		delete(inFlight, r.EventID)
		mu.Unlock()
		return http.StatusOK
	}
	_, secret := e.subscribe(t, e.org.ID, rc.URL)
	rc.secrets = []string{secret}
	const resources, perResource = 20, 15
	for i := range perResource {
		for r := range resources {
			e.emit(t, e.org.ID, directory.EventUserUpdated, fmt.Sprintf("u%d", r), map[string]any{"n": i})
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		// Each replica has its own connection pool, as separate processes do.
		w := e.worker(pgtestDB(t, e))
		w.Now = time.Now
		w.Poll = 5 * time.Millisecond
		w.PerSubscription = 6
		wg.Go(func() { w.Run(ctx) })
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(rc.received()) < resources*perResource && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
	cancel()
	wg.Wait()
	got := rc.received()
	ids := map[string]int{}
	last := map[string]int{}
	for _, r := range got {
		ids[r.EventID]++
		if n, seen := last[r.Event.ResourceID]; seen && r.Event.Data.N != n+1 || !seen && r.Event.Data.N != 0 {
			t.Errorf("%s: change %d after %d", r.Event.ResourceID, r.Event.Data.N, n)
		}
		last[r.Event.ResourceID] = r.Event.Data.N
	}
	if len(got) != resources*perResource || len(ids) != resources*perResource || concurrent != 0 || rc.bad != 0 {
		t.Fatalf("received %d requests for %d events (want %d each once); %d concurrent repeats, %d bad signatures",
			len(got), len(ids), resources*perResource, concurrent, rc.bad)
	}
	if rc.maxIn > 6 {
		t.Errorf("%d requests of one subscription in flight at once; the bound is 6 over both replicas", rc.maxIn)
	}
}

// The bound of deliveries in flight per subscription holds over
// replicas: a second worker finds the first one's leases and waits.
func TestConcurrencyPerSubscriptionIsBoundedOverReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	var once sync.Once
	rc := newReceiver(t)
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the receiver closes
	rc.answer = func(received, int) int { <-release; return http.StatusOK }
	sub, _ := e.subscribe(t, e.org.ID, rc.URL)
	for i := range 20 {
		e.emit(t, e.org.ID, directory.EventUserCreated, fmt.Sprintf("u%d", i), nil)
	}
	a, b := e.worker(nil), e.worker(nil)
	a.PerSubscription, b.PerSubscription = 4, 4
	done := make(chan int)
	go func() { n, _ := a.RunOnce(context.Background()); done <- n }()
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.received()) < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runOnce(t, b); n != 0 {
		t.Fatalf("a second worker sent %d while the first had 4 in flight", n)
	}
	once.Do(func() { close(release) })
	if n := <-done; n != 4 || rc.maxIn != 4 {
		t.Fatalf("first worker sent %d, at most %d at once", n, rc.maxIn)
	}
	if n := runOnce(t, b); n != 4 {
		t.Fatalf("then the second worker sent %d", n)
	}
	if len(e.deliveries(t, e.org.ID, sub.ID)) != 20 {
		t.Fatal("not every delivery was enqueued")
	}
}

// A receiver that hangs holds up its own subscription's deliveries only:
// another subscription's are sent meanwhile, by the same running worker.
func TestAHangingReceiverHoldsUpOnlyItsOwnSubscription(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	var once sync.Once
	releaseOnce := func() { once.Do(func() { close(release) }) }
	slow := newReceiver(t)
	slow.answer = func(received, int) int { <-release; return http.StatusOK }
	fast := newReceiver(t)
	slowSub, _ := e.subscribe(t, e.org.ID, slow.URL)
	e.subscribe(t, e.org.ID, fast.URL)
	ctx, cancel := context.WithCancel(context.Background())
	w := e.worker(nil)
	w.Now, w.Poll, w.PerSubscription, w.Timeout = time.Now, 5*time.Millisecond, 2, 30*time.Second
	stopped := make(chan struct{})
	go func() { w.Run(ctx); close(stopped) }()
	t.Cleanup(func() { releaseOnce(); <-stopped }) // before the receivers close
	const n = 50
	for i := range n {
		e.emit(t, e.org.ID, directory.EventUserCreated, fmt.Sprintf("u%d", i), nil)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(fast.received()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got, held := len(fast.received()), len(slow.received()); got != n || held != 2 {
		t.Fatalf("the other subscription got %d of %d; the hanging one %d (its bound is 2)", got, n, held)
	}
	// Stopping lets the requests in flight finish and records them.
	cancel()
	select {
	case <-stopped:
		t.Fatal("Run returned with requests in flight")
	case <-time.After(500 * time.Millisecond):
	}
	releaseOnce()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its requests finished")
	}
	delivered := 0
	for _, d := range e.deliveries(t, e.org.ID, slowSub.ID) {
		if d.State == directory.DeliveryDelivered {
			delivered++
		}
	}
	if delivered != 2 {
		t.Fatalf("%d deliveries in flight at the stop were recorded as delivered, want 2", delivered)
	}
}

// Target URLs: the outbound policy refuses internal ones when a
// subscription is saved, and again on the resolved address at connect
// time (a name that resolves to loopback).
func TestTargetsAreHeldToTheOutboundPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	strict := webhooks.Subscriptions{Store: e.db, Box: e.box, Egress: egress.Policy{}}
	private := webhooks.Subscriptions{Store: e.db, Box: e.box, Egress: egress.Policy{AllowPrivate: true}}
	for _, tc := range []struct {
		m   webhooks.Subscriptions
		url string
	}{
		{strict, "http://hooks.example.com/x"},         // http without the flag
		{strict, "https://127.0.0.1/x"},                // loopback
		{strict, "https://10.1.2.3/x"},                 // RFC 1918
		{strict, "https://[::1]:8443/x"},               // IPv6 loopback
		{strict, "https://[::ffff:192.168.0.1]/x"},     // mapped private
		{private, "https://169.254.169.254/latest"},    // cloud metadata: never
		{private, "ftp://hooks.example.com/x"},         // not http(s)
		{private, "https://user:pw@hooks.example.com"}, // credentials
		{private, "/relative"},
	} {
		if _, _, err := tc.m.Create(context.Background(), admin, e.org.ID, directory.SubscriptionInput{URL: tc.url}); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("%s (private allowed: %v): %v, want ErrInvalid", tc.url, tc.m.Egress.AllowPrivate, err)
		}
	}
	if list, _ := e.subs.List(context.Background(), e.org.ID); len(list) != 0 {
		t.Fatalf("refused subscriptions were saved: %+v", list)
	}
	if _, _, err := strict.Create(context.Background(), admin, e.org.ID, directory.SubscriptionInput{URL: "https://hooks.example.com/x"}); err != nil {
		t.Fatalf("a public https URL: %v", err)
	}

	// A name is checked where it resolves: localhost passes the save, and
	// the connection is refused, so the receiver is never reached.
	rc := newReceiver(t)
	port := rc.URL[strings.LastIndex(rc.URL, ":")+1:]
	sub, _, err := strict.Create(context.Background(), admin, e.org.ID, directory.SubscriptionInput{URL: "https://localhost:" + port + "/x"})
	if err != nil {
		t.Fatal(err)
	}
	e.emit(t, e.org.ID, directory.EventUserCreated, "u1", nil)
	w := e.worker(nil)
	w.Client = webhooks.NewClient(egress.Policy{}, time.Second, 4)
	runOnce(t, w)
	d := e.deliveries(t, e.org.ID, sub.ID)[0]
	if len(rc.received()) != 0 || d.State != directory.DeliveryPending || !strings.Contains(d.LastError, "outbound policy") {
		t.Fatalf("receiver got %d; log %+v", len(rc.received()), d)
	}
}

// Rotation: during the overlap both secrets sign (two v1 values), so a
// receiver holding either verifies; after it, or with the previous one
// revoked, only the new one does.
func TestRotationSignsWithBothSecretsDuringTheOverlap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	sub, oldSecret := e.subscribe(t, e.org.ID, rc.URL)
	ctx := context.Background()
	_, newSecret, err := e.subs.Rotate(ctx, admin, e.org.ID, sub.ID, false)
	if err != nil || newSecret == oldSecret || !strings.HasPrefix(newSecret, directory.SubscriptionSecretPrefix) {
		t.Fatal(newSecret, err)
	}
	if s, _ := e.subs.Get(ctx, e.org.ID, sub.ID); s.PreviousSecretUntil == nil {
		t.Fatal("no overlap shown after a rotation")
	}
	w := e.worker(nil)
	send := func() received {
		t.Helper()
		before := len(rc.received())
		e.emit(t, e.org.ID, directory.EventUserUpdated, "u1", nil)
		for runOnce(t, w) > 0 {
		}
		got := rc.received()
		if len(got) != before+1 {
			t.Fatalf("received %d", len(got)-before)
		}
		return got[before]
	}
	r := send()
	if v1Count(r.Signature) != 2 || !verify(oldSecret, r.Signature, r.Body, time.Now(), time.Hour) || !verify(newSecret, r.Signature, r.Body, time.Now(), time.Hour) {
		t.Fatalf("during the overlap: %q", r.Signature)
	}
	e.clock.Advance(postgres.SubscriptionOverlap + time.Minute)
	r = send()
	if v1Count(r.Signature) != 1 || verify(oldSecret, r.Signature, r.Body, time.Now(), 48*time.Hour) || !verify(newSecret, r.Signature, r.Body, time.Now(), 48*time.Hour) {
		t.Fatalf("after the overlap: %q", r.Signature)
	}
	_, newest, err := e.subs.Rotate(ctx, admin, e.org.ID, sub.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	r = send()
	if v1Count(r.Signature) != 1 || verify(newSecret, r.Signature, r.Body, time.Now(), 48*time.Hour) || !verify(newest, r.Signature, r.Body, time.Now(), 48*time.Hour) {
		t.Fatalf("after revoking the previous: %q", r.Signature)
	}
}

// Redeliver sends a delivery's event again, with its id, and logs the
// repeat as a delivery of its own.
func TestRedeliverSendsTheSameEventAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	sub, _ := e.subscribe(t, e.org.ID, rc.URL)
	e.emit(t, e.org.ID, directory.EventUserCreated, "u1", nil)
	w := e.worker(nil)
	for runOnce(t, w) > 0 {
	}
	first := e.deliveries(t, e.org.ID, sub.ID)[0]
	d, err := e.subs.Redeliver(context.Background(), admin, e.org.ID, sub.ID, first.ID)
	if err != nil || d.RedeliveryOf != first.ID || d.State != directory.DeliveryPending || d.EventID() != first.EventID() {
		t.Fatalf("redeliver: %+v %v", d, err)
	}
	for runOnce(t, w) > 0 {
	}
	got := rc.received()
	if len(got) != 2 || got[0].EventID != got[1].EventID || string(got[0].Body) != string(got[1].Body) {
		t.Fatalf("received %+v", got)
	}
	if _, err := e.subs.Redeliver(context.Background(), admin, e.org.ID, sub.ID, first.ID+1000); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("redeliver of no delivery: %v", err)
	}
}

// One organization's subscriptions are its own: another organization's
// events never reach them, and another organization cannot read, change,
// rotate, redeliver or delete them.
func TestSubscriptionsAreTenantIsolated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	globex := e.newOrg(t, "globex")
	acmeRC, globexRC := newReceiver(t), newReceiver(t)
	sub, _ := e.subscribe(t, e.org.ID, acmeRC.URL)
	e.subscribe(t, globex.ID, globexRC.URL)
	e.emit(t, e.org.ID, directory.EventUserCreated, "acme-user", nil)
	e.emit(t, globex.ID, directory.EventUserCreated, "globex-user", nil)
	w := e.worker(nil)
	for runOnce(t, w) > 0 {
	}
	if a, g := acmeRC.received(), globexRC.received(); len(a) != 1 || a[0].Event.ResourceID != "acme-user" ||
		len(g) != 1 || g[0].Event.ResourceID != "globex-user" {
		t.Fatalf("acme got %+v, globex got %+v", a, g)
	}
	d := e.deliveries(t, e.org.ID, sub.ID)[0]
	enabled := false
	for what, err := range map[string]error{
		"get": func() error { _, err := e.subs.Get(ctx, globex.ID, sub.ID); return err }(),
		"update": func() error {
			_, err := e.subs.Update(ctx, admin, globex.ID, sub.ID, directory.SubscriptionChange{Enabled: &enabled})
			return err
		}(),
		"rotate": func() error { _, _, err := e.subs.Rotate(ctx, admin, globex.ID, sub.ID, true); return err }(),
		"log": func() error {
			_, _, err := e.subs.Deliveries(ctx, globex.ID, sub.ID, postgres.DeliveryQuery{})
			return err
		}(),
		"redeliver": func() error { _, err := e.subs.Redeliver(ctx, admin, globex.ID, sub.ID, d.ID); return err }(),
		"delete":    e.subs.Delete(ctx, admin, globex.ID, sub.ID),
	} {
		if !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("globex %s of acme's subscription: %v, want ErrNotFound", what, err)
		}
	}
	if list, _ := e.subs.List(ctx, globex.ID); len(list) != 1 || list[0].ID == sub.ID {
		t.Fatalf("globex lists %+v", list)
	}
	if s, err := e.subs.Get(ctx, e.org.ID, sub.ID); err != nil || !s.Enabled {
		t.Fatalf("acme's subscription after globex's attempts: %+v %v", s, err)
	}
}

func TestTheDeliveryLogIsPruned(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rc := newReceiver(t)
	sub, _ := e.subscribe(t, e.org.ID, rc.URL)
	e.emit(t, e.org.ID, directory.EventUserCreated, "old", nil)
	w := e.worker(nil)
	for runOnce(t, w) > 0 {
	}
	e.clock.Advance(postgres.DeliveryLogAge + time.Hour)
	e.emit(t, e.org.ID, directory.EventUserCreated, "new", nil)
	for runOnce(t, w) > 0 {
	}
	n, err := e.db.PruneDeliveries(context.Background(), e.clock.Now(), 1000)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d: %v", n, err)
	}
	if log := e.deliveries(t, e.org.ID, sub.ID); len(log) != 1 {
		t.Fatalf("log after pruning: %+v", log)
	}
}
