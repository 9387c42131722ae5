package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The soak mode (scimload soak): every kind of traffic the service takes,
// mixed, across many organizations, at a steady rate for a long time, with
// the server's RSS followed over time. See soakUsage.

const soakUsage = `Usage: scimload soak --base http://127.0.0.1:PORT --orgs FILE [flags]

Runs a bounded soak against a scimbridge server on a loopback address: for
--duration, --rate operations per second over every organization of --orgs,
mixed by --mix:

  okta-push    Okta's lookup (userName eq) and POST /Users of a new user
  entra-patch  Entra's PATCH of a user: Replace active "False"/"True", or
               Add emails[type eq "work"].value
  group-okta   Okta's group PATCH: add members / remove members[value eq …]
  group-entra  Entra's group PATCH: Add / Remove members with a value list
  authorize    POST /api/v1/orgs/{org}/authorize with the admin API token
  me           GET /auth/{org}/me on the session of the break-glass login
  hook         POST /hooks/{org}/github: a signed GitHub push
  events       GET /api/v1/orgs/{org}/events, following the cursor

Before the soak, per organization: the break-glass link is spent (a login:
POST /auth/{org}/breakglass, the session kept for "me"), a workspace "soak"
and a group "soak-group" are made, a few users are pushed, and (unless
--subscribe=false) a webhook subscription to a receiver the soak runs on
loopback is created; the receiver checks each delivery's signature and
records its lag (occurredAt to receipt). After the soak the feed is read
to its end, deliveries are awaited for --drain, and the subscriptions are
deleted.

--orgs has one line per organization:

  SLUG SCIM-TOKEN API-TOKEN GITHUB-WEBHOOK-SECRET BREAK-GLASS-LINK

(docs/BENCHMARKS.md, "Soak", shows the commands that make it). A
break-glass link works once: make the file again before every soak.

The report gives each request kind's count, errors, p50/p99, the server's
RSS over time and its slope after --warmup, and a verdict line: PASS when
there was no error, every feed event was delivered and the RSS slope is at
most --max-rss-slope.

Flags:
`

// soakConfig is the soak's command line.
type soakConfig struct {
	base        string
	orgsFile    string
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	mix         string
	seedUsers   int
	pid         int
	rssEvery    time.Duration
	maxSlope    float64
	subscribe   bool
	drain       time.Duration
	jsonPath    string
	progress    time.Duration
	payload     string
}

