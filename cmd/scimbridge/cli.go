package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errHelp ends a command after --help was printed.
var errHelp = errors.New("help requested")

// env is what every command sees of its process.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand. Its flags are declared in flags; run gets the
// remaining arguments.
type command struct {
	name    string
	args    string // synopsis of positional arguments
	summary string
	flags   func(fs *flag.FlagSet, e env) func(ctx context.Context, args []string) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

const programUsage = `scimbridge keeps a platform's directory true: a SCIM 2.0 endpoint per
organization that Okta and Microsoft Entra ID provision into, on PostgreSQL.

Usage: scimbridge COMMAND [flags] [args]

Commands:
%s
Every command reads DATABASE_URL; when it is unset, a private PostgreSQL under
--data-dir (default ./data) is used. Run 'scimbridge COMMAND --help' for flags.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprintf(stderr, programUsage, commandList())
		return usagef("no command given")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintf(stdout, programUsage, commandList())
		return nil
	}
	// Two-word commands ("org create") are registered under their full name.
	for _, n := range []int{2, 1} {
		if len(args) < n {
			continue
		}
		name := strings.Join(args[:n], " ")
		for _, c := range commands {
			if c.name == name {
				return c.exec(ctx, args[n:], e)
			}
		}
	}
	if groupHas(args[0]) {
		return usagef("%s: missing or unknown subcommand; one of: %s", args[0], strings.Join(subcommands(args[0]), ", "))
	}
	return usagef("unknown command %q (run 'scimbridge --help')", args[0])
}

func (c command) exec(ctx context.Context, args []string, e env) error {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runFn := c.flags(fs, e)
	fs.Usage = func() {} // the flag package calls it on every error; help is printed below
	help := func() {
		fmt.Fprintf(e.stdout, "Usage: scimbridge %s [flags] %s\n\n%s\n\nFlags:\n", c.name, c.args, c.summary)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if err := applyEnv(fs, e); err != nil {
		return err
	}
	if err := fs.Parse(interleave(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			help()
			return errHelp
		}
		return usagef("%s: %v", c.name, err)
	}
	return runFn(ctx, fs.Args())
}

// interleave moves flags after positional arguments to the front, so that
// "token revoke okta --org acme" works as well as "--org acme okta". The
// positional arguments follow a "--", so that one after a "--" of the
// command line stays an argument even when it looks like a flag. A flag
// missing its value at the end is passed alone, so that Parse reports it
// rather than take an argument for its value.
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // Parse reports it
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
			continue
		}
		if i+1 == len(args) {
			return flags
		}
		i++
		flags = append(flags, args[i])
	}
	return append(append(flags, "--"), pos...)
}

func commandList() string {
	var b strings.Builder
	names := make([]command, len(commands))
	copy(names, commands)
	sort.Slice(names, func(i, j int) bool { return names[i].name < names[j].name })
	for _, c := range names {
		fmt.Fprintf(&b, "  %-21s %s\n", c.name, firstLine(c.summary))
	}
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func groupHas(word string) bool { return len(subcommands(word)) > 0 }

func subcommands(word string) []string {
	var out []string
	for _, c := range commands {
		if g, sub, ok := strings.Cut(c.name, " "); ok && g == word {
			out = append(out, sub)
		}
	}
	return out
}

func envBool(e env, name string) bool {
	v, _ := strconv.ParseBool(e.getenv(name))
	return v
}

// common holds the flags every command has.
type common struct {
	dataDir   string
	logFormat string
	logLevel  string
}

func commonFlags(fs *flag.FlagSet, defaultLevel string) *common {
	c := &common{}
	fs.StringVar(&c.dataDir, "data-dir", "./data", "directory of the embedded PostgreSQL, used when DATABASE_URL is unset (SCIMBRIDGE_DATA_DIR)")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json (SCIMBRIDGE_LOG_FORMAT)")
	fs.StringVar(&c.logLevel, "log-level", defaultLevel, "log level: debug, info, warn or error (SCIMBRIDGE_LOG_LEVEL)")
	return c
}

// logger builds the one logger passed down; logs go to stderr.
func (c *common) logger(e env) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	default:
		return nil, usagef("--log-format %q: want text or json", c.logFormat)
	}
}

// parseTTLFlag parses lifetimes such as 90d.
func parseTTLFlag(name, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := directory.ParseTTL(v)
	if err != nil {
		return 0, usagef("--%s: %v", name, err)
	}
	return d, nil
}

// tokenTTLLimit is --max-token-ttl, the longest lifetime of a new SCIM
// or admin API token, for the commands that create tokens.
type tokenTTLLimit struct{ d time.Duration }

func maxTokenTTLFlag(fs *flag.FlagSet) *tokenTTLLimit {
	v := &tokenTTLLimit{d: directory.DefaultMaxTokenTTL}
	fs.Var(v, "max-token-ttl", "longest lifetime of a new SCIM or admin API token, such as 365d; a longer one is refused, and tokens asked for without one get 90d or this when shorter (SCIMBRIDGE_MAX_TOKEN_TTL)")
	return v
}

func (v *tokenTTLLimit) String() string {
	if v == nil {
		return ""
	}
	return directory.FormatTTL(v.d)
}

func (v *tokenTTLLimit) Set(s string) error {
	d, err := directory.ParseTTL(s)
	if err != nil {
		return err
	}
	v.d = d
	return nil
}

// retentionFlag is a lifetime in days (or hours, minutes), such as 30d.
type retentionFlag struct{ d time.Duration }

func (v *retentionFlag) String() string {
	if v == nil {
		return ""
	}
	return directory.FormatTTL(v.d)
}

func (v *retentionFlag) Set(s string) error {
	d, err := directory.ParseTTL(s)
	if err != nil {
		return err
	}
	v.d = d
	return nil
}

var envNameRE = regexp.MustCompile(`\((SCIMBRIDGE_[A-Z0-9_]+)\)$`)

// applyEnv sets each flag whose usage names a SCIMBRIDGE_* variable from
// that variable, so that the command line, parsed afterwards, wins. A bad
// value is a usage error naming the variable.
func applyEnv(fs *flag.FlagSet, e env) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		m := envNameRE.FindStringSubmatch(f.Usage)
		if m == nil || err != nil {
			return
		}
		if v := e.getenv(m[1]); v != "" {
			if serr := f.Value.Set(v); serr != nil {
				err = usagef("%s=%q: %v", m[1], v, serr)
			}
		}
	})
	return err
}
