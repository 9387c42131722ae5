package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	stdsync "sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Store is what the reconciler needs of the store; *postgres.DB has it.
// A run's reads and writes go through the locked session.
type Store interface {
	// Organizations lists every organization.
	Organizations(ctx context.Context) ([]directory.Organization, error)
	// Organization finds one by slug. ErrNotFound.
	Organization(ctx context.Context, slug string) (directory.Organization, error)
	// LockReconcile takes the reconciler's advisory lock on a connection
	// of its own. postgres.ErrReconcileLocked: another run holds it.
	LockReconcile(ctx context.Context) (*postgres.ReconcileSession, error)
}

// Observer receives what runs did, for metrics (the serve command backs
// it with Prometheus; this package stays free of it). It is called from
// the running goroutine and must be quick and safe for concurrent use.
type Observer interface {
	// ObserveRun is called once per organization per run, with the
	// outcome (ok, error, cancelled) and how long the run took; and with
	// org "" and outcome "skipped" once for a run that found the lock
	// taken, and once per organization a scheduled run left out because
	// another replica had run its tick.
	ObserveRun(org, outcome string, d time.Duration)
	// ObserveJob is called after each job of a run that was not dry.
	// Changed counts rows changed; for the conflicts job, Conflicts is the
	// number open after the run (a gauge, not a count of new ones).
	ObserveJob(org string, j JobSummary)
}

// Config configures a Reconciler. Only Store is required.
type Config struct {
	Store  Store
	Logger *slog.Logger
	// Schedule is a cron spec (five fields, or a descriptor such as
	// "@every 5m" or "@hourly"). Default "@every 5m".
	Schedule string
	// RetentionDays: unmapped identities nobody saw for this many days are
	// deleted. Default 180: twice the 90-day "recent" window of the
	// mapping screen, so an identity that left that screen still has a
	// season to come back before it goes, and a mapped identity is never
	// deleted (it attributes past runs).
	RetentionDays int
	// HistoryDays: run records and resolved conflicts older than this are
	// deleted. Default 30.
	HistoryDays int
	// FullSweepEvery: a run is full (reads everything) when the last
	// successful full run is older than this. Default 24h.
	FullSweepEvery time.Duration
	// Overlap moves the watermark back, to catch changes whose
	// transaction began before the previous run's snapshot and committed
	// after it. Default one minute.
	Overlap time.Duration
	// ServiceAccountsFile is the YAML file declaring service accounts
	// (issue 6, `serve --service-accounts FILE`).
	// It is read each run; an invalid file is rejected whole (the job
	// fails with every line and reason) and changes nothing. "" for none.
	// See declared.go for the format.
	ServiceAccountsFile string
	// Observer receives metrics; nil for none.
	Observer Observer
	// Now is the clock of expiry and retention; default time.Now. (The
	// watermark uses the database's clock.)
	Now func() time.Time
	// AfterJob, when set, is called after each job of each organization
	// with the run's context: tests use it to cancel a run midway or to
	// hold the lock while another run tries it.
	AfterJob func(ctx context.Context, org, job string)
}

// Defaults.
const (
	DefaultSchedule       = "@every 5m"
	DefaultRetentionDays  = 180
	DefaultHistoryDays    = 30
	DefaultFullSweepEvery = 24 * time.Hour
	DefaultOverlap        = time.Minute
)

// sessionRetention is how long an ended login session is kept: a day
// lets an admin see why someone was logged out (revoked, or expired) before
// the row goes, and an ended session is never usable again.
const sessionRetention = 24 * time.Hour

// deliveryRetention is how long a webhook delivery's record is kept, and
// so how long a copy of the delivery is ignored: a week covers the Git
// hosts' retries and GitHub's manual redelivery (offered for three days).
// A copy that comes later is ingested again, harmlessly: commits count
// once whatever the delivery.
const deliveryRetention = 7 * 24 * time.Hour

// Actor is who the reconciler's changes are audited as.
var Actor = directory.Actor{Kind: "system", Name: "reconciler"}

// Job names, in the order a run does them.
const (
	JobAutoMap         = "auto-map"
	JobConflicts       = "conflicts"
	JobLifecycle       = "lifecycle"
	JobServiceAccounts = "service-accounts"
	JobExpiry          = "expiry"
)