func parseSoakFlags(args []string, stderr io.Writer) (soakConfig, error) {
	var c soakConfig
	fs := flag.NewFlagSet("scimload soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, soakUsage); fs.PrintDefaults() }
	fs.StringVar(&c.base, "base", "", "the server's root URL on a loopback address, e.g. http://127.0.0.1:18080 (required)")
	fs.StringVar(&c.orgsFile, "orgs", "", `file of "SLUG SCIM-TOKEN API-TOKEN HOOK-SECRET BREAK-GLASS-LINK" lines (required)`)
	fs.Float64Var(&c.rate, "rate", 50, "operations per second over all organizations (an okta-push is two requests)")
	fs.DurationVar(&c.duration, "duration", 2*time.Minute, "how long the soak runs (at most 1h)")
	fs.DurationVar(&c.warmup, "warmup", 30*time.Second, "RSS samples before this are left out of the slope")
	fs.IntVar(&c.concurrency, "concurrency", 32, "concurrent clients")
	fs.StringVar(&c.mix, "mix", defaultSoakMix, "weights of the operations: op=weight,…")
	fs.IntVar(&c.seedUsers, "seed-users", 5, "users pushed per organization before the soak, for the PATCHes")
	fs.IntVar(&c.pid, "pid", 0, "server pid for RSS sampling; 0 = the process listening on --base's port")
	fs.DurationVar(&c.rssEvery, "rss-interval", time.Second, "how often the server's RSS is sampled")
	fs.Float64Var(&c.maxSlope, "max-rss-slope", 30, "the verdict's bound on the RSS slope after --warmup, MiB per hour")
	fs.BoolVar(&c.subscribe, "subscribe", true, "subscribe a loopback receiver to each organization's events (the server needs --allow-private-networks)")
	fs.DurationVar(&c.drain, "drain", 30*time.Second, "how long to wait after the soak for the deliveries of every feed event")
	fs.StringVar(&c.jsonPath, "json", "", "also write the report as JSON to this file")
	fs.DurationVar(&c.progress, "progress", 10*time.Second, "print progress to stderr this often; 0 = never")
	fs.StringVar(&c.payload, "push-payload", "internal/githook/testdata/github-push.json", "the GitHub push payload the hook operation sends")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	c.base = strings.TrimRight(c.base, "/")
	switch {
	case c.orgsFile == "":
		return c, errors.New("--orgs is required")
	case c.rate <= 0 || c.rate > 10000:
		return c, errors.New("--rate: want 0 < rate <= 10000")
	case c.duration <= 0 || c.duration > time.Hour:
		return c, errors.New("--duration: want 0 < duration <= 1h")
	case c.warmup < 0 || c.warmup >= c.duration:
		return c, errors.New("--warmup: want 0 <= warmup < duration")
	case c.concurrency < 1 || c.concurrency > 1000:
		return c, errors.New("--concurrency: want 1..1000")
	case c.seedUsers < 1 || c.seedUsers > 1000:
		return c, errors.New("--seed-users: want 1..1000")
	case c.rssEvery < 10*time.Millisecond:
		return c, errors.New("--rss-interval: want at least 10ms")
	case c.drain < 0:
		return c, errors.New("--drain: want >= 0")
	}
	return c, loopbackBase(c.base)
}

// soakOrg is one organization of the soak and what the soak keeps of it.
type soakOrg struct {
	Slug, SCIMToken, APIToken, HookSecret, Link string

	cookie string // the break-glass session, "name=value; …"
	group  string // the SCIM id of soak-group
	next   atomic.Int64

	mu  sync.Mutex
	ids []string // SCIM ids of the users pushed, the newest maxPool
	// names[id] is the userName of ids' users.
	names map[string]string

	feedMu sync.Mutex
	cursor string
	feed   map[string]bool // event ids read from the feed after the head

	subID string
}

// maxPool bounds the users a soakOrg keeps for PATCHes.
const maxPool = 256

// readSoakOrgs reads the --orgs file.
func readSoakOrgs(path string) ([]*soakOrg, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--orgs: %w", err)
	}
	var out []*soakOrg
	seen := map[string]bool{}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 5 {
			return nil, fmt.Errorf("--orgs %s:%d: want SLUG SCIM-TOKEN API-TOKEN HOOK-SECRET BREAK-GLASS-LINK", path, n+1)
		}
		if seen[f[0]] {
			return nil, fmt.Errorf("--orgs %s:%d: %s listed twice", path, n+1, f[0])
		}
		seen[f[0]] = true
		out = append(out, &soakOrg{Slug: f[0], SCIMToken: f[1], APIToken: f[2], HookSecret: f[3], Link: f[4],
			names: map[string]string{}, feed: map[string]bool{}})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--orgs %s: no organizations", path)
	}
	return out, nil
}

func (o *soakOrg) addUser(id, name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.ids) >= maxPool {
		delete(o.names, o.ids[0])
		o.ids = o.ids[1:]
	}
	o.ids = append(o.ids, id)
	o.names[id] = name
}

// user picks a pushed user with r.
func (o *soakOrg) user(r uint64) (id, name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.ids) == 0 {
		return "", ""
	}
	id = o.ids[r%uint64(len(o.ids))]
	return id, o.names[id]
}

// soaker runs the soak on a loader, which gives it requests, latencies
// and the error log.
type soaker struct {
	cfg     soakConfig
	l       *loader
	orgs    []*soakOrg
	mix     soakMix
	payload []byte
	runID   string

	recv     *receiver
	receiver string // the receiver's base URL
}

func (s *soaker) scim(o *soakOrg) tenant {
	return tenant{Base: s.cfg.base + "/scim/v2/" + o.Slug, Token: o.SCIMToken}
}

func (s *soaker) api(o *soakOrg) tenant {
	return tenant{Base: s.cfg.base + "/api/v1/orgs/" + o.Slug, Token: o.APIToken}
}

var jsonHeader = map[string]string{"Accept": "application/json"}

// runSoak runs the soak mode and returns the exit status.
func runSoak(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseSoakFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		fmt.Fprintln(stderr, "scimload soak:", err)
		return 2
	}
	s, err := newSoaker(cfg, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "scimload soak:", err)
		return 2
	}
	defer s.l.close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := s.run(ctx)
	fmt.Fprint(stdout, rep.table())
	status := 0
	if cfg.jsonPath != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(cfg.jsonPath, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "scimload soak:", err)
			status = 1
		}
	}
	if !rep.Pass {
		status = 1
	}
	return status
}

