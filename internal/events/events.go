// Package events runs the change feed's two background loops
// (docs/events.md):
//
//   - the sequencer, which gives committed events their feed position
//     (postgres.SequenceEvents) every Interval, and at once again while a
//     pass numbers a full batch, so that an event reaches the feed within
//     a fraction of a second of its commit, and a burst (an IdP's initial
//     push) is drained as fast as it is written;
//   - retention, which deletes events older than Retention every
//     PruneEvery (postgres.PruneEvents); a cursor older than what it
//     deleted is answered 410 Gone by the feed.
//
// Every replica runs both: the sequencer is a single writer by a row lock
// (a replica that finds another's pass in progress skips its turn), and
// pruning is idempotent. The clock is injected (Config.Now, Config.After),
// so that tests drive the loops without sleeping.
package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Store is what the loops need of the store.
type Store interface {
	// SequenceEvents numbers up to max committed, unnumbered events and
	// reports how many it numbered (0 when another replica's pass holds
	// the sequencer).
	SequenceEvents(ctx context.Context, max int) (int, error)
	// EventsLag is the age of the oldest committed event not yet numbered
	// (0: none waits).
	EventsLag(ctx context.Context) (time.Duration, error)
	// PruneEvents deletes up to max numbered events that occurred before
	// cutoff and reports how many it deleted.
	PruneEvents(ctx context.Context, cutoff time.Time, max int) (int, error)
}

// Defaults of Config.
const (
	DefaultInterval   = 200 * time.Millisecond
	DefaultBatch      = 1000
	DefaultRetention  = 30 * 24 * time.Hour
	DefaultPruneEvery = time.Hour
	DefaultPruneBatch = 10000
	// lagEvery is how often the sequencer measures its lag: a gauge that
	// a scrape every few seconds reads needs no more.
	lagEvery = time.Second
)

// Config configures a Runner. Only Store is required.
type Config struct {
	Store  Store
	Logger *slog.Logger
	// Interval is the sequencer's pause after a pass that left nothing
	// waiting (default 200 ms).
	Interval time.Duration
	// Batch bounds the events one pass numbers, in one transaction
	// (default 1000).
	Batch int
	// Retention is how long events are kept (default 30 days).
	Retention time.Duration
	// PruneEvery is how often retention runs (default hourly); PruneBatch
	// bounds the events one statement deletes (default 10,000), so that a
	// large backlog is deleted in short transactions.
	PruneEvery time.Duration
	PruneBatch int
	// Metrics, when set, receives what the loops do.
	Metrics *Metrics
	// Now and After are the clock (default time.Now and time.After).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Runner runs the sequencer and retention loops.
type Runner struct{ cfg Config }

// New returns a Runner; Run starts it.
func New(cfg Config) *Runner {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = DefaultPruneEvery
	}
	if cfg.PruneBatch <= 0 {
		cfg.PruneBatch = DefaultPruneBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	return &Runner{cfg: cfg}
}

// Run runs both loops until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() { r.prune(ctx); close(done) }()
	r.sequence(ctx)
	<-done
}

// sequence is the sequencer's loop.
func (r *Runner) sequence(ctx context.Context) {
	var lastLag time.Time
	failing := false
	for ctx.Err() == nil {
		if now := r.cfg.Now(); now.Sub(lastLag) >= lagEvery {
			lastLag = now
			if lag, err := r.cfg.Store.EventsLag(ctx); err == nil {
				r.cfg.Metrics.lag(lag)
			}
		}
		n, err := r.cfg.Store.SequenceEvents(ctx, r.cfg.Batch)
		switch {
		case err != nil && ctx.Err() == nil:
			// Logged once per outage, not five times a second.
			if !failing {
				r.cfg.Logger.Error("event sequencer", "err", err)
			}
			failing = true
			r.cfg.Metrics.failed()
		case err == nil:
			if failing {
				r.cfg.Logger.Info("event sequencer recovered")
			}
			failing = false
			r.cfg.Metrics.numbered(n)
			if n == r.cfg.Batch {
				continue // more are waiting
			}
		}
		select {
		case <-ctx.Done():
		case <-r.cfg.After(r.cfg.Interval):
		}
	}
}

// prune is retention's loop: a pass at start, then every PruneEvery.
func (r *Runner) prune(ctx context.Context) {
	for ctx.Err() == nil {
		r.PruneOnce(ctx)
		select {
		case <-ctx.Done():
		case <-r.cfg.After(r.cfg.PruneEvery):
		}
	}
}

// PruneOnce deletes the events older than the retention, a batch at a
// time, and reports how many it deleted.
func (r *Runner) PruneOnce(ctx context.Context) int {
	cutoff := r.cfg.Now().Add(-r.cfg.Retention)
	total := 0
	for ctx.Err() == nil {
		n, err := r.cfg.Store.PruneEvents(ctx, cutoff, r.cfg.PruneBatch)
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.Logger.Error("event retention", "err", err)
			}
			break
		}
		total += n
		r.cfg.Metrics.pruned(n)
		if n < r.cfg.PruneBatch {
			break
		}
	}
	if total > 0 {
		r.cfg.Logger.Info("event retention", "deleted", total, "before", cutoff)
	}
	return total
}

// Metrics are the loops' Prometheus metrics. Their labels are fixed sets
// (none but outcome): no organization or event type is a label.
type Metrics struct {
	numberedTotal prometheus.Counter
	passes        *prometheus.CounterVec
	lagSeconds    prometheus.Gauge
	prunedTotal   prometheus.Counter
}

// NewMetrics registers the loops' metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		numberedTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "scimbridge_events_numbered_total",
			Help: "Events the sequencer of this replica gave a feed position."}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimbridge_event_sequencer_passes_total",
			Help: "Sequencer passes of this replica, by outcome (ok, error)."}, []string{"outcome"}),
		lagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Name: "scimbridge_event_sequencer_lag_seconds",
			Help: "Age of the oldest committed event without a feed position (counted from its transaction's start), measured each second; 0 when none waits."}),
		prunedTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "scimbridge_events_pruned_total",
			Help: "Events deleted by retention on this replica."}),
	}
	reg.MustRegister(m.numberedTotal, m.passes, m.lagSeconds, m.prunedTotal)
	return m
}

func (m *Metrics) numbered(n int) {
	if m != nil {
		m.numberedTotal.Add(float64(n))
		m.passes.WithLabelValues("ok").Inc()
	}
}

func (m *Metrics) failed() {
	if m != nil {
		m.passes.WithLabelValues("error").Inc()
	}
}

func (m *Metrics) lag(d time.Duration) {
	if m != nil {
		m.lagSeconds.Set(d.Seconds())
	}
}

func (m *Metrics) pruned(n int) {
	if m != nil {
		m.prunedTotal.Add(float64(n))
	}
}
