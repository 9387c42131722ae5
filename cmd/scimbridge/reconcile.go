package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scimbridge/internal/directory"
	reconcile "github.com/scimbridge/scimbridge/sync"
)

func init() {
	register(command{name: "reconcile", summary: "One reconciliation run (with --once): auto-map Git identities, report conflicts, follow user lifecycle, expire and prune; prints its summary.", flags: reconcileFlags})
}

type reconcileConfig struct {
	schedule        string
	retentionDays   int
	serviceAccounts string
}

func reconcileFlagSet(fs *flag.FlagSet) *reconcileConfig {
	rc := &reconcileConfig{}
	fs.StringVar(&rc.schedule, "reconcile-schedule", "@every 5m", "cron schedule of the reconciler inside serve, e.g. \"@every 5m\" or \"*/10 * * * *\" (SCIMBRIDGE_RECONCILE_SCHEDULE)")
	fs.IntVar(&rc.retentionDays, "retention-days", 180, "prune unmapped Git identities nobody saw for this many days (SCIMBRIDGE_RETENTION_DAYS)")
	fs.StringVar(&rc.serviceAccounts, "service-accounts", "", "YAML file declaring service accounts, their role bindings and Git identities; the reconciler makes the database match it (SCIMBRIDGE_SERVICE_ACCOUNTS)")
	return rc
}

func (rc *reconcileConfig) validate() error {
	if rc.retentionDays < 1 || rc.retentionDays > 36500 {
		return usagef("--retention-days %d: want 1-36500", rc.retentionDays)
	}
	return nil
}

func (rc *reconcileConfig) reconciler(db *database, log *slog.Logger, obs reconcile.Observer) *reconcile.Reconciler {
	return reconcile.New(reconcile.Config{Store: db.DB, Logger: log, Schedule: rc.schedule, RetentionDays: rc.retentionDays,
		ServiceAccountsFile: rc.serviceAccounts, Observer: obs})
}

func reconcileFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	rc := reconcileFlagSet(fs)
	once := fs.Bool("once", false, "run once and exit (required: the scheduled reconciler runs inside serve)")
	dry := fs.Bool("dry-run", false, "print the plan and change nothing")
	org := fs.String("org", "", "only this organization (default: all)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("reconcile", args); err != nil {
			return err
		}
		if !*once {
			return usagef("reconcile: --once is required (serve runs the reconciler on its schedule)")
		}
		if err := rc.validate(); err != nil {
			return err
		}
		if *org != "" {
			if err := directory.ValidateSlug(*org); err != nil {
				return usagef("reconcile --org: %v", err)
			}
		}
		return withDatabase(ctx, e, c, false, func(db *database, log *slog.Logger) error {
			sum, err := rc.reconciler(db, log, nil).RunOnce(ctx, *org, *dry)
			fmt.Fprint(e.stdout, sum.String())
			return err
		})
	}
}

// reconcileMetrics counts runs, changes and open conflicts for Prometheus.
type reconcileMetrics struct {
	runs      *prometheus.CounterVec
	changes   *prometheus.CounterVec
	conflicts *prometheus.GaugeVec
	duration  prometheus.Histogram
}

func newReconcileMetrics(reg prometheus.Registerer) *reconcileMetrics {
	m := &reconcileMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimbridge_reconcile_runs_total",
			Help: "Reconciliation runs per organization, by outcome (ok, error, cancelled; skipped when another replica held the lock, or had run the tick)."}, []string{"outcome"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "scimbridge_reconcile_changes_total",
			Help: "Rows the reconciler changed, by job."}, []string{"job"}),
		conflicts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "scimbridge_reconcile_open_conflicts",
			Help: "Conflicts open after the last run, by organization."}, []string{"org"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "scimbridge_reconcile_run_seconds",
			Help: "Duration of one organization's reconciliation run.", Buckets: prometheus.ExponentialBuckets(0.005, 3, 9)}),
	}
	reg.MustRegister(m.runs, m.changes, m.conflicts, m.duration)
	return m
}

func (m *reconcileMetrics) ObserveRun(org, outcome string, d time.Duration) {
	m.runs.WithLabelValues(outcome).Inc()
	if org != "" {
		m.duration.Observe(d.Seconds())
	}
}

func (m *reconcileMetrics) ObserveJob(org string, j reconcile.JobSummary) {
	m.changes.WithLabelValues(j.Job).Add(float64(j.Changed))
	if j.Job == reconcile.JobConflicts {
		m.conflicts.WithLabelValues(org).Set(float64(j.Conflicts))
	}
}