func newSoaker(cfg soakConfig, progress io.Writer) (*soaker, error) {
	orgs, err := readSoakOrgs(cfg.orgsFile)
	if err != nil {
		return nil, err
	}
	mix, err := parseMix(cfg.mix, len(orgs))
	if err != nil {
		return nil, err
	}
	payload, err := os.ReadFile(cfg.payload)
	if err != nil {
		return nil, fmt.Errorf("--push-payload: %w", err)
	}
	runID := strconv.FormatInt(time.Now().Unix(), 36)
	l := newLoader(config{base: cfg.base, concurrency: cfg.concurrency, progress: cfg.progress, prefix: "soak-" + runID, seed: uint64(time.Now().UnixNano())}, progress)
	return &soaker{cfg: cfg, l: l, orgs: orgs, mix: mix, payload: payload, runID: runID}, nil
}

// soakReport is the soak's outcome.
type soakReport struct {
	Start       time.Time         `json:"start"`
	Base        string            `json:"base"`
	GoVersion   string            `json:"go_version"`
	Machine     machine           `json:"machine"`
	LoadAvg     string            `json:"loadavg_at_end"`
	Orgs        int               `json:"organizations"`
	Rate        float64           `json:"rate_target"`
	Achieved    float64           `json:"operations_per_second"`
	Planned     int               `json:"operations_planned"` // --rate × --duration
	Done        int               `json:"operations_done"`
	Duration    time.Duration     `json:"-"`
	Setup       []kindSummary     `json:"setup"`
	Soak        []kindSummary     `json:"soak"`
	Deliveries  deliveryReport    `json:"deliveries"`
	RSS         soakRSS           `json:"server_rss"`
	Errors      errorsReport      `json:"errors"`
	Interrupted string            `json:"interrupted,omitempty"`
	Pass        bool              `json:"pass"`
	Verdict     string            `json:"verdict"`
	Flags       map[string]string `json:"flags,omitempty"`
}

type soakRSS struct {
	PID          int        `json:"pid"`
	Samples      []rssPoint `json:"-"`
	StartKiB     int64      `json:"start_kib"`
	WarmKiB      int64      `json:"at_warmup_kib"`
	EndKiB       int64      `json:"end_kib"`
	MaxKiB       int64      `json:"max_kib"`
	SlopeMiBHour float64    `json:"slope_mib_per_hour"`
	SlopeSamples int        `json:"slope_samples"`
	SlopeOK      bool       `json:"slope_known"`
	Error        string     `json:"error,omitempty"`
}

type deliveryReport struct {
	Subscribed bool `json:"subscribed"`
	FeedEvents int  `json:"feed_events"` // read from the feeds after the head taken at setup
	Received   int  `json:"received"`    // deliveries, duplicates included
	Distinct   int  `json:"distinct"`
	Missing    int  `json:"missing"` // feed events never delivered within --drain
	BadSig     int  `json:"bad_signature"`
}

func (s *soaker) run(ctx context.Context) *soakReport {
	rep := &soakReport{Start: time.Now(), Base: s.cfg.base, GoVersion: runtime.Version(), Machine: describeMachine(),
		Orgs: len(s.orgs), Rate: s.cfg.rate}
	fail := func(err error) *soakReport {
		rep.Errors.Total, rep.Errors.First = s.l.errs.snapshot()
		rep.Interrupted = err.Error()
		rep.verdict(s.cfg)
		return rep
	}
	if s.cfg.subscribe {
		if err := s.startReceiver(); err != nil {
			return fail(err)
		}
		defer s.recv.close()
	}
	rss := s.startRSS()
	setup := newRecorder(s.l.errs)
	fmt.Fprintf(s.l.progress, "scimload soak: setting up %d organizations\n", len(s.orgs))
	setupStart := time.Now()
	s.l.runWorkers(ctx, "setup", len(s.orgs), 0, func(ctx context.Context, i int) {
		if err := s.setupOrg(ctx, setup, s.orgs[i]); err != nil {
			setup.fail("setup", 0, s.orgs[i].Slug, err.Error())
		}
	})
	rep.Setup = setup.summaries(time.Since(setupStart))
	if n, _ := s.l.errs.snapshot(); n > 0 || ctx.Err() != nil {
		rep.RSS = rss.finish(s.cfg.warmup)
		rep.Deliveries.Subscribed = s.recv != nil
		s.unsubscribe(context.WithoutCancel(ctx), setup)
		return fail(errors.New("setup failed; the soak did not start"))
	}

	fmt.Fprintf(s.l.progress, "scimload soak: %v at %.0f operations/s over %d organizations\n", s.cfg.duration, s.cfg.rate, len(s.orgs))
	rss.mark()
	rec := newRecorder(s.l.errs)
	if s.recv != nil {
		s.recv.mu.Lock()
		s.recv.rec = rec
		s.recv.mu.Unlock()
	}
	jobs := int(s.cfg.rate * s.cfg.duration.Seconds())
	soakCtx, cancel := context.WithTimeout(ctx, s.cfg.duration+10*time.Second)
	var done atomic.Int64
	wall := s.l.runWorkers(soakCtx, "soak", jobs, s.cfg.rate, func(ctx context.Context, j int) {
		op, org := s.mix.pick(j)
		s.operate(ctx, rec, op, s.orgs[org], j)
		done.Add(1)
	})
	cancel()
	rep.Duration, rep.Planned, rep.Done = wall, jobs, int(done.Load())
	rep.Achieved = float64(rep.Done) / wall.Seconds()
	rep.RSS = rss.finish(s.cfg.warmup)

	tail := newRecorder(s.l.errs)
	if s.recv != nil {
		rep.Deliveries = s.drainDeliveries(context.WithoutCancel(ctx), tail)
	}
	rep.Soak = rec.summaries(wall)
	rep.Setup = append(rep.Setup, tail.summaries(time.Second)...)
	if err := ctx.Err(); err != nil {
		rep.Interrupted = err.Error()
	}
	rep.Errors.Total, rep.Errors.First = s.l.errs.snapshot()
	rep.LoadAvg = strings.TrimSpace(procFile("/proc/loadavg"))
	rep.verdict(s.cfg)
	return rep
}

func procFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// verdict decides the soak: no error, every feed event delivered, the RSS
// flat after the warm-up.
func (r *soakReport) verdict(cfg soakConfig) {
	var why []string
	if r.Errors.Total > 0 {
		why = append(why, fmt.Sprintf("%d errors", r.Errors.Total))
	}
	if r.Interrupted != "" {
		why = append(why, "interrupted: "+r.Interrupted)
	}
	if r.Done < r.Planned*9/10 {
		why = append(why, fmt.Sprintf("the server (or this machine) did not sustain --rate: %d of %d operations in %.0fs", r.Done, r.Planned, r.Duration.Seconds()))
	}
	if r.Deliveries.Missing > 0 || r.Deliveries.BadSig > 0 {
		why = append(why, fmt.Sprintf("%d feed events undelivered, %d bad signatures", r.Deliveries.Missing, r.Deliveries.BadSig))
	}
	switch {
	case !r.RSS.SlopeOK:
		why = append(why, "RSS slope unknown ("+r.RSS.Error+")")
	case r.RSS.SlopeMiBHour > cfg.maxSlope:
		why = append(why, fmt.Sprintf("RSS grows %.1f MiB/h after warm-up (bound %.0f)", r.RSS.SlopeMiBHour, cfg.maxSlope))
	}
	r.Pass = len(why) == 0
	if r.Pass {
		r.Verdict = fmt.Sprintf("PASS: 0 errors, RSS slope %.1f MiB/h after %v (bound %.0f)", r.RSS.SlopeMiBHour, cfg.warmup, cfg.maxSlope)
	} else {
		r.Verdict = "FAIL: " + strings.Join(why, "; ")
	}
}

// setupOrg spends the break-glass link, makes the workspace, the group,
// a few users and the subscription, and takes the feed's head.
func (s *soaker) setupOrg(ctx context.Context, rec *recorder, o *soakOrg) error {
	if err := s.login(ctx, rec, o); err != nil {
		return err
	}
	api := s.api(o)
	if !s.l.do(ctx, rec, call{kind: "workspace-create", method: http.MethodPost, path: "/workspaces", to: api, header: jsonHeader,
		raw: []byte(`{"name":"soak"}`), rawType: "application/json", want: []int{http.StatusCreated, http.StatusConflict}}) {
		return errors.New("workspace")
	}
	gid, err := s.ensureGroup(ctx, rec, o)
	if err != nil {
		return err
	}
	o.group = gid
	for range s.cfg.seedUsers {
		if !s.pushOne(ctx, rec, o) {
			return errors.New("seed users")
		}
	}
	if s.recv != nil {
		var sub struct{ ID, Secret string }
		body, _ := json.Marshal(map[string]any{"url": s.receiver + "/recv/" + o.Slug, "description": "scimload soak " + s.runID})
		if !s.l.do(ctx, rec, call{kind: "subscription-create", method: http.MethodPost, path: "/subscriptions", to: api, header: jsonHeader,
			raw: body, rawType: "application/json", want: []int{http.StatusCreated}, into: &sub,
			check: func() error {
				if sub.ID == "" || sub.Secret == "" {
					return errors.New("no id or secret")
				}
				return nil
			}}) {
			return errors.New("subscription")
		}
		o.subID = sub.ID
		s.recv.secrets.Store(o.Slug, sub.Secret)
	}
	var head struct{ Head string }
	if !s.l.do(ctx, rec, call{kind: "events-head", method: http.MethodGet, path: "/events/head", to: api, header: jsonHeader,
		want: []int{http.StatusOK}, into: &head}) {
		return errors.New("events head")
	}
	o.cursor = head.Head
	return nil
}

