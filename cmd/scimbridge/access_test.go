package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

func TestAccessCommandsAreThinClientsOfTheStore(t *testing.T) {
	t.Parallel()
	cmd := cli(dbEnv(t))
	must := func(args ...string) string {
		t.Helper()
		out, err := cmd(args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	must("org", "create", "acme")
	must("workspace", "create", "data-eng", "--org", "acme", "--target", "prod/data", "--target", "dev/data")
	if out := must("workspace", "list", "--org", "acme"); !strings.Contains(out, "dev/data,prod/data") {
		t.Fatalf("workspace list: %q", out)
	}
	must("grant", "--org", "acme", "--user", "break-glass-owner", "--role", "editor", "--workspace", "data-eng")
	show := must("user", "show", "break-glass-owner", "--org", "acme")
	for _, want := range []string{"source:      breakglass", "permission:  org-admin directly", "permission:  editor on data-eng directly"} {
		if !strings.Contains(show, want) {
			t.Errorf("user show lacks %q:\n%s", want, show)
		}
	}
	if _, err := cmd("grant", "--org", "acme", "--user", "break-glass-owner", "--role", "editor"); err == nil {
		t.Error("editor without a workspace accepted")
	}
	must("revoke", "--org", "acme", "--user", "break-glass-owner", "--role", "editor", "--workspace", "data-eng")
	if show := must("user", "show", "break-glass-owner", "--org", "acme"); strings.Contains(show, "editor on") {
		t.Errorf("revoked grant still shown:\n%s", show)
	}
	id := strings.TrimSpace(must("mapping", "add", "--org", "acme", "--group", "Data-Platform", "--role", "runner", "--workspace", "data-eng"))
	if out := must("mapping", "list", "--org", "acme"); !strings.Contains(out, "displayName=Data-Platform") || !strings.Contains(out, id) {
		t.Fatalf("mapping list: %q", out)
	}
	must("mapping", "remove", id, "--org", "acme")
	if out := must("mapping", "list", "--org", "acme"); strings.Contains(out, id) {
		t.Fatalf("mapping still listed: %q", out)
	}
	tok := must("apitoken", "create", "--org", "acme", "--owner", "break-glass-owner", "--name", "platform")
	if !strings.HasPrefix(tok, "scb_api_") || strings.Count(tok, "\n") != 1 {
		t.Fatalf("apitoken create printed %q, want the token alone", tok)
	}
	if out := must("user", "list", "--org", "acme", "--source", "breakglass"); !strings.Contains(out, "break-glass-owner") || !strings.Contains(out, "active") {
		t.Fatalf("user list: %q", out)
	}
	// A pending invitation is listed as an invited user, first.
	inv := strings.TrimSpace(must("invite", "new@acme.test", "--org", "acme"))
	lines := strings.Split(strings.TrimSpace(must("user", "list", "--org", "acme")), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "new@acme.test") || !strings.Contains(lines[1], "invited") || !strings.Contains(lines[1], inv) {
		t.Fatalf("user list with an invitation: %q", lines)
	}
	if out := must("user", "list", "--org", "acme", "--status", "active"); strings.Contains(out, "new@acme.test") {
		t.Fatalf("an invitation listed as active: %q", out)
	}
}

func TestServiceAccountAndGitCommands(t *testing.T) {
	t.Parallel()
	cmd := cli(dbEnv(t))
	if _, err := cmd("org", "create", "acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd("sa", "create", "ci-robot", "--org", "acme", "--description", "builds main"); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd("sa", "create", "deployer", "--org", "acme", "--owner", "break-glass-owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd("sa", "disable", "ci-robot", "--org", "acme"); err != nil {
		t.Fatal(err)
	}
	out, err := cmd("sa", "list", "--org", "acme")
	if err != nil || !strings.Contains(out, "ci-robot") || !strings.Contains(out, "deactivated") || !strings.Contains(out, "builds main") {
		t.Fatalf("sa list: %q %v", out, err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	if h := rows["NAME"]; len(h) < 3 || h[2] != "OWNER" {
		t.Fatalf("sa list has no owner column: %q", out)
	}
	if rows["deployer"][2] != "break-glass-owner" || rows["ci-robot"][2] != "-" {
		t.Fatalf("sa list owners: %q", out)
	}
	if _, err := cmd("git", "map", "--org", "acme", "--email", "ci@acme.example", "--to", "ci-robot"); err == nil || !strings.Contains(err.Error(), "ci@acme.example") {
		t.Fatalf("git map of an identity never seen: %v", err)
	}
	if out, err := cmd("git", "list", "--org", "acme"); err != nil || !strings.Contains(out, "PROVIDER") {
		t.Fatalf("git list: %q %v", out, err)
	}
}

// The dry run prints what it would do and changes nothing; the run then
// prints what it did, and the database shows it.
func TestReconcileOncePrintsItsSummary(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	cmd := cli(env)
	if _, err := cmd("org", "create", "acme"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := postgres.Open(ctx, env["DATABASE_URL"], postgres.PoolConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	org, err := db.Organization(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	// Ann, provisioned by the IdP, committed with her work address: the
	// run auto-maps that identity to her. A declared robot is created.
	ann, err := db.CreateUser(ctx, directory.Actor{Kind: "scim-token", Name: "okta"}, directory.User{OrgID: org.ID,
		Attributes: map[string]any{"userName": "ann@acme.test", "active": true, "emails": []any{map[string]any{"value": "ann@acme.test"}}}})
	if err != nil {
		t.Fatal(err)
	}
	obs := directory.GitObservation{Provider: directory.GitProviderGitHub, Repo: "acme/api", SHA: strings.Repeat("a", 40), Name: "Ann",
		Email: "ann@acme.test", At: time.Now(), Role: directory.GitRoleAuthor}
	if _, err := db.IngestGitObservations(ctx, org.ID, []directory.GitObservation{obs}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "robots.yaml")
	if err := os.WriteFile(file, []byte("serviceAccounts:\n  - name: ci-robot\n    org: acme\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	state := func() (mappedTo string, robot bool, runs int) {
		t.Helper()
		g, err := db.FindGitIdentity(ctx, org.ID, directory.GitProviderGitHub, "ann@acme.test", "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.ServiceAccount(ctx, org.ID, "ci-robot")
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM reconcile_runs WHERE org_id = $1`, org.ID).Scan(&runs); err != nil {
			t.Fatal(err)
		}
		return g.UserID, err == nil, runs
	}
	lines := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}

	out, err := cmd("reconcile", "--once", "--dry-run", "--service-accounts", file)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	lines(out, "reconcile dry run (nothing was changed): 1 organization(s)", "\nacme: ok, full,",
		"auto-map          planned 1, changed 0", "service-accounts  planned 1, changed 0",
		"  would map github ann@acme.test → ann@acme.test (")
	if strings.Contains(out, "  mapped ") {
		t.Errorf("the dry run says it mapped:\n%s", out)
	}
	if user, robot, runs := state(); user != "" || robot || runs != 0 {
		t.Fatalf("the dry run changed the database: identity mapped to %q, robot created %v, %d runs recorded", user, robot, runs)
	}

	out, err = cmd("reconcile", "--once", "--org", "acme", "--service-accounts", file)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	lines(out, "reconcile run: 1 organization(s)", "\nacme: ok, full,",
		"auto-map          planned 1, changed 1", "service-accounts  planned 1, changed 1",
		"  mapped github ann@acme.test → ann@acme.test (")
	if strings.Contains(out, "would") || strings.Contains(out, "nothing was changed") {
		t.Errorf("the run speaks as a dry run:\n%s", out)
	}
	if user, robot, runs := state(); user != ann.ID || !robot || runs != 1 {
		t.Fatalf("after the run: identity mapped to %q (want %s), robot created %v, %d runs recorded", user, ann.ID, robot, runs)
	}
	if _, err := cmd("reconcile"); err == nil {
		t.Fatal("reconcile without --once ran")
	}
}

func TestReconcileAppliesDeclaredServiceAccounts(t *testing.T) {
	t.Parallel()
	cmd := cli(dbEnv(t))
	if _, err := cmd("org", "create", "acme"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "robots.yaml")
	if err := os.WriteFile(file, []byte("serviceAccounts:\n  - name: ci-robot\n    org: acme\n    description: builds main\n    bindings:\n      - role: org-admin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cmd("reconcile", "--once", "--service-accounts", file); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := cmd("user", "show", "ci-robot", "--org", "acme")
	if err != nil || !strings.Contains(out, "source:      service") || !strings.Contains(out, "org-admin directly") {
		t.Fatalf("declared account: %q %v", out, err)
	}
	if err := os.WriteFile(file, []byte("serviceAccounts:\n  - name: ci-robot\n    org: acme\n    colour: blue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cmd("reconcile", "--once", "--service-accounts", file); err == nil || !strings.Contains(err.Error()+out, ":4") {
		t.Fatalf("an invalid file was accepted or its line not named: %q %v", out, err)
	}
}

// dbEnv is the environment of commands run on a database of pgtest's
// cluster (DATABASE_URL, and a secret key as production sets one): one
// cluster for the package, where the embedded default starts and stops
// PostgreSQL for every command. The embedded default has tests of its own
// (serve_test.go).
func dbEnv(t *testing.T) map[string]string {
	return map[string]string{
		"DATABASE_URL":          pgtest.DSN(t),
		"SCIMBRIDGE_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}
}

// cli runs scimbridge commands in env, returning their stdout.
func cli(env map[string]string) func(args ...string) (string, error) {
	return func(args ...string) (string, error) {
		var out syncBuffer
		err := run(context.Background(), args, func(k string) string { return env[k] }, &out, io.Discard)
		return out.String(), err
	}
}

func TestIdPSetChecksDiscoveryFirst(t *testing.T) {
	t.Parallel()
	cmd := cli(dbEnv(t))
	if _, err := cmd("org", "create", "acme"); err != nil {
		t.Fatal(err)
	}
	_, err := cmd("idp", "set", "--org", "acme", "--issuer", "http://127.0.0.1:1/nowhere", "--client-id", "scimbridge")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("an issuer that does not answer: %v", err)
	}
	if _, err := cmd("idp", "set", "--org", "acme", "--client-id", "x"); err == nil {
		t.Fatal("no issuer accepted")
	}
	// A provider on this machine is reached only with the operator's flag.
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := "http://" + r.Host
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token", "jwks_uri": u + "/jwks"})
	}))
	t.Cleanup(idp.Close)
	if _, err := cmd("idp", "set", "--org", "acme", "--issuer", idp.URL, "--client-id", "x"); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("a provider on loopback without --allow-private-networks: %v", err)
	}
	if _, err := cmd("idp", "set", "--org", "acme", "--issuer", idp.URL, "--client-id", "x", "--allow-private-networks"); err != nil {
		t.Fatalf("with --allow-private-networks: %v", err)
	}
}

// The token commands follow the expiry policy: 90 days when no lifetime
// is given, nothing above --max-token-ttl (or SCIMBRIDGE_MAX_TOKEN_TTL).
// The operator may still mint an API token for the break-glass owner
// (TestAccessCommandsAreThinClientsOfTheStore), audited as the CLI.
func TestTokenCommandsApplyTheExpiryPolicy(t *testing.T) {
	t.Parallel()
	db := dbEnv(t)
	cmd := func(env map[string]string, args ...string) (string, error) {
		var out syncBuffer
		err := run(context.Background(), args, func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return db[k]
		}, &out, io.Discard)
		return out.String(), err
	}
	if _, err := cmd(nil, "org", "create", "acme"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := cmd(nil, "token", "create", "--org", "acme", "--name", "default"); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd(nil, "apitoken", "create", "--org", "acme", "--owner", "break-glass-owner", "--name", "default"); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	refused := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"SCIM token above the default maximum", nil, []string{"token", "create", "--org", "acme", "--name", "long", "--expires", "366d"}},
		{"API token above the default maximum", nil, []string{"apitoken", "create", "--org", "acme", "--owner", "break-glass-owner", "--name", "long", "--expires", "366d"}},
		{"above --max-token-ttl", nil, []string{"token", "create", "--org", "acme", "--name", "long", "--expires", "31d", "--max-token-ttl", "30d"}},
		{"above SCIMBRIDGE_MAX_TOKEN_TTL", map[string]string{"SCIMBRIDGE_MAX_TOKEN_TTL": "30d"},
			[]string{"apitoken", "create", "--org", "acme", "--owner", "break-glass-owner", "--name", "long", "--expires", "31d"}},
	}
	for _, c := range refused {
		if out, err := cmd(c.env, c.args...); err == nil || !strings.Contains(err.Error(), "longer than the maximum") || out != "" {
			t.Errorf("%s: %q, %v", c.name, out, err)
		}
	}
	e := env{getenv: func(k string) string { return db[k] }, stdout: io.Discard, stderr: io.Discard}
	c := &common{logFormat: "text", logLevel: "warn"}
	ctx := context.Background()
	err := withDatabase(ctx, e, c, false, func(db *database, _ *slog.Logger) error {
		o, err := db.Organization(ctx, "acme")
		if err != nil {
			return err
		}
		scim, err := db.SCIMTokens(ctx, o.ID)
		if err != nil {
			return err
		}
		apis, err := db.APITokens(ctx, o.ID)
		if err != nil {
			return err
		}
		if len(scim) != 1 || len(apis) != 1 {
			t.Fatalf("%d SCIM and %d API tokens, want one each", len(scim), len(apis))
		}
		const want = 90 * 24 * time.Hour
		for _, exp := range []*time.Time{scim[0].ExpiresAt, apis[0].ExpiresAt} {
			if exp == nil || exp.Before(start.Add(want).Truncate(time.Microsecond)) || exp.After(end.Add(want)) {
				t.Errorf("expires %v, want 90 days after %v", exp, start)
			}
		}
		evs, err := db.AuditEvents(ctx, o.ID, "APIToken", apis[0].ID)
		if err != nil || len(evs) != 1 || evs[0].Actor != "cli:operator" || evs[0].After["ownerUserName"] != "break-glass-owner" {
			t.Errorf("audited %+v, %v", evs, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
