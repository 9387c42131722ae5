// Package webhooks is scimbridge's outbound webhooks: organizations
// subscribe URLs to their change events (docs/events.md), and a worker in
// every replica sends each numbered event to each subscription that asks
// for it, signed. (internal/hooks is the other direction: Git hosts'
// push webhooks coming in.)
//
// Why it is shaped as it is:
//
//   - The queue is the database (the events table is the transactional
//     outbox): a subscription's cursor over the feed's positions advances
//     in the transaction that inserts its deliveries, so every event is
//     enqueued once per subscription, whatever crashes.
//   - Replicas share nothing else. A worker leases the deliveries it sends
//     (FOR UPDATE SKIP LOCKED, then a lease longer than any send), so two
//     replicas never send one delivery at once; a worker that dies leaves
//     leases that run out, and another sends those deliveries again, with
//     the same event id: at least once, and receivers deduplicate by the
//     X-Scimbridge-Event-Id header.
//   - Per resource, order is the feed's: a delivery waits while an
//     earlier one of the same resource is pending for the subscription.
//     Across resources deliveries run concurrently, up to a bound per
//     subscription counted over every replica's leases, on keep-alive
//     connections: one slow receiver holds its own deliveries only.
//   - Outcomes are written in batches (a transaction per batch, not per
//     delivery), which is what lets one replica keep up with a
//     100,000-user initial push (docs/BENCHMARKS.md).
//   - Every request goes through internal/egress: https to public
//     addresses unless the operator allows private networks, checked again
//     on the resolved address at connect time (DNS rebinding), no
//     redirects followed.
package webhooks

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Store is what delivery needs of the store.
type Store interface {
	// SequenceEvents numbers committed events (the feed's sequencer; safe
	// to call from every replica).
	SequenceEvents(ctx context.Context, max int) (int, error)
	// FanOutEvents enqueues numbered events as deliveries of the
	// subscriptions that ask for them; more: some are left.
	FanOutEvents(ctx context.Context, now time.Time, max int) (enqueued int, more bool, err error)
	// ClaimDeliveries leases due deliveries.
	ClaimDeliveries(ctx context.Context, q postgres.ClaimRequest) ([]postgres.ClaimedDelivery, error)
	// RecordDeliveries records outcomes and returns the subscriptions it
	// disabled for persistent failure.
	RecordDeliveries(ctx context.Context, now time.Time, results []postgres.DeliveryResult) ([]directory.Subscription, error)
	// PruneDeliveries bounds the delivery log.
	PruneDeliveries(ctx context.Context, now time.Time, max int) (int, error)
}

// Opener opens sealed secrets (a *secretbox.Box).
type Opener interface {
	Open(sealed, context []byte) ([]byte, error)
}

// SecretContext binds a sealed signing secret to its subscription.
func SecretContext(orgID, subscriptionID string) []byte {
	return []byte("subscription/" + orgID + "/" + subscriptionID)
}

// Defaults of a Worker.
const (
	DefaultTimeout         = 10 * time.Second
	DefaultPerSubscription = 64
	DefaultMaxInFlight     = 256
	DefaultRetryFor        = 24 * time.Hour
	DefaultBackoffBase     = 5 * time.Second
	DefaultBackoffMax      = time.Hour
	DefaultPoll            = time.Second
)

// maxResponse is how much of an answer is read (and thrown away), so that
// its connection can carry the next request.
const maxResponse = 64 << 10

// Worker delivers events. Set Store, Box and Client; the rest has
// defaults.
type Worker struct {
	Store Store
	Box   Opener
	// Client sends the requests: NewClient's, held to the outbound policy.
	Client *http.Client
	Log    *slog.Logger
	// Now is the clock of leases, retries and the delivery log; default
	// time.Now.
	Now func() time.Time
	// Jitter returns a random duration in [0, d]; default uniform.
	Jitter func(d time.Duration) time.Duration
	// Timeout bounds one request, answer included (10 s).
	Timeout time.Duration
	// PerSubscription bounds one subscription's deliveries in flight,
	// over every replica (64).
	PerSubscription int
	// MaxInFlight bounds this worker's requests in flight (256).
	MaxInFlight int
	// RetryFor is how long a failing delivery is retried before it is
	// given up (24 h).
	RetryFor time.Duration
	// BackoffBase and BackoffMax shape the wait before a retry: full
	// jitter over BackoffBase·2^(attempts−1), at most BackoffMax.
	BackoffBase, BackoffMax time.Duration
	// Poll is how often an idle worker looks for work (1 s).
	Poll time.Duration
	// Lease is how long a claimed delivery is this worker's: past it,
	// another worker may send it again. Default Timeout + 30 s.
	Lease time.Duration

	initOnce sync.Once
	id       string
	claims   uint64
	mu       sync.Mutex
}