// Reconciler runs the jobs.
type Reconciler struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// New returns a reconciler with cfg's zero fields set to their defaults.
func New(cfg Config) *Reconciler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Schedule == "" {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.RetentionDays <= 0 {
		cfg.RetentionDays = DefaultRetentionDays
	}
	if cfg.HistoryDays <= 0 {
		cfg.HistoryDays = DefaultHistoryDays
	}
	if cfg.FullSweepEvery <= 0 {
		cfg.FullSweepEvery = DefaultFullSweepEvery
	}
	if cfg.Overlap <= 0 {
		cfg.Overlap = DefaultOverlap
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reconciler{cfg: cfg, log: cfg.Logger, now: cfg.Now}
}

const skipReason = "another run holds the reconcile lock (another replica or a CLI run is reconciling)"

// ranThisTickReason is why a scheduled run did nothing: its tick came
// after another replica's run of it had ended.
const ranThisTickReason = "another replica ran this tick"

// outcomeRanThisTick is the outcome of an organization a scheduled run
// leaves out; it is observed, not recorded.
const outcomeRanThisTick = "skipped"

// maxTickSkew bounds how far apart in time replicas may fire one tick
// (their clocks' skew and their schedulers' delays) for the tick to still
// run once.
const maxTickSkew = time.Minute

// tickWindow is how recently an organization's last run may have begun
// for a scheduled run of schedule s, firing at now, to take it as this
// tick's, run by another replica whose tick came first: half the
// schedule's period, at most maxTickSkew, so that the next tick runs and
// a run by hand some time before the tick does not stand in for it.
func tickWindow(s cron.Schedule, now time.Time) time.Duration {
	next := s.Next(now)
	return min(s.Next(next).Sub(next)/2, maxTickSkew)
}

// RunOnce runs every job once, for the organization orgSlug or, when it is
// "", for every organization in turn, under the lock. A dry run computes
// the plan and changes nothing, and is not recorded; otherwise each
// organization's run is recorded. A run that finds the lock taken returns
// a Summary with Skipped set and a nil error. The error is non-nil when an
// organization's run failed or was cancelled; the Summary says which and
// why.
func (r *Reconciler) RunOnce(ctx context.Context, orgSlug string, dryRun bool) (Summary, error) {
	return r.runOnce(ctx, orgSlug, dryRun, 0)
}

// runOnce is RunOnce; with thisTick > 0 (a scheduled run), it leaves out
// each organization whose last successful run began less than thisTick
// ago by the database's clock: another replica ran this tick already.
func (r *Reconciler) runOnce(ctx context.Context, orgSlug string, dryRun bool, thisTick time.Duration) (Summary, error) {
	sum := Summary{DryRun: dryRun, StartedAt: r.now()}
	sess, err := r.cfg.Store.LockReconcile(ctx)
	if errors.Is(err, postgres.ErrReconcileLocked) {
		sum.Skipped, sum.SkipReason = true, skipReason
		sum.FinishedAt = r.now()
		if r.cfg.Observer != nil {
			r.cfg.Observer.ObserveRun("", "skipped", 0)
		}
		return sum, nil
	}
	if err != nil {
		return sum, fmt.Errorf("reconcile: take the lock: %w", err)
	}
	defer sess.Close()
	var orgs []directory.Organization
	if orgSlug != "" {
		o, err := r.cfg.Store.Organization(ctx, orgSlug)
		if err != nil {
			return sum, err
		}
		orgs = []directory.Organization{o}
	} else if orgs, err = r.cfg.Store.Organizations(ctx); err != nil {
		return sum, fmt.Errorf("reconcile: list organizations: %w", err)
	}
	failed, ranThisTick := 0, 0
	declared := &declaredOnce{}
	for _, o := range orgs {
		if ctx.Err() != nil {
			break
		}
		res := r.runOrg(ctx, sess, o, dryRun, declared, thisTick)
		switch res.Outcome {
		case outcomeRanThisTick:
			ranThisTick++
			continue
		case postgres.RunOK:
		default:
			failed++
		}
		sum.Orgs = append(sum.Orgs, res)
	}
	sum.FinishedAt = r.now()
	if ranThisTick > 0 && ranThisTick == len(orgs) {
		sum.Skipped, sum.SkipReason = true, ranThisTickReason
	}
	switch {
	case ctx.Err() != nil:
		return sum, fmt.Errorf("reconcile: %w", ctx.Err())
	case failed > 0:
		return sum, fmt.Errorf("reconcile: %d of %d organizations failed", failed, len(orgs))
	}
	return sum, nil
}

// orgRun is one organization's run in progress.
type orgRun struct {
	org         directory.Organization
	sess        *postgres.ReconcileSession
	dry         bool
	survey      postgres.ReconcileSurvey
	plan        plan
	pruneBefore time.Time
	historyFrom time.Time
	// sessionsBefore: login sessions that ended before it are deleted.
	sessionsBefore time.Time
	// deliveriesBefore: webhook delivery records received before it are
	// deleted.
	deliveriesBefore time.Time
	// surveyed is the local clock when the survey began, for durations
	// (StartedAt is the database's clock).
	surveyed time.Time
	// declared is the run's service accounts file, shared by its
	// organizations.
	declared *declaredOnce
}

type job struct {
	name string
	run  func(ctx context.Context, r *Reconciler, o *orgRun, js *JobSummary) error
}

// jobs is the order of a run. Conflicts come before lifecycle, so that an
// identity still mapped to a removed user is recorded before it is
// released (and resolved with the release).
var jobs = []job{
	{JobAutoMap, autoMap},
	{JobConflicts, conflicts},
	{JobLifecycle, lifecycle},
	{JobServiceAccounts, serviceAccounts},
	{JobExpiry, expiry},
}

func (r *Reconciler) runOrg(ctx context.Context, sess *postgres.ReconcileSession, org directory.Organization, dry bool, declared *declaredOnce, thisTick time.Duration) OrgSummary {
	res := OrgSummary{Org: org.Slug, OrgID: org.ID, Outcome: postgres.RunOK}
	began := time.Now()
	fail := func(what string, err error) {
		if ctx.Err() != nil {
			res.Outcome = postgres.RunCancelled
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", what, ctx.Err()))
			return
		}
		res.Outcome = postgres.RunError
		res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", what, err))
	}
	o := &orgRun{org: org, sess: sess, dry: dry, declared: declared}
	now := r.now()
	o.pruneBefore = now.AddDate(0, 0, -r.cfg.RetentionDays)
	o.historyFrom = now.AddDate(0, 0, -r.cfg.HistoryDays)
	o.sessionsBefore = now.Add(-sessionRetention)
	o.deliveriesBefore = now.Add(-deliveryRetention)
	wm, err := sess.Watermark(ctx, org.ID)
	if err != nil {
		fail("read the watermark", err)
		return r.finish(ctx, o, res, began)
	}
	if thisTick > 0 && wm.LastOK != nil && wm.Now.Sub(*wm.LastOK) < thisTick {
		// The lock keeps two runs apart, not two replicas' ticks.
		res.Outcome = outcomeRanThisTick
		if r.cfg.Observer != nil {
			r.cfg.Observer.ObserveRun("", outcomeRanThisTick, 0)
		}
		return res
	}
	if wm.LastOK != nil && wm.LastFull != nil && wm.Now.Sub(*wm.LastFull) < r.cfg.FullSweepEvery {
		since := wm.LastOK.Add(-r.cfg.Overlap)
		res.Since = &since
	}
	o.surveyed = time.Now()
	o.survey, err = sess.Survey(ctx, postgres.SurveyQuery{OrgID: org.ID, Since: res.Since, Now: now,
		PruneBefore: o.pruneBefore, HistoryBefore: o.historyFrom, SessionsBefore: o.sessionsBefore,
		DeliveriesBefore: o.deliveriesBefore})
	if err != nil {
		fail("survey", err)
		return r.finish(ctx, o, res, began)
	}
	res.StartedAt = o.survey.Now
	res.SurveyDuration = time.Since(o.surveyed)
	o.plan = makePlan(o.survey)
	res.Mappings, res.Conflicts, res.Resolved = o.plan.mappings, o.plan.open, o.plan.resolved
	for _, j := range jobs {
		if ctx.Err() != nil {
			fail("before "+j.name, ctx.Err())
			break
		}
		js := JobSummary{Job: j.name}
		t0 := time.Now()
		if err := j.run(ctx, r, o, &js); err != nil {
			js.Error = err.Error()
			fail(j.name, err)
		}
		js.Duration = time.Since(t0)
		res.Jobs = append(res.Jobs, js)
		if !dry && r.cfg.Observer != nil {
			r.cfg.Observer.ObserveJob(org.Slug, js)
		}
		if r.cfg.AfterJob != nil {
			r.cfg.AfterJob(ctx, org.Slug, j.name)
		}
	}
	return r.finish(ctx, o, res, began)
}

// finish records the run (unless dry), logs and observes it.
func (r *Reconciler) finish(ctx context.Context, o *orgRun, res OrgSummary, began time.Time) OrgSummary {
	if res.StartedAt.IsZero() {
		// The survey did not run: the record carries the local clock.
		res.StartedAt, res.FinishedAt = began, time.Now()
	} else {
		res.FinishedAt = res.StartedAt.Add(time.Since(o.surveyed))
	}
	if !o.dry {
		counts := map[string]JobSummary{}
		for _, j := range res.Jobs {
			counts[j.Job] = j
		}
		b, _ := json.Marshal(counts)
		// A cancelled run is recorded too, on a context of its own.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		id, err := o.sess.RecordRun(rctx, postgres.ReconcileRun{OrgID: o.org.ID, StartedAt: res.StartedAt, FinishedAt: res.FinishedAt,
			Outcome: res.Outcome, Since: res.Since, Counts: b, Errors: res.Errors})
		cancel()
		if err != nil {
			r.log.Warn("reconcile: record the run", "org", o.org.Slug, "err", err)
		}
		res.RunID = id
	}
	if r.cfg.Observer != nil && !o.dry {
		r.cfg.Observer.ObserveRun(o.org.Slug, res.Outcome, time.Since(began))
	}
	attrs := []any{"org", o.org.Slug, "outcome", res.Outcome, "dryRun", o.dry, "full", res.Since == nil, "duration", time.Since(began).Round(time.Millisecond)}
	for _, j := range res.Jobs {
		if j.Planned > 0 || j.Changed > 0 || j.Conflicts > 0 {
			attrs = append(attrs, slog.Group(j.Job, "planned", j.Planned, "changed", j.Changed, "conflicts", j.Conflicts))
		}
	}
	switch {
	case res.Outcome == postgres.RunError:
		r.log.Error("reconcile run failed", append(attrs, "errors", res.Errors)...)
	case res.changed() > 0 || len(res.Resolved) > 0 || res.newConflicts() > 0:
		r.log.Info("reconcile run", attrs...)
	default:
		r.log.Debug("reconcile run", attrs...)
	}
	return res
}

