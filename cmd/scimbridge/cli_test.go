package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCommandLineErrorsAreOneLineWithExitCode2(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no command", nil, nil, "no command given"},
		{"unknown command", []string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{"group without subcommand", []string{"token"}, nil, "one of: create, list, revoke"},
		{"unknown flag", []string{"org", "list", "--bogus"}, nil, "flag provided but not defined: -bogus"},
		{"bad duration", []string{"token", "create", "--org", "acme", "--expires", "5x"}, nil, `duration "5x"`},
		{"missing org", []string{"token", "list"}, nil, "--org is required"},
		{"bad slug", []string{"org", "create", "Not A Slug"}, nil, "organization slug"},
		{"extra argument", []string{"migrate", "now"}, nil, `unexpected argument "now"`},
		{"bad env value", []string{"serve"}, map[string]string{"SCIMBRIDGE_DB_MAX_CONNS": "many"}, `SCIMBRIDGE_DB_MAX_CONNS="many"`},
		{"bad log format", []string{"org", "list"}, map[string]string{"SCIMBRIDGE_LOG_FORMAT": "xml"}, `--log-format "xml"`},
		{"bad token lifetime bound", []string{"apitoken", "create", "--org", "acme", "--owner", "x", "--max-token-ttl", "forever"}, nil, "max-token-ttl"},
		{"bad token lifetime bound in env", []string{"serve"}, map[string]string{"SCIMBRIDGE_MAX_TOKEN_TTL": "0d"}, `SCIMBRIDGE_MAX_TOKEN_TTL="0d"`},
		{"bad public url", []string{"serve", "--public-url", "ftp://x"}, nil, "--public-url"},
		{"operator-token without subcommand", []string{"operator-token"}, nil, "one of: create, list, revoke"},
		{"bad operator token lifetime", []string{"operator-token", "create", "--ttl", "5x"}, nil, `duration "5x"`},
		{"bad operator token name", []string{"operator-token", "create", "--name", " x"}, nil, "--name"},
		{"operator-token revoke without a token", []string{"operator-token", "revoke"}, nil, "want exactly one argument"},
		{"operator-token list with an argument", []string{"operator-token", "list", "all"}, nil, `unexpected argument "all"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			getenv := func(k string) string { return c.env[k] }
			err := run(context.Background(), c.args, getenv, &stdout, &stderr)
			stderr.Reset()
			code := exitCode(err, &stderr)
			if code != 2 {
				t.Fatalf("exit code %d (err %v), want 2", code, err)
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) {
				t.Fatalf("stderr %q, want one line containing %q", msg, c.want)
			}
			if stdout.Len() != 0 {
				t.Fatalf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestHelpOnEveryCommand(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			args := append(strings.Fields(c.name), "--help")
			err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
			if code := exitCode(err, &stderr); code != 0 {
				t.Fatalf("exit code %d: %s", code, stderr.String())
			}
			if !strings.Contains(stdout.String(), "Usage: scimbridge "+c.name) {
				t.Fatalf("help output %q lacks the usage line", stdout.String())
			}
		})
	}
}

// A flag after a positional argument takes effect as it would before it
// ("token revoke okta --org acme"), a flag's value is never taken for a
// positional argument nor the reverse, and "--" ends the flags.
func TestFlagsAfterPositionalArguments(t *testing.T) {
	t.Parallel()
	// The database comes from the environment, so that only the flags
	// the test places follow a positional argument.
	db := dbEnv(t)
	getenv := func(k string) string { return db[k] }
	run := func(args ...string) (string, string, int) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := exitCode(run(context.Background(), args, getenv, &stdout, &stderr), &stderr)
		return stdout.String(), stderr.String(), code
	}
	must := func(args ...string) string {
		t.Helper()
		out, errOut, code := run(args...)
		if code != 0 {
			t.Fatalf("%q: exit code %d: %s", args, code, errOut)
		}
		return out
	}
	must("org", "create", "acme", "--name", "Acme Inc")
	must("org", "create", "globex", "--name=Globex Corp")
	out := must("org", "list")
	for _, want := range []string{"acme  ", "Acme Inc", "globex", "Globex Corp"} {
		if !strings.Contains(out, want) {
			t.Errorf("org list lacks %q:\n%s", want, out)
		}
	}
	must("token", "create", "--org", "acme", "--name", "okta")
	must("token", "create", "--org", "acme", "--name", "entra")
	must("token", "revoke", "okta", "--org", "acme")
	list := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(must("token", "list", "--org", "acme")), "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 2 {
			list[f[0]] = f[1]
		}
	}
	if list["okta"] != "revoked" || list["entra"] != "active" {
		t.Fatalf("token list after revoking okta: %v", list)
	}

	// Without a database: the parser's own errors.
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"a dangling flag", []string{"token", "revoke", "okta", "--org"}, "flag needs an argument: -org"},
		// A boolean flag takes no value: the address stays the argument, and
		// the flags after it are read (the bad --expires is reported).
		{"a boolean flag before the argument", []string{"invite", "--any-email", "ann@example.com", "--org", "acme", "--expires", "5x"}, `duration "5x"`},
		{"-- ends the flags", []string{"org", "create", "--", "--name"}, "organization slug"},
	}
	for _, c := range cases {
		_, errOut, code := run(c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit code %d, stderr %q; want 2 and %q", c.name, code, errOut, c.want)
		}
	}
}