// NewClient is the HTTP client of deliveries: held to the policy
// (internal/egress), with keep-alive connections for perSubscription
// concurrent requests per host.
func NewClient(p egress.Policy, timeout time.Duration, perSubscription int) *http.Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if perSubscription <= 0 {
		perSubscription = DefaultPerSubscription
	}
	return p.PooledClient(timeout, perSubscription)
}

func (w *Worker) init() {
	w.initOnce.Do(func() {
		if w.Log == nil {
			w.Log = slog.New(slog.DiscardHandler)
		}
		if w.Now == nil {
			w.Now = time.Now
		}
		if w.Jitter == nil {
			w.Jitter = func(d time.Duration) time.Duration {
				if d <= 0 {
					return 0
				}
				return time.Duration(mrand.Int64N(int64(d) + 1))
			}
		}
		if w.Timeout <= 0 {
			w.Timeout = DefaultTimeout
		}
		if w.PerSubscription <= 0 {
			w.PerSubscription = DefaultPerSubscription
		}
		if w.MaxInFlight <= 0 {
			w.MaxInFlight = DefaultMaxInFlight
		}
		if w.RetryFor <= 0 {
			w.RetryFor = DefaultRetryFor
		}
		if w.BackoffBase <= 0 {
			w.BackoffBase = DefaultBackoffBase
		}
		if w.BackoffMax <= 0 {
			w.BackoffMax = DefaultBackoffMax
		}
		if w.Poll <= 0 {
			w.Poll = DefaultPoll
		}
		if w.Lease <= 0 {
			w.Lease = w.Timeout + 30*time.Second
		}
		if w.Client == nil {
			w.Client = NewClient(egress.Policy{}, w.Timeout, w.PerSubscription)
		}
		var b [8]byte
		_, _ = rand.Read(b[:])
		w.id = hex.EncodeToString(b[:])
	})
}

// token names one claim of this worker.
func (w *Worker) token() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.claims++
	return w.id + "/" + strconv.FormatUint(w.claims, 10)
}

// backoff is the wait before the attempt after the n-th failed one.
func (w *Worker) backoff(n int) time.Duration {
	ceil := w.BackoffMax
	if n-1 < 30 {
		ceil = min(w.BackoffBase<<max(n-1, 0), w.BackoffMax)
	}
	// Never less than a second: full jitter can draw zero, and a failing
	// receiver should not be asked again at once.
	return max(w.Jitter(ceil), time.Second)
}

// fanOutBatch is how many events a fan-out takes per subscription and
// transaction.
const fanOutBatch = 5000

// prepare numbers committed events and enqueues them: all of them, or
// (rounds > 0) at most rounds batches, so that a large backlog is
// enqueued between claims instead of before the first one. It reports
// whether events are left to enqueue.
func (w *Worker) prepare(ctx context.Context, rounds int) (bool, error) {
	if _, err := w.Store.SequenceEvents(ctx, 10000); err != nil {
		return false, fmt.Errorf("sequence events: %w", err)
	}
	for i := 0; rounds <= 0 || i < rounds; i++ {
		_, more, err := w.Store.FanOutEvents(ctx, w.Now(), fanOutBatch)
		if err != nil {
			return false, fmt.Errorf("fan out events: %w", err)
		}
		if !more || ctx.Err() != nil {
			return false, nil
		}
	}
	return true, nil
}

func (w *Worker) claim(ctx context.Context, max int) ([]postgres.ClaimedDelivery, error) {
	return w.Store.ClaimDeliveries(ctx, postgres.ClaimRequest{
		Now: w.Now(), Lease: w.Lease, Token: w.token(), PerSubscription: w.PerSubscription, Max: max,
	})
}

