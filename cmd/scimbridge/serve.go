package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/events"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/mail"
	"github.com/scimbridge/scimbridge/internal/pgcluster"
	"github.com/scimbridge/scimbridge/internal/secretbox"
	"github.com/scimbridge/scimbridge/internal/webhooks"
	"github.com/scimbridge/scimbridge/oidc"
)

func init() {
	register(command{
		name:    "serve",
		summary: "Migrate the database, then serve HTTP (SCIM, admin API, health, metrics) until SIGINT or SIGTERM.",
		flags:   serveFlags,
	})
}

type serveConfig struct {
	addr            string
	publicURL       string
	noMigrate       bool
	initOrg         string
	maxConns        int
	shutdownTimeout time.Duration
	requestTimeout  time.Duration
	maxBody         int64
	scimRate        float64
	apiRate         float64
	smtpURL         string
	smtp            *mail.SMTP // parsed from smtpURL; nil: no mail is sent
	mailFrom        string
	maxTokenTTL     *tokenTTLLimit
	reconcile       *reconcileConfig
	egress          *egress.Policy
	eventRetention  *retentionFlag
	ssoLoginEvents  bool
	metricsOrgs     bool
}

func serveFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "info")
	var cfg serveConfig
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on (SCIMBRIDGE_ADDR)")
	fs.StringVar(&cfg.publicURL, "public-url", "", "externally visible base URL, e.g. https://scim.example.com; derived from each request when empty (SCIMBRIDGE_PUBLIC_URL)")
	fs.BoolVar(&cfg.noMigrate, "no-migrate", false, "do not apply migrations at start; the schema must be current (SCIMBRIDGE_NO_MIGRATE)")
	fs.StringVar(&cfg.initOrg, "init-org", "", "create this organization if missing, print a fresh SCIM token alone on stdout and its SCIM base URL on stderr (SCIMBRIDGE_INIT_ORG)")
	fs.IntVar(&cfg.maxConns, "db-max-conns", 20, "maximum PostgreSQL connections of this replica (SCIMBRIDGE_DB_MAX_CONNS)")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long in-flight requests may take to finish at shutdown (SCIMBRIDGE_SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&cfg.requestTimeout, "request-timeout", 30*time.Second, "deadline of every request and PostgreSQL statement_timeout of its work; past it SCIM answers 503 with Retry-After (SCIMBRIDGE_REQUEST_TIMEOUT)")
	fs.Int64Var(&cfg.maxBody, "max-body", int64(1<<20), "largest accepted request body in bytes (SCIMBRIDGE_MAX_BODY)")
	cfg.reconcile = reconcileFlagSet(fs)
	cfg.maxTokenTTL = maxTokenTTLFlag(fs)
	cfg.egress = egressFlag(fs)
	cfg.eventRetention = &retentionFlag{d: events.DefaultRetention}
	fs.Var(cfg.eventRetention, "event-retention", "how long the change feed keeps events, such as 30d; a consumer whose cursor is older gets 410 Gone and resynchronises (SCIMBRIDGE_EVENT_RETENTION)")
	fs.BoolVar(&cfg.ssoLoginEvents, "sso-login-events", false, "make every sign-in through an organization's identity provider an sso.login event of the change feed (SCIMBRIDGE_SSO_LOGIN_EVENTS)")
	fs.StringVar(&cfg.smtpURL, "smtp-url", "", "SMTP server for invitation mail, smtp://[user:password@]host[:port][?tls=mandatory|opportunistic|none]; empty sends no mail: each is logged as not sent, and scimbridge invite link prints the join link (SCIMBRIDGE_SMTP_URL)")
	fs.StringVar(&cfg.mailFrom, "mail-from", "scimbridge@localhost", "sender address of mail (SCIMBRIDGE_MAIL_FROM)")
	fs.Float64Var(&cfg.apiRate, "api-rate", 20000, "admin API requests per second per organization for the whole service, shared by the live replicas, bursts of twice that; 0 = unbounded (SCIMBRIDGE_API_RATE)")
	fs.BoolVar(&cfg.metricsOrgs, "metrics-org-labels", false, "label the provisioning metrics by organization (one series per organization and operation: mind the cardinality) (SCIMBRIDGE_METRICS_ORG_LABELS)")
	fs.Float64Var(&cfg.scimRate, "scim-rate", 5000, "SCIM requests per second per organization for the whole service, shared by the live replicas, bursts of twice that; 0 = unbounded (SCIMBRIDGE_SCIM_RATE)")
	return func(ctx context.Context, args []string) error {
		if len(args) > 0 {
			return usagef("serve: unexpected argument %q", args[0])
		}
		if cfg.publicURL != "" {
			u, err := url.Parse(cfg.publicURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("--public-url %q: want an absolute http(s) URL", cfg.publicURL)
			}
			cfg.publicURL = strings.TrimRight(cfg.publicURL, "/")
		}
		if cfg.maxConns < 2 || cfg.maxConns > 1000 {
			return usagef("--db-max-conns %d: want 2..1000", cfg.maxConns)
		}
		if cfg.scimRate < 0 {
			return usagef("--scim-rate %v: want 0 or more", cfg.scimRate)
		}
		if cfg.apiRate < 0 {
			return usagef("--api-rate %v: want 0 or more", cfg.apiRate)
		}
		if cfg.requestTimeout < 100*time.Millisecond || cfg.requestTimeout > 10*time.Minute {
			return usagef("--request-timeout %v: want 100ms..10m", cfg.requestTimeout)
		}
		if cfg.maxBody < 1024 {
			return usagef("--max-body %d: want at least 1024 bytes", cfg.maxBody)
		}
		if err := cfg.reconcile.validate(); err != nil {
			return err
		}
		if cfg.smtpURL != "" {
			var err error
			if cfg.smtp, err = mail.ParseSMTP(cfg.smtpURL, cfg.mailFrom); err != nil {
				return usagef("--smtp-url: %v", err)
			}
		}
		if cfg.initOrg != "" {
			if err := directory.ValidateSlug(cfg.initOrg); err != nil {
				return usagef("--init-org: %v", err)
			}
		}
		log, err := c.logger(e)
		if err != nil {
			return err
		}
		return serve(ctx, e, c, cfg, log)
	}
}