// Start schedules RunOnce for every organization on cfg.Schedule and
// returns a function that stops the schedule and waits for a run in
// progress to end. Runs use ctx: cancel it to cut a run short at shutdown
// (a cancelled run is safe: the next one converges). A run still going
// when its next time comes is skipped, in this process by cron and across
// replicas by the lock; a replica whose tick comes once another replica's
// run of that tick has ended leaves out the organizations it ran (see
// tickWindow). ErrInvalid: a bad schedule.
func (r *Reconciler) Start(ctx context.Context) (stop func(), err error) {
	s, err := parseSchedule(r.cfg.Schedule)
	if err != nil {
		return nil, err
	}
	stop = r.startOn(ctx, s, func(now time.Time) time.Duration { return tickWindow(s, now) })
	r.log.Info("reconciler scheduled", "schedule", r.cfg.Schedule)
	return stop, nil
}

// parseSchedule reads a cron spec: five fields or a descriptor.
func parseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, directory.Invalidf("reconcile schedule %q: %v", spec, err)
	}
	return s, nil
}

// startOn is Start on a parsed schedule (tests pass one that fires when
// they say, instead of waiting for the wall clock), whose ticks last
// window(now) (see tickWindow).
func (r *Reconciler) startOn(ctx context.Context, s cron.Schedule, window func(now time.Time) time.Duration) (stop func()) {
	cl := cronLogger{r.log}
	c := cron.New(cron.WithLogger(cl), cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	c.Schedule(s, cron.FuncJob(func() { r.scheduled(ctx, window(time.Now())) }))
	c.Start()
	var once stdsync.Once
	return func() { once.Do(func() { <-c.Stop().Done() }) }
}

func (r *Reconciler) scheduled(ctx context.Context, thisTick time.Duration) {
	if ctx.Err() != nil {
		return
	}
	sum, err := r.runOnce(ctx, "", false, thisTick)
	switch {
	case sum.Skipped:
		r.log.Info("reconcile run skipped", "reason", sum.SkipReason)
	case err != nil && ctx.Err() == nil:
		r.log.Error("reconcile run", "err", err)
	}
}

// cronLogger puts cron's messages in the service's log: its routine
// messages (wake, run, schedule) at debug level.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		l.log.Info("reconcile: the previous run is still going; this one is skipped")
		return
	}
	l.log.Debug("cron: "+msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