// RunOnce enqueues what is new, sends every delivery due now (as many as
// MaxInFlight), waits for them and records how they went. It reports how
// many it sent. Tests drive the worker with it; serve runs Run.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.init()
	if _, err := w.prepare(ctx, 0); err != nil {
		return 0, err
	}
	claimed, err := w.claim(ctx, w.MaxInFlight)
	if err != nil {
		return 0, fmt.Errorf("claim deliveries: %w", err)
	}
	results := make([]postgres.DeliveryResult, len(claimed))
	var wg sync.WaitGroup
	for i, c := range claimed {
		wg.Go(func() { results[i] = w.send(ctx, c) })
	}
	wg.Wait()
	return len(claimed), w.record(ctx, results)
}

func (w *Worker) record(ctx context.Context, results []postgres.DeliveryResult) error {
	disabled, err := w.Store.RecordDeliveries(ctx, w.Now(), results)
	if err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	for _, s := range disabled {
		w.Log.Warn("webhook subscription disabled: every delivery has failed for 24 hours",
			"org_id", s.OrgID, "subscription", s.ID, "failing_since", s.FailingSince)
	}
	return nil
}

// Run delivers until ctx ends, then lets the requests in flight finish
// (each within Timeout) and records them before it returns. Claims,
// sends and records overlap: a slow receiver holds up its own deliveries
// only, and outcomes are recorded in batches.
func (w *Worker) Run(ctx context.Context) {
	w.init()
	// Sends and records outlive ctx: a request under way is finished and
	// recorded rather than abandoned to be sent again.
	bg := context.WithoutCancel(ctx)
	results := make(chan postgres.DeliveryResult, w.MaxInFlight)
	freed := make(chan int, w.MaxInFlight)
	recorderDone := make(chan struct{})
	go func() {
		defer close(recorderDone)
		w.recordLoop(bg, results, freed)
	}()
	// The enqueuer numbers and fans out new events on a connection of its
	// own, so that claims never wait behind it; it wakes the dispatcher
	// when it has enqueued something.
	wake := make(chan struct{}, 1)
	enqueuerDone := make(chan struct{})
	go func() {
		defer close(enqueuerDone)
		for ctx.Err() == nil {
			backlog, err := w.prepare(ctx, 1)
			if err != nil && ctx.Err() == nil {
				w.logStoreError("webhooks: enqueue", err)
			}
			select {
			case wake <- struct{}{}:
			default:
			}
			if backlog {
				continue
			}
			select {
			case <-time.After(w.Poll / 4):
			case <-ctx.Done():
			}
		}
	}()
	inFlight := 0
	var lastPrune time.Time
	poll := time.NewTimer(0)
	defer poll.Stop()
	for ctx.Err() == nil {
		busy := false
		if room := w.MaxInFlight - inFlight; room > 0 {
			claimed, err := w.claim(ctx, room)
			if err != nil && ctx.Err() == nil {
				w.logStoreError("webhooks: claim", err)
			}
			for _, c := range claimed {
				inFlight++
				go func() { results <- w.send(bg, c) }()
			}
			busy = len(claimed) == room
		}
		if now := w.Now(); now.Sub(lastPrune) > 10*time.Minute {
			lastPrune = now
			if _, err := w.Store.PruneDeliveries(ctx, now, 100000); err != nil && ctx.Err() == nil {
				w.logStoreError("webhooks: prune the delivery log", err)
			}
		}
		// Wait for a freed slot (its lease is gone: the subscription may
		// have room again), new deliveries, or the poll.
		if !busy {
			poll.Reset(w.Poll)
		}
		select {
		case n := <-freed:
			inFlight -= n
		case <-wake:
		case <-poll.C:
		case <-ctx.Done():
		}
		// Take every slot freed meanwhile, so that the next claim is one
		// round trip for all of them rather than one per recorded batch.
	drain:
		for {
			select {
			case n := <-freed:
				inFlight -= n
			default:
				break drain
			}
		}
		if busy {
			// Out of room: wait for slots before claiming again.
			for inFlight >= w.MaxInFlight && ctx.Err() == nil {
				select {
				case n := <-freed:
					inFlight -= n
				case <-ctx.Done():
				}
			}
		}
	}
	<-enqueuerDone
	for inFlight > 0 {
		inFlight -= <-freed
	}
	close(results)
	<-recorderDone
}

