// Command scimload replays an identity provider's initial push against a
// running scimbridge server and reports its throughput, latency and memory.
//
// It runs these phases, in the order --phases lists them:
//
//   - push: for each of --users users, Okta's lookup
//     (GET /Users?filter=userName eq "…") then POST /Users; a user the
//     lookup finds (a re-run) is skipped.
//   - lookup: --lookups random userName eq and externalId eq lookups
//     (alternately) of the pushed users.
//   - page: --pages random pages GET /Users?startIndex=N&count=100.
//   - raw: for --raw-duration, --concurrency connections to the server's
//     PostgreSQL (--pg) each run autocommit single-row INSERTs into a
//     scratch table: the durable commit rate of the same PostgreSQL, with
//     the same fsync and synchronous_commit, in the same run. The summary
//     divides the push rate by it (by the mean of every raw phase run).
//   - tenants: the push of --users users into each organization listed
//     in --tenants (lines "BASE-URL TOKEN"), all at once: job j pushes
//     user j/T of tenant j%T, so every tenant advances together. The
//     summary gives each tenant's p99 and compares it and the total rate
//     with --baseline (the JSON report of a single-tenant push).
//   - groups: POST /Groups, then membership PATCHes of --batch members until
//     the group has --group-members, then one more measured PATCH of --batch
//     new members into the big group (the last --batch users are kept for
//     it), and a GET of the whole group. If the push phase did not run, an
//     "ids" phase first lists the users (userName sw "<prefix>-") for their
//     ids.
//
// Every phase has a fixed request count; --concurrency workers share a
// pacer that starts at most --rate jobs per second (a push job is a lookup
// and a create; 0 = as fast as possible). For each phase and request kind it
// prints the count, errors, requests/s over the phase's wall time, and
// p50/p90/p99/max latency of the successful requests; while it runs it
// samples the server's VmRSS and VmHWM from /proc. Any unexpected answer is
// an error: the first 5 distinct ones are printed and the exit status is 1.
//
// A summary follows the table: the push rate, its ratio to the raw INSERT
// rate, the rate of each tenth of the push (by completion order) and the
// slowest tenth over the fastest, userName eq lookup p50/p99 during the push
// and in a later lookup phase, the server's peak RSS, each against the
// issue's target. With --pg-stat-statements (and the server's PostgreSQL
// started with the library, SCIMBRIDGE_PG_SETTINGS on the embedded one) the
// counters are reset at the start and the statements with the most total
// time are printed at the end.
//
// Example, against a server started with --init-org load:
//
//	go run ./cmd/scimload --base http://127.0.0.1:18080/scim/v2/load \
//	    --token "$TOKEN" --users 100000 --concurrency 8 --json push.json
//
// and a steady 500 lookups/s over the same users:
//
//	go run ./cmd/scimload --base http://127.0.0.1:18080/scim/v2/load \
//	    --users 100000 --phases lookup --lookups 30000 --rate 500
//
// "scimload soak" is another mode: a bounded soak on a loopback server
// mixing SCIM pushes and PATCHes (Okta and Entra shapes), authorize calls,
// sessions, Git webhooks and event delivery across many organizations,
// with the server's RSS slope and a verdict (soak.go; docs/operations.md,
// "Soak test").
//
// The token may be given in SCIMLOAD_TOKEN instead of --token. The server's
// pid is found from the process listening on the --base port unless --pid
// or --pid-file names it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "soak" {
		os.Exit(runSoak(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// config is the parsed command line.
type config struct {
	base         string
	token        string
	users        int
	concurrency  int
	rate         float64
	phases       []string
	prefix       string
	lookups      int
	pages        int
	batch        int
	groupMembers int
	pid          int
	pidFile      string
	jsonPath     string
	timeout      time.Duration
	progress     time.Duration
	seed         uint64
	pg           string
	rawDuration  time.Duration
	statements   bool
	top          int
	tenantsFile  string
	tenants      []tenant
	baseline     string
}

// tenant is one organization of the tenants phase.
type tenant struct {
	Base  string
	Token string
}

var (
	knownPhases   = []string{"raw", "push", "lookup", "page", "groups", "tenants"}
	defaultPhases = []string{"push", "lookup", "page", "groups"}
)

// parseFlags parses args; flags is every flag's value, the token redacted.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (cfg config, flags map[string]string, err error) {
	fs := flag.NewFlagSet("scimload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var phases string
	fs.StringVar(&cfg.base, "base", "", "SCIM base URL, e.g. http://127.0.0.1:18080/scim/v2/ORG (required)")
	fs.StringVar(&cfg.token, "token", "", "bearer token (default $SCIMLOAD_TOKEN)")
	fs.IntVar(&cfg.users, "users", 1000, "number of users pushed (and looked up, paged, grouped)")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "concurrent clients")
	fs.Float64Var(&cfg.rate, "rate", 0, "jobs per second per phase: creates for push, requests otherwise; 0 = as fast as possible")
	fs.StringVar(&phases, "phases", strings.Join(defaultPhases, ","), "comma-separated phases to run, in order: "+strings.Join(knownPhases, ", "))
	fs.StringVar(&cfg.prefix, "prefix", "load-user", `userName prefix: users are "<prefix>-%07d@example.com"`)
	fs.IntVar(&cfg.lookups, "lookups", 2000, "requests of the lookup phase")
	fs.IntVar(&cfg.pages, "pages", 200, "requests of the page phase")
	fs.IntVar(&cfg.batch, "batch", 1000, "members per group PATCH")
	fs.IntVar(&cfg.groupMembers, "group-members", 0, "members put in the group before the final PATCH (default min(users, 50000), at most users-batch)")
	fs.IntVar(&cfg.pid, "pid", 0, "server pid for RSS sampling; 0 = find it, -1 = do not sample")
	fs.StringVar(&cfg.pidFile, "pid-file", "", "file holding the server pid")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write the report as JSON to this file")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "bound on the whole run")
	fs.DurationVar(&cfg.progress, "progress", 10*time.Second, "print progress to stderr this often; 0 = never")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the random user and page choices")
	fs.StringVar(&cfg.pg, "pg", "", "connection string of the server's PostgreSQL, for the raw phase and --pg-stat-statements (default $SCIMLOAD_PG)")
	fs.DurationVar(&cfg.rawDuration, "raw-duration", 10*time.Second, "how long each raw phase inserts")
	fs.BoolVar(&cfg.statements, "pg-stat-statements", false, "reset pg_stat_statements at the start and print the top statements by total time at the end (needs --pg)")
	fs.IntVar(&cfg.top, "top", 15, "statements printed by --pg-stat-statements")
	fs.StringVar(&cfg.tenantsFile, "tenants", "", `file of the tenants phase: one "BASE-URL TOKEN" line per organization`)
	fs.StringVar(&cfg.baseline, "baseline", "", "JSON report of a single-tenant push the tenants phase is compared with")
	if err := fs.Parse(args); err != nil {
		return cfg, nil, err
	}
	if fs.NArg() > 0 {
		return cfg, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg.token == "" {
		cfg.token = getenv("SCIMLOAD_TOKEN")
	}
	if cfg.pg == "" {
		cfg.pg = getenv("SCIMLOAD_PG")
	}
	if cfg.tenantsFile != "" {
		if cfg.tenants, err = readTenants(cfg.tenantsFile); err != nil {
			return cfg, nil, err
		}
		// The first tenant stands for the server: RSS sampling finds it by
		// its port, and the other phases run against it.
		if cfg.base == "" {
			cfg.base = cfg.tenants[0].Base
		}
		if cfg.token == "" {
			cfg.token = cfg.tenants[0].Token
		}
	}
	if cfg.groupMembers == 0 {
		cfg.groupMembers = min(cfg.users, 50000)
	}
	cfg.phases = splitList(phases)
	if err := cfg.validate(); err != nil {
		return cfg, nil, err
	}
	cfg.base = strings.TrimRight(cfg.base, "/")
	flags = map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { flags[f.Name] = f.Value.String() })
	if flags["token"] != "" {
		flags["token"] = "(redacted)"
	}
	if flags["pg"] != "" {
		flags["pg"] = redactDSN(flags["pg"])
	}
	flags["group-members"] = strconv.Itoa(cfg.groupMembers)
	return cfg, flags, nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (cfg *config) validate() error {
	u, err := url.Parse(cfg.base)
	switch {
	case cfg.base == "":
		return errors.New("--base is required")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("--base %q: want an absolute http(s) URL", cfg.base)
	case cfg.token == "":
		return errors.New("--token or SCIMLOAD_TOKEN is required")
	case cfg.users < 1:
		return errors.New("--users: want at least 1")
	case cfg.concurrency < 1 || cfg.concurrency > 1000:
		return errors.New("--concurrency: want 1..1000")
	case cfg.rate < 0:
		return errors.New("--rate: want >= 0")
	case cfg.lookups < 0 || cfg.pages < 0 || cfg.groupMembers < 0:
		return errors.New("--lookups, --pages, --group-members: want >= 0")
	case cfg.batch < 1:
		return errors.New("--batch: want at least 1")
	case cfg.timeout <= 0:
		return errors.New("--timeout: want > 0")
	case cfg.prefix == "" || strings.ContainsAny(cfg.prefix, "\"@ "):
		return errors.New(`--prefix: want a non-empty prefix without '"', '@' or spaces`)
	case len(cfg.phases) == 0:
		return errors.New("--phases: empty")
	case cfg.rawDuration <= 0 || cfg.top < 1:
		return errors.New("--raw-duration, --top: want > 0")
	case (slices.Contains(cfg.phases, "raw") || cfg.statements) && cfg.pg == "":
		return errors.New("the raw phase and --pg-stat-statements need --pg or SCIMLOAD_PG")
	case slices.Contains(cfg.phases, "tenants") && len(cfg.tenants) == 0:
		return errors.New("the tenants phase needs --tenants")
	}
	for _, p := range cfg.phases {
		if !slices.Contains(knownPhases, p) {
			return fmt.Errorf("--phases: unknown phase %q (known: %s)", p, strings.Join(knownPhases, ", "))
		}
	}
	return nil
}

// run runs scimload and returns its exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, flags, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		fmt.Fprintln(stderr, "scimload:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	rep := &report{
		Start: time.Now(), Base: cfg.base, GoVersion: runtime.Version(),
		Machine: describeMachine(), Flags: flags,
	}
	l := newLoader(cfg, stderr)
	defer l.close()
	if l.baseline, err = readBaseline(cfg.baseline); err != nil {
		fmt.Fprintln(stderr, "scimload:", err)
		return 2
	}
	if cfg.pg != "" {
		pg, err := openPG(ctx, cfg.pg, cfg.concurrency)
		if err != nil {
			fmt.Fprintln(stderr, "scimload:", err)
			return 2
		}
		defer pg.close()
		l.pg = pg
		if rep.PG, err = pg.settings(ctx); err != nil {
			fmt.Fprintln(stderr, "scimload: reading the server's settings:", err)
			return 2
		}
		if cfg.statements {
			if err := pg.resetStatements(ctx); err != nil {
				fmt.Fprintln(stderr, "scimload: --pg-stat-statements:", err)
				return 2
			}
		}
	}
	sampler := startSampler(cfg, stderr)
	if sampler != nil {
		l.cpu = &cpuMeter{serverPID: sampler.rep.PID}
		if rep.PG != nil {
			l.cpu.postmasterPID = postmasterPID(rep.PG["data_directory"])
		}
	}
	for _, name := range cfg.phases {
		if ctx.Err() != nil {
			break
		}
		rep.Phases = append(rep.Phases, l.runPhases(ctx, name)...)
	}
	if sampler != nil {
		rep.RSS = sampler.finish()
	}
	if cfg.statements {
		var err error
		if rep.Statements, err = l.pg.topStatements(context.WithoutCancel(ctx), cfg.top); err != nil {
			fmt.Fprintln(stderr, "scimload: reading pg_stat_statements:", err)
		}
	}
	rep.Summary = summarizeRun(rep, l.baseline)
	rep.Errors.Total, rep.Errors.First = l.errs.snapshot()
	if err := context.Cause(ctx); err != nil {
		rep.Interrupted = err.Error()
	}
	return finish(rep, cfg.jsonPath, stdout, stderr)
}