func serve(ctx context.Context, e env, c *common, cfg serveConfig, log *slog.Logger) error {
	if e.getenv("DATABASE_URL") == "" && !envBool(e, "SCIMBRIDGE_REQUIRE_DATABASE_URL") {
		release, err := pgcluster.LockServe(c.dataDir)
		if err != nil {
			return err
		}
		defer release()
	}
	// Start-up and shutdown of the database must not be cut short by the
	// signal that ends serving.
	dbCtx := context.WithoutCancel(ctx)
	db, err := openDatabase(ctx, e, c, log, openOptions{maxConns: int32(cfg.maxConns), migrate: !cfg.noMigrate, statementTimeout: cfg.requestTimeout})
	if err != nil {
		return err
	}
	db.SetMaxTokenTTL(cfg.maxTokenTTL.d)
	db.SetSSOLoginEvents(cfg.ssoLoginEvents)
	defer func() {
		db.DB.Close()
		if db.cluster != nil {
			if err := db.cluster.Stop(dbCtx); err != nil {
				log.Error("stop embedded PostgreSQL", "err", err)
			}
		}
	}()

	hs := httpserver.New(httpserver.Config{Logger: log, Ready: db.Ready, RequestTimeout: cfg.requestTimeout})
	hs.Registry.MustRegister(httpserver.NewPoolCollector(db.Pool))
	usage := db.NewTokenUsage()
	health := db.NewHealthRecorder(nil)
	// One secret key seals webhook and IdP secrets and keys login cookies.
	var box *secretbox.Box
	key, err := secretKey(e, c, db)
	if err == nil {
		box, err = secretbox.New(key)
	}
	if err != nil {
		// Loud, once, naming every feature it turns off: an operator who
		// forgot the key should not learn of it from a user's 503.
		log.Error("no secret key: SSO login, the web console's sign-in, break-glass links, invitation acceptance, "+
			"IdP settings, Git webhooks and outbound webhooks are OFF (they answer 503) until SCIMBRIDGE_SECRET_KEY is set on every replica; "+
			"SCIM and the admin API with tokens work", "reason", err)
		box = nil
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	base := cfg.publicURL
	if base == "" {
		// No request carries the OIDC redirect URI or a mailed link, so
		// they cannot follow the request's host as meta.location does:
		// fit for a local run, and said so when others can connect.
		base = "http://" + ln.Addr().String()
		if ap, err := netip.ParseAddrPort(ln.Addr().String()); err != nil || !ap.Addr().IsLoopback() {
			log.Warn("--public-url is not set: sign-in redirects and invitation links will name "+base+"; set it to the URL users reach this service at", "addr", ln.Addr().String())
		}
	}
	var login *oidc.Handler
	if box != nil {
		login, err = oidc.New(oidc.Config{Store: db.DB, Box: box, CookieKey: cookieKey(key), PublicURL: base,
			SecureCookies: strings.HasPrefix(base, "https://"), Egress: *cfg.egress, Logger: log})
		if err != nil {
			ln.Close()
			return err
		}
	}
	shareRates := mountAdapters(hs, db, box, login, usage,
		healthRecorders{health, newHealthMetrics(hs.Registry, cfg.metricsOrgs)}, cfg, log)
	log.Info("serving", "addr", ln.Addr().String(), "embedded_db", db.embedded)
	if cfg.initOrg != "" {
		if err := announceInitOrg(ctx, e, db, cfg.initOrg, base, cfg.maxTokenTTL.d); err != nil {
			ln.Close()
			return err
		}
	}

	srv := httpserver.NewHTTPServer(cfg.addr, hs.Handler(), log, cfg.requestTimeout)
	g, gctx := errgroup.WithContext(ctx)
	usageCtx, stopUsage := context.WithCancel(dbCtx)
	usageDone := make(chan struct{})
	go func() { usage.Run(usageCtx, 30*time.Second); close(usageDone) }()
	healthDone := make(chan struct{})
	go func() { health.Run(usageCtx, 5*time.Second); close(healthDone) }()
	// The reconciler runs on its cron schedule; only one replica runs a job
	// at a time (a PostgreSQL advisory lock), so every replica may start it.
	stopReconcile, err := cfg.reconcile.reconciler(db, log, newReconcileMetrics(hs.Registry)).Start(gctx)
	if err != nil {
		stopUsage()
		<-usageDone
		<-healthDone
		ln.Close()
		return usagef("--reconcile-schedule: %v", err)
	}
	mailDone := make(chan struct{})
	go func() { newMailWorker(db, cfg, base, log).Run(gctx, 5*time.Second); close(mailDone) }()
	beatDone := make(chan struct{})
	go func() { heartbeat(gctx, db, shareRates, hs.Registry, log); close(beatDone) }()
	// The change feed's sequencer and retention run on every replica
	// (the sequencer is a single writer by a lock in PostgreSQL).
	feedDone := make(chan struct{})
	feed := events.New(events.Config{Store: db, Logger: log, Retention: cfg.eventRetention.d, Metrics: events.NewMetrics(hs.Registry)})
	go func() { feed.Run(gctx); close(feedDone) }()
	// Outbound webhooks: every replica delivers; leases keep two from
	// sending one delivery at once. Without a secret key nothing can be
	// signed, and the subscriptions wait, their cursors where they are.
	webhooksDone := make(chan struct{})
	if box != nil {
		w := &webhooks.Worker{Store: db.DB, Box: box, Client: webhooks.NewClient(*cfg.egress, 0, 0), Log: log}
		go func() { w.Run(gctx); close(webhooksDone) }()
	} else {
		close(webhooksDone)
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down: finishing in-flight requests", "timeout", cfg.shutdownTimeout)
		sctx, cancel := context.WithTimeout(dbCtx, cfg.shutdownTimeout)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	err = g.Wait()
	stopReconcile()
	stopUsage()
	<-usageDone
	<-healthDone
	<-mailDone
	<-beatDone
	<-feedDone
	<-webhooksDone
	log.Info("stopped")
	return err
}

// announceInitOrg makes sure the organization exists and prints a fresh
// SCIM token and its SCIM base URL, so that a newcomer can curl it at
// once. Like every command that prints a secret, the token goes alone to
// stdout and the rest to stderr: stderr is the log, kept and shipped, and
// the token must not end up there. The terminal of make run shows both.
func announceInitOrg(ctx context.Context, e env, db *database, slug, base string, maxTokenTTL time.Duration) error {
	org, err := db.Organization(ctx, slug)
	if errors.Is(err, directory.ErrNotFound) {
		org, err = db.CreateOrganization(ctx, slug, slug)
	}
	if err != nil {
		return err
	}
	name := "quickstart-" + time.Now().UTC().Format("20060102-150405")
	ttl := min(30*24*time.Hour, maxTokenTTL)
	_, secret, err := db.CreateSCIMToken(ctx, org.ID, name, ttl)
	if err != nil {
		return err
	}
	scimURL := directory.SCIMBaseURL(base, org.Slug)
	fmt.Fprintf(e.stderr, `
  scimbridge is up on %[1]s
  organization:   %[2]s
  SCIM base URL:  %[3]s
  SCIM token:     the line below, printed alone on stdout (named %[4]s, expires in %[5]s)
  web console:    %[1]s/orgs/%[2]s/   (sign in through the IdP set with scimbridge idp set,
                  or as the owner with a link from: scimbridge breakglass --org %[2]s)

  try:  TOKEN=<the token below>
        curl -H "Authorization: Bearer $TOKEN" %[3]s/Users
        curl %[1]s/readyz

`, base, org.Slug, scimURL, name, directory.FormatTTL(ttl))
	fmt.Fprintln(e.stdout, secret)
	return nil
}

// newMailWorker delivers the outbox over SMTP; without it, the worker
// logs each mail as not sent and how to get its join link.
func newMailWorker(db *database, cfg serveConfig, base string, log *slog.Logger) *mail.Worker {
	w := &mail.Worker{Outbox: db.DB, BaseURL: base, Log: log,
		Org: func(ctx context.Context, orgID string) (directory.Organization, error) {
			orgs, err := db.Organizations(ctx)
			if err != nil {
				return directory.Organization{}, err
			}
			for _, o := range orgs {
				if o.ID == orgID {
					return o, nil
				}
			}
			return directory.Organization{}, directory.NotFoundf("organization %q not found", orgID)
		}}
	if cfg.smtp != nil {
		w.Sender = cfg.smtp
	}
	return w
}