// recordLoop records outcomes in batches: whatever has arrived by the
// time the previous batch is written.
func (w *Worker) recordLoop(ctx context.Context, results <-chan postgres.DeliveryResult, freed chan<- int) {
	for r := range results {
		batch := []postgres.DeliveryResult{r}
	more:
		for len(batch) < 1000 {
			select {
			case r, ok := <-results:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		for attempt := 0; ; attempt++ {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := w.record(rctx, batch)
			cancel()
			if err == nil || attempt == 2 {
				if err != nil {
					// The leases run out and the deliveries are sent
					// again: at least once.
					w.logStoreError("webhooks: record outcomes", err)
				}
				break
			}
			time.Sleep(time.Second)
		}
		freed <- len(batch)
	}
}

func (w *Worker) logStoreError(msg string, err error) {
	if directory.Unavailable(err) {
		w.Log.Warn(msg+": the database is unavailable; retrying", "err", err)
		return
	}
	w.Log.Error(msg, "err", err)
}

// send makes one attempt at a delivery and says how it went.
func (w *Worker) send(ctx context.Context, c postgres.ClaimedDelivery) postgres.DeliveryResult {
	r := postgres.DeliveryResult{OrgID: c.OrgID, ID: c.ID, Token: c.Token}
	if c.Event.Type == "" {
		r.State, r.Error = directory.DeliveryFailed, errGone.Error()
		return r
	}
	code, latency, err := w.post(ctx, c)
	r.StatusCode, r.Latency = code, latency
	now := w.Now()
	if err == nil {
		r.State = directory.DeliveryDelivered
		return r
	}
	r.Error = err.Error()
	if now.Sub(c.CreatedAt) >= w.RetryFor {
		r.State = directory.DeliveryFailed
		return r
	}
	r.State = directory.DeliveryPending
	r.NextAttemptAt = now.Add(w.backoff(c.Attempts + 1))
	return r
}

// Errors shown in the delivery log: fixed sentences, so that the log
// (read by organization admins) does not describe the service's network.
var (
	errTimeout   = errors.New("no answer within the timeout")
	errRefused   = errors.New("the outbound policy does not allow this destination (https to public addresses only, unless the operator allows private networks)")
	errRedirect  = errors.New("the answer was a redirect, which is not followed")
	errConnect   = errors.New("could not connect or send the request")
	errNoSecret  = errors.New("the signing secret cannot be opened (was the service's secret key changed?)")
	errBadStatus = errors.New("the answer's status was not 2xx")
	errGone      = errors.New("the event is no longer kept (retention): it was not sent")
)

func (w *Worker) post(ctx context.Context, c postgres.ClaimedDelivery) (int, time.Duration, error) {
	secrets := make([][]byte, 0, len(c.Sealed))
	for _, s := range c.Sealed {
		p, err := w.Box.Open(s, SecretContext(c.OrgID, c.SubscriptionID))
		if err != nil {
			w.Log.Error("webhooks: cannot open a signing secret", "org_id", c.OrgID, "subscription", c.SubscriptionID)
			return 0, 0, errNoSecret
		}
		secrets = append(secrets, p)
	}
	body, err := json.Marshal(c.Event)
	if err != nil {
		return 0, 0, fmt.Errorf("encode the event: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, errConnect
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scimbridge-webhooks/1")
	req.Header.Set(EventIDHeader, c.Event.EventID())
	req.Header.Set(SignatureHeader, Sign(secrets, w.Now(), body))
	start := time.Now()
	resp, err := w.Client.Do(req)
	if err != nil {
		latency := time.Since(start)
		w.Log.Debug("webhooks: delivery failed", "org_id", c.OrgID, "subscription", c.SubscriptionID, "event", c.Event.EventID(), "err", err)
		return 0, latency, classify(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	latency := time.Since(start)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, latency, errBadStatus
	}
	return resp.StatusCode, latency, nil
}

func classify(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, egress.ErrRefused):
		return errRefused
	case errors.Is(err, egress.ErrRedirect):
		return errRedirect
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errTimeout
	default:
		return errConnect
	}
}