// startSampler starts sampling the server's RSS, or returns nil.
func startSampler(cfg config, stderr io.Writer) *rssSampler {
	pid, how, err := serverPID(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "scimload: not sampling server RSS: %v\n", err)
		return nil
	}
	if pid <= 0 {
		return nil
	}
	fmt.Fprintf(stderr, "scimload: sampling RSS of pid %d (%s): %s\n", pid, how, strings.Join(procCmdline(pid), " "))
	return startRSSSampler(context.Background(), pid, how)
}

func serverPID(cfg config) (int, string, error) {
	switch {
	case cfg.pidFile != "":
		b, err := os.ReadFile(cfg.pidFile)
		if err != nil {
			return 0, "", err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			return 0, "", fmt.Errorf("--pid-file %s: no pid in it", cfg.pidFile)
		}
		return pid, "from " + cfg.pidFile, nil
	case cfg.pid > 0:
		return cfg.pid, "from --pid", nil
	case cfg.pid < 0:
		return 0, "", nil
	}
	return findServerPID(basePort(cfg.base))
}

// basePort is the TCP port of the base URL.
func basePort(base string) int {
	u, err := url.Parse(base)
	if err != nil {
		return 0
	}
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return n
	}
	if u.Scheme == "https" {
		return 443
	}
	return 80
}

// finish prints the report, writes the JSON and returns the exit status.
func finish(rep *report, jsonPath string, stdout, stderr io.Writer) int {
	status := 0
	if err := writeTable(stdout, rep); err != nil {
		fmt.Fprintln(stderr, "scimload:", err)
		status = 1
	}
	if jsonPath != "" {
		if err := writeJSONFile(jsonPath, rep); err != nil {
			fmt.Fprintln(stderr, "scimload:", err)
			status = 1
		}
	}
	if rep.Errors.Total > 0 || rep.Interrupted != "" {
		status = 1
	}
	return status
}
