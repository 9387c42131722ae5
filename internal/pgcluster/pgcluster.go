// Package pgcluster runs a private PostgreSQL cluster from the machine's own
// PostgreSQL binaries: scimbridge's embedded default when DATABASE_URL is
// unset, and the throwaway cluster of the test harness.
//
// Layout of a data dir:
//
//	DIR/pg/          the cluster (PGDATA), created by initdb on first use
//	DIR/run/         the Unix socket and the server log; no TCP listener
//	DIR/cluster.lock serialises start and stop between processes
//	DIR/serve.lock   held by the one `scimbridge serve` using DIR
//
// initdb, pg_ctl and postgres refuse to run as root. When the process is
// root they run as the unprivileged "postgres" account (the Debian package
// creates it), and DIR/pg and DIR/run are owned by it.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoBinaries is returned when initdb, pg_ctl or postgres cannot be found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, in $SCIMBRIDGE_PG_BIN or under /usr/lib/postgresql/*/bin; install them with `apt-get install -y postgresql` (Debian/Ubuntu; `sudo` when not root), or set DATABASE_URL to an existing PostgreSQL server")

// ErrServeRunning is returned by LockServe when another serve holds the dir.
var ErrServeRunning = errors.New("another scimbridge serve is already running on this data dir")

// Port is the (socket-only) port; it only names the socket file.
const Port = 5432

// Superuser is the role initdb creates.
const Superuser = "postgres"

// Options configure a cluster.
type Options struct {
	// DataDir holds the cluster; it is created when missing.
	DataDir string
	// Settings are extra server settings (postgres -c NAME=VALUE).
	Settings map[string]string
	// Logger receives what the cluster does; nil discards.
	Logger *slog.Logger
	// Getenv reads the environment (SCIMBRIDGE_PG_BIN, PATH); nil means os.Getenv.
	Getenv func(string) string
}

// Cluster is a running private PostgreSQL server.
type Cluster struct {
	dir     string
	bin     string
	cred    *syscall.Credential
	log     *slog.Logger
	started bool // this process started the server
}

// Start makes sure the cluster under opts.DataDir exists and runs: it creates
// it with initdb on first use and starts it unless it already runs (another
// scimbridge command may have started it; that one is reused).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	// The socket path must fit in sockaddr_un (108 bytes).
	if n := len(filepath.Join(dir, "run", ".s.PGSQL."+strconv.Itoa(Port))); n > 103 {
		return nil, fmt.Errorf("data dir %s is too long for a Unix socket path (%d bytes); choose a shorter --data-dir", dir, n)
	}
	if strings.ContainsAny(dir, "'\"\\ ") {
		return nil, fmt.Errorf("data dir %q must not contain spaces, quotes or backslashes", dir)
	}
	bin, err := FindBinaries(getenv)
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: bin, log: log}
	if os.Geteuid() == 0 {
		cred, name, err := unprivileged()
		if err != nil {
			return nil, err
		}
		c.cred = cred
		log.Info("running as root: PostgreSQL will run as an unprivileged user", "user", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	unlock, err := lockFile(filepath.Join(dir, "cluster.lock"), true)
	if err != nil {
		return nil, err
	}
	defer unlock()

	for _, sub := range []string{"pg", "run"} {
		if err := c.mkdirOwned(filepath.Join(dir, sub)); err != nil {
			return nil, err
		}
	}
	if c.cred != nil {
		if out, err := c.command(ctx, "/bin/sh", "-c", `test -w "$1"`, "sh", c.runDir()).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("the postgres account cannot reach %s (%s); choose a --data-dir it can reach, for example under /var/tmp, or make the parent directories searchable", dir, bytes.TrimSpace(out))
		}
	}
	if _, err := os.Stat(filepath.Join(c.pgData(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		log.Info("creating PostgreSQL cluster", "dir", c.pgData(), "bin", bin)
		out, err := c.command(ctx, filepath.Join(bin, "initdb"),
			"-D", c.pgData(), "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("initdb: %w: %s", err, lastLines(out, 5))
		}
	}
	running, err := c.running(ctx)
	if err != nil {
		return nil, err
	}
	if running {
		log.Info("reusing running PostgreSQL cluster", "dir", c.pgData())
		return c, nil
	}
	opt := []string{"-c listen_addresses=''", "-c unix_socket_directories='" + c.runDir() + "'", "-c unix_socket_permissions=0700", "-p " + strconv.Itoa(Port)}
	keys := make([]string, 0, len(opts.Settings))
	for k := range opts.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := opts.Settings[k]
		if strings.ContainsAny(k+v, "'\"\\ ;$`") {
			return nil, fmt.Errorf("setting %s=%s: unsupported characters", k, v)
		}
		opt = append(opt, "-c "+k+"="+v)
	}
	log.Info("starting PostgreSQL", "dir", c.pgData(), "socket", c.runDir())
	out, err := c.command(ctx, filepath.Join(bin, "pg_ctl"), "start", "-D", c.pgData(), "-w", "-t", "60",
		"-l", filepath.Join(c.runDir(), "postgres.log"), "-o", strings.Join(opt, " ")).CombinedOutput()
	if err != nil {
		tail, _ := os.ReadFile(filepath.Join(c.runDir(), "postgres.log"))
		return nil, fmt.Errorf("pg_ctl start: %w: %s %s", err, lastLines(out, 3), lastLines(tail, 5))
	}
	c.started = true
	return c, nil
}

// Started reports whether this process started the server (rather than
// reusing one that ran already).
func (c *Cluster) Started() bool { return c.started }

// Dir is the data dir.
func (c *Cluster) Dir() string { return c.dir }

// DSN is a keyword/value connection string for database db.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", c.runDir(), Port, Superuser, db)
}