// login spends the organization's break-glass link: the page a browser
// opens, then the confirming POST, which answers 303 and the session.
func (s *soaker) login(ctx context.Context, rec *recorder, o *soakOrg) error {
	u, err := url.Parse(o.Link)
	if err != nil || u.Query().Get("token") == "" {
		return fmt.Errorf("break-glass link of %s has no token", o.Slug)
	}
	token := u.Query().Get("token")
	root := tenant{Base: s.cfg.base}
	noAuth := map[string]string{"Authorization": "", "Accept": "text/html"}
	if !s.l.do(ctx, rec, call{kind: "login-page", method: http.MethodGet, to: root, header: noAuth,
		path: "/auth/" + url.PathEscape(o.Slug) + "/breakglass?token=" + url.QueryEscape(token), want: []int{http.StatusOK}}) {
		return errors.New("break-glass page (the link works once: make the --orgs file again)")
	}
	var hdr http.Header
	if !s.l.do(ctx, rec, call{kind: "login", method: http.MethodPost, to: root, header: noAuth, respHeader: &hdr,
		path: "/auth/" + url.PathEscape(o.Slug) + "/breakglass", raw: []byte(url.Values{"token": {token}}.Encode()),
		rawType: "application/x-www-form-urlencoded", want: []int{http.StatusSeeOther}}) {
		return errors.New("break-glass login")
	}
	var pairs []string
	for _, c := range (&http.Response{Header: hdr}).Cookies() {
		if c.MaxAge >= 0 && c.Value != "" {
			pairs = append(pairs, c.Name+"="+c.Value)
		}
	}
	if len(pairs) == 0 {
		return errors.New("the break-glass login set no cookie")
	}
	o.cookie = strings.Join(pairs, "; ")
	return nil
}

// ensureGroup finds soak-group as Okta does, or creates it.
func (s *soaker) ensureGroup(ctx context.Context, rec *recorder, o *soakOrg) (string, error) {
	const name = "soak-group"
	var found listResponse
	if !s.l.do(ctx, rec, call{kind: "group-lookup", method: http.MethodGet, to: s.scim(o), want: []int{http.StatusOK},
		path: "/Groups?excludedAttributes=members&" + filterQuery("displayName", "eq", name, 1), into: &found,
		check: func() error { return expectMatches(found, 0, 1) }}) {
		return "", errors.New("group lookup")
	}
	if found.TotalResults == 1 {
		return found.Resources[0].ID, nil
	}
	var g resource
	if !s.l.do(ctx, rec, call{kind: "group-create", method: http.MethodPost, path: "/Groups", to: s.scim(o), want: []int{http.StatusCreated},
		body: map[string]any{"schemas": []string{groupSchema}, "displayName": name, "members": []member{}}, into: &g}) || g.ID == "" {
		return "", errors.New("group create")
	}
	return g.ID, nil
}

// pushOne pushes the organization's next user the Okta way.
func (s *soaker) pushOne(ctx context.Context, rec *recorder, o *soakOrg) bool {
	i := int(o.next.Add(1))
	var id string
	if s.l.pushUser(ctx, rec, s.scim(o), i, &id, nil) == pushFailed {
		return false
	}
	o.addUser(id, s.l.userName(i))
	return true
}

type scimPatch struct {
	Schemas    []string `json:"schemas"`
	Operations []any    `json:"Operations"`
}

func patchOf(ops ...any) scimPatch {
	return scimPatch{Schemas: []string{patchSchema}, Operations: ops}
}

