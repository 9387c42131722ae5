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

func TestFlagsAfterPositionalArguments(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	// The org does not exist, but the command line parses: the error comes
	// from the database, not the flag parser.
	err := run(context.Background(), []string{"token", "revoke", "okta", "--org"}, func(string) string { return "" }, &stdout, &stderr)
	if code := exitCode(err, &stderr); code != 2 {
		t.Fatalf("dangling --org: exit code %d, want 2", code)
	}
}