// Stop stops the server (fast shutdown: sessions are closed, nothing is lost).
func (c *Cluster) Stop(ctx context.Context) error {
	unlock, err := lockFile(filepath.Join(c.dir, "cluster.lock"), true)
	if err != nil {
		return err
	}
	defer unlock()
	running, err := c.running(ctx)
	if err != nil || !running {
		return err
	}
	c.log.Info("stopping PostgreSQL", "dir", c.pgData())
	out, err := c.command(ctx, filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.pgData(), "-m", "fast", "-w", "-t", "60").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, lastLines(out, 3))
	}
	return nil
}

// Release stops the server if this process started it and no serve holds
// the data dir: a CLI command that started the cluster for its own run
// stops it again, but never from under a running serve.
func (c *Cluster) Release(ctx context.Context) error {
	if !c.started {
		return nil
	}
	unlock, err := lockFile(filepath.Join(c.dir, "serve.lock"), false)
	if err != nil {
		return nil // a serve runs on this dir and owns the cluster now
	}
	unlock()
	return c.Stop(ctx)
}

// LockServe takes the data dir's serve lock, held until release is called or
// the process exits. A second serve gets ErrServeRunning.
func LockServe(dataDir string) (release func(), err error) {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	release, err = lockFile(filepath.Join(dataDir, "serve.lock"), false)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		abs, _ := filepath.Abs(dataDir)
		return nil, fmt.Errorf("%w (%s); stop it first or use another --data-dir", ErrServeRunning, abs)
	}
	return release, err
}

func (c *Cluster) pgData() string { return filepath.Join(c.dir, "pg") }
func (c *Cluster) runDir() string { return filepath.Join(c.dir, "run") }

// running asks pg_ctl: status 0 is running, 3 is not.
func (c *Cluster) running(ctx context.Context) (bool, error) {
	out, err := c.command(ctx, filepath.Join(c.bin, "pg_ctl"), "status", "-D", c.pgData()).CombinedOutput()
	if err == nil {
		return true, nil
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		return false, nil
	}
	return false, fmt.Errorf("pg_ctl status: %w: %s", err, lastLines(out, 3))
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = c.dir
	// Children get their own process group: a Ctrl-C at the terminal then
	// reaches scimbridge alone, which stops the server in order, instead of
	// also hitting pg_ctl mid-start.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.Env = append(cmd.Env, "HOME="+c.dir)
	}
	return cmd
}

func (c *Cluster) mkdirOwned(path string) error {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(path, 0o700); err != nil {
		return err
	}
	if c.cred != nil {
		return os.Chown(path, int(c.cred.Uid), int(c.cred.Gid))
	}
	return nil
}

func unprivileged() (*syscall.Credential, string, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, "", errors.New("running as root, and PostgreSQL refuses to: no unprivileged 'postgres' account exists to run it as (apt-get install -y postgresql creates one, or: useradd --system postgres)")
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, u.Username, nil
}

// FindBinaries returns the directory holding initdb, pg_ctl and postgres:
// $SCIMBRIDGE_PG_BIN, then PATH, then the newest /usr/lib/postgresql/*/bin.
func FindBinaries(getenv func(string) string) (string, error) {
	var candidates []string
	if d := getenv("SCIMBRIDGE_PG_BIN"); d != "" {
		candidates = append(candidates, d)
	}
	for _, d := range filepath.SplitList(getenv("PATH")) {
		if d != "" {
			candidates = append(candidates, d)
		}
	}
	versions, _ := filepath.Glob(systemBinGlob)
	sort.Slice(versions, func(i, j int) bool { return pgMajor(versions[i]) > pgMajor(versions[j]) })
	candidates = append(candidates, versions...)
	for _, d := range candidates {
		if hasBinaries(d) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func hasBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// lockFile takes an flock on path; wait=false fails at once with
// EWOULDBLOCK when another process holds it.
func lockFile(path string, wait bool) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// WaitStopped waits until nothing answers on the data dir's socket; tests
// use it after stopping a server from another process.
func WaitStopped(ctx context.Context, dataDir string) error {
	sock := filepath.Join(dataDir, "run", ".s.PGSQL."+strconv.Itoa(Port))
	for {
		if _, err := os.Stat(sock); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// systemBinGlob is where Debian's packages put the server binaries.
var systemBinGlob = "/usr/lib/postgresql/*/bin"