// operate runs job j: operation op on organization o.
func (s *soaker) operate(ctx context.Context, rec *recorder, op string, o *soakOrg, j int) {
	r := s.l.rng(j)
	id, name := o.user(r.Uint64())
	scim, api := s.scim(o), s.api(o)
	switch op {
	case "okta-push":
		s.pushOne(ctx, rec, o)
	case "entra-patch":
		kind, body := "entra-patch-active", patchOf(map[string]any{"op": "Replace", "path": "active", "value": []string{"False", "True"}[r.IntN(2)]})
		if r.IntN(2) == 0 {
			kind, body = "entra-patch-email", patchOf(map[string]any{"op": "Add", "path": `emails[type eq "work"].value`, "value": []string{"", "alt."}[r.IntN(2)] + name})
		}
		s.l.do(ctx, rec, call{kind: kind, method: http.MethodPatch, path: "/Users/" + url.PathEscape(id), to: scim,
			body: body, want: []int{http.StatusOK, http.StatusNoContent}})
	case "group-okta":
		kind, body := "group-okta-add", patchOf(map[string]any{"op": "add", "path": "members", "value": []map[string]string{{"value": id, "display": name}}})
		if r.IntN(2) == 0 {
			kind, body = "group-okta-remove", patchOf(map[string]any{"op": "remove", "path": fmt.Sprintf("members[value eq %q]", id)})
		}
		s.l.do(ctx, rec, call{kind: kind, method: http.MethodPatch, path: "/Groups/" + url.PathEscape(o.group), to: scim,
			body: body, want: []int{http.StatusOK, http.StatusNoContent}})
	case "group-entra":
		verb, kind := "Add", "group-entra-add"
		if r.IntN(2) == 0 {
			verb, kind = "Remove", "group-entra-remove"
		}
		body := patchOf(map[string]any{"op": verb, "path": "members", "value": []map[string]any{{"$ref": nil, "value": id}}})
		s.l.do(ctx, rec, call{kind: kind, method: http.MethodPatch, path: "/Groups/" + url.PathEscape(o.group), to: scim,
			body: body, want: []int{http.StatusOK, http.StatusNoContent}})
	case "authorize":
		var ans struct {
			Allowed *bool `json:"allowed"`
		}
		body, _ := json.Marshal(map[string]string{"user": name, "action": "pipes.run", "workspace": "soak"})
		s.l.do(ctx, rec, call{kind: "authorize", method: http.MethodPost, path: "/authorize", to: api, header: jsonHeader,
			raw: body, rawType: "application/json", want: []int{http.StatusOK}, into: &ans,
			check: func() error {
				if ans.Allowed == nil {
					return errors.New("no allowed in the answer")
				}
				return nil
			}})
	case "me":
		s.l.do(ctx, rec, call{kind: "me", method: http.MethodGet, path: "/auth/" + url.PathEscape(o.Slug) + "/me", to: tenant{Base: s.cfg.base},
			header: map[string]string{"Authorization": "", "Accept": "application/json", "Cookie": o.cookie}, want: []int{http.StatusOK}})
	case "hook":
		mac := hmac.New(sha256.New, []byte(o.HookSecret))
		mac.Write(s.payload)
		s.l.do(ctx, rec, call{kind: "hook-github", method: http.MethodPost, path: "/hooks/" + url.PathEscape(o.Slug) + "/github", to: tenant{Base: s.cfg.base},
			raw: s.payload, rawType: "application/json", want: []int{http.StatusOK},
			header: map[string]string{"Authorization": "", "Accept": "application/json", "X-GitHub-Event": "push",
				"X-GitHub-Delivery": fmt.Sprintf("soak-%s-%d", s.runID, j), "X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil))}})
	case "events":
		s.followFeed(ctx, rec, o)
	}
}

// followFeed reads one page of the organization's feed after its cursor
// and moves the cursor; one reader per organization at a time, as a
// consumer keeping one cursor would. It reports whether the page was full.
func (s *soaker) followFeed(ctx context.Context, rec *recorder, o *soakOrg) (more bool) {
	o.feedMu.Lock()
	defer o.feedMu.Unlock()
	const limit = 1000
	var page struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
		Next string `json:"next"`
	}
	if !s.l.do(ctx, rec, call{kind: "events", method: http.MethodGet, to: s.api(o), header: jsonHeader,
		path: "/events?limit=" + strconv.Itoa(limit) + "&after=" + url.QueryEscape(o.cursor), want: []int{http.StatusOK}, into: &page,
		check: func() error {
			if page.Next == "" {
				return errors.New("no next cursor")
			}
			return nil
		}}) {
		return false
	}
	for _, e := range page.Events {
		o.feed[e.ID] = true
	}
	o.cursor = page.Next
	return len(page.Events) == limit
}

// drainDeliveries reads every feed to its end, waits up to --drain for
// the delivery of every event read, and deletes the subscriptions.
func (s *soaker) drainDeliveries(ctx context.Context, rec *recorder) deliveryReport {
	for _, o := range s.orgs {
		for s.followFeed(ctx, rec, o) {
		}
	}
	missing := func() (feed, miss int) {
		for _, o := range s.orgs {
			o.feedMu.Lock()
			for id := range o.feed {
				feed++
				if !s.recv.got(id) {
					miss++
				}
			}
			o.feedMu.Unlock()
		}
		return feed, miss
	}
	deadline := time.Now().Add(s.cfg.drain)
	feed, miss := missing()
	for miss > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		feed, miss = missing()
	}
	s.unsubscribe(ctx, rec)
	received, distinct, bad := s.recv.counts()
	return deliveryReport{Subscribed: true, FeedEvents: feed, Received: received, Distinct: distinct, Missing: miss, BadSig: bad}
}

// unsubscribe deletes the subscriptions the setup made (an organization
// has at most 20).
func (s *soaker) unsubscribe(ctx context.Context, rec *recorder) {
	for _, o := range s.orgs {
		if o.subID != "" {
			s.l.do(ctx, rec, call{kind: "subscription-delete", method: http.MethodDelete, path: "/subscriptions/" + url.PathEscape(o.subID),
				to: s.api(o), header: jsonHeader, want: []int{http.StatusNoContent}})
			o.subID = ""
		}
	}
}

// receiver takes the webhook deliveries of every organization's
// subscription on a loopback port, checks their signatures and records
// their lag.
type receiver struct {
	srv     *http.Server
	secrets sync.Map // slug → signing secret
	rec     *recorder

	mu       sync.Mutex
	seen     map[string]bool
	received int
	bad      int
}

func (s *soaker) startReceiver() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("receiver: %w", err)
	}
	rv := &receiver{seen: map[string]bool{}, rec: newRecorder(s.l.errs)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /recv/{org}", rv.handle)
	rv.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go rv.srv.Serve(ln) //nolint:errcheck // ends with close
	s.recv, s.receiver = rv, "http://"+ln.Addr().String()
	return nil
}

func (rv *receiver) close() { rv.srv.Close() }

func (rv *receiver) handle(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	secret, ok := rv.secrets.Load(r.PathValue("org"))
	if err != nil || !ok || !validSignature(secret.(string), r.Header.Get("X-Scimbridge-Signature"), body) {
		rv.mu.Lock()
		rv.bad++
		rec := rv.rec
		rv.mu.Unlock()
		rec.fail("delivery", http.StatusUnauthorized, "POST "+r.URL.Path, "bad signature")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID         string    `json:"id"`
		OccurredAt time.Time `json:"occurredAt"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.ID != r.Header.Get("X-Scimbridge-Event-Id") {
		rv.mu.Lock()
		rec := rv.rec
		rv.mu.Unlock()
		rec.fail("delivery", 0, "POST "+r.URL.Path, fmt.Sprintf("bad event body: %v", err))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rv.mu.Lock()
	rv.received++
	dup := rv.seen[ev.ID]
	rv.seen[ev.ID] = true
	rec := rv.rec
	rv.mu.Unlock()
	if !dup {
		rec.ok("delivery-lag", now.Sub(ev.OccurredAt))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rv *receiver) got(id string) bool {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.seen[id]
}

func (rv *receiver) counts() (received, distinct, bad int) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.received, len(rv.seen), rv.bad
}

// validSignature checks "t=…,v1=…[,v1=…]": one v1 must be the hex
// HMAC-SHA256 of "t.body" under secret (docs/events.md).
func validSignature(secret, header string, body []byte) bool {
	var t string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if t == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range sigs {
		if got, err := hex.DecodeString(sig); err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// soakSampler samples the server's RSS every --rss-interval.
type soakSampler struct {
	pid   int
	err   string
	start time.Time
	mu    sync.Mutex
	pts   []rssPoint
	stop  chan struct{}
	done  chan struct{}
}

func (s *soaker) startRSS() *soakSampler {
	ss := &soakSampler{start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	pid, _, err := serverPID(config{base: s.cfg.base, pid: s.cfg.pid})
	if err != nil || pid <= 0 {
		ss.err = fmt.Sprintf("no server pid: %v", err)
		close(ss.done)
		return ss
	}
	ss.pid = pid
	fmt.Fprintf(s.l.progress, "scimload soak: sampling RSS of pid %d every %v\n", pid, s.cfg.rssEvery)
	path := fmt.Sprintf("/proc/%d/status", pid)
	go func() {
		defer close(ss.done)
		t := time.NewTicker(s.cfg.rssEvery)
		defer t.Stop()
		for {
			rss, _, err := readProcStatus(path)
			ss.mu.Lock()
			if err != nil {
				ss.err = err.Error()
			} else {
				ss.pts = append(ss.pts, rssPoint{At: time.Since(ss.start), KiB: rss})
			}
			ss.mu.Unlock()
			if err != nil {
				return
			}
			select {
			case <-ss.stop:
				return
			case <-t.C:
			}
		}
	}()
	return ss
}

// mark restarts the clock at the soak's start: the warm-up counts from
// there, and the setup's samples fall before it.
func (ss *soakSampler) mark() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	d := time.Since(ss.start)
	ss.start = ss.start.Add(d)
	for i := range ss.pts {
		ss.pts[i].At -= d
	}
}

func (ss *soakSampler) finish(warmup time.Duration) soakRSS {
	select {
	case <-ss.done:
	default:
		close(ss.stop)
		<-ss.done
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := soakRSS{PID: ss.pid, Samples: ss.pts, Error: ss.err}
	for _, p := range ss.pts {
		out.MaxKiB = max(out.MaxKiB, p.KiB)
		if p.At <= 0 {
			out.StartKiB = p.KiB
		}
		if p.At <= warmup {
			out.WarmKiB = p.KiB
		}
	}
	if n := len(ss.pts); n > 0 {
		out.EndKiB = ss.pts[n-1].KiB
	}
	out.SlopeMiBHour, out.SlopeSamples, out.SlopeOK = rssSlope(ss.pts, warmup)
	if !out.SlopeOK && out.Error == "" {
		out.Error = fmt.Sprintf("%d samples after the warm-up", out.SlopeSamples)
	}
	return out
}

// table renders the report for a terminal.
func (r *soakReport) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scimload soak %s, %s, %s\n", r.Start.UTC().Format(time.RFC3339), r.Base, r.GoVersion)
	fmt.Fprintf(&b, "machine: %s, %d CPUs, %s memory; load average at the end: %s\n", r.Machine.CPUModel, r.Machine.NumCPU, r.Machine.MemTotal, r.LoadAvg)
	fmt.Fprintf(&b, "%d organizations, target %.0f operations/s, achieved %.1f/s (%d of %d operations) over %.1fs\n\n", r.Orgs, r.Rate, r.Achieved, r.Done, r.Planned, r.Duration.Seconds())
	rows := func(title string, ks []kindSummary) {
		fmt.Fprintf(&b, "%-22s %8s %6s %8s %9s %9s %9s\n", title, "count", "errors", "req/s", "p50", "p99", "max")
		for _, k := range ks {
			fmt.Fprintf(&b, "%-22s %8d %6d %8.1f %9s %9s %9s\n", k.Kind, k.Count, k.Errors, k.RPS, fmtDur(k.P50), fmtDur(k.P99), fmtDur(k.Max))
		}
		b.WriteString("\n")
	}
	rows("setup and drain", r.Setup)
	rows("soak", r.Soak)
	if d := r.Deliveries; d.Subscribed {
		fmt.Fprintf(&b, "deliveries: %d feed events read, %d delivered (%d with duplicates), %d missing, %d bad signatures\n",
			d.FeedEvents, d.Distinct, d.Received, d.Missing, d.BadSig)
	} else {
		b.WriteString("deliveries: not subscribed (--subscribe=false); the feed was followed only\n")
	}
	x := r.RSS
	fmt.Fprintf(&b, "server RSS (pid %d, %d samples): start %s, at warm-up %s, end %s, max %s; slope after warm-up %.1f MiB/h over %d samples\n",
		x.PID, len(x.Samples), mib(x.StartKiB), mib(x.WarmKiB), mib(x.EndKiB), mib(x.MaxKiB), x.SlopeMiBHour, x.SlopeSamples)
	if len(x.Samples) > 0 {
		b.WriteString("RSS by tenth of the soak (MiB):")
		for t := range 10 {
			i := min(len(x.Samples)-1, (t+1)*len(x.Samples)/10-1)
			fmt.Fprintf(&b, " %.1f", float64(x.Samples[max(i, 0)].KiB)/1024)
		}
		b.WriteString("\n")
	}
	if r.Errors.Total > 0 {
		fmt.Fprintf(&b, "errors: %d; the first distinct:\n", r.Errors.Total)
		for _, e := range r.Errors.First {
			fmt.Fprintf(&b, "  %s %d %s: %s\n", e.Kind, e.Status, e.Where, e.Detail)
		}
	}
	fmt.Fprintf(&b, "verdict: %s\n", r.Verdict)
	return b.String()
}
