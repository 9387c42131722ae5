package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/pgcluster"
)

// syncBuffer is an io.Writer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type runningServe struct {
	base   string
	stderr *syncBuffer
	stdout *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func dataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "scimbridge-serve-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755) // reachable by the postgres account when run as root
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "data")
}

// startServe runs "scimbridge serve" in-process and waits until it listens.
func startServe(t *testing.T, env map[string]string, args ...string) *runningServe {
	t.Helper()
	rs := launchServe(env, args...)
	rs.waitServing(t)
	return rs
}

// launchServe starts "scimbridge serve" in-process and returns at once:
// several may start at the same moment, then waitServing on each.
func launchServe(env map[string]string, args ...string) *runningServe {
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningServe{stderr: &syncBuffer{}, stdout: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	getenv := func(k string) string { return env[k] }
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	go func() { rs.done <- run(ctx, all, getenv, rs.stdout, rs.stderr) }()
	return rs
}

// waitServing waits until a launched serve listens.
func (rs *runningServe) waitServing(t *testing.T) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		for _, line := range strings.Split(rs.stderr.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving" {
				rs.base = "http://" + rec.Addr
				t.Cleanup(func() { rs.stop(t) })
				return
			}
		}
		select {
		case err := <-rs.done:
			rs.cancel()
			t.Fatalf("serve exited before listening: %v\n%s", err, rs.stderr.String())
		case <-deadline:
			rs.cancel()
			t.Fatalf("serve did not listen in time:\n%s", rs.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (rs *runningServe) stop(t *testing.T) error {
	t.Helper()
	rs.cancel()
	select {
	case err, ok := <-rs.done:
		if ok {
			close(rs.done)
		}
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop")
		return nil
	}
}

// initOrgToken waits for what --init-org prints on stdout (after serve
// listens) and returns the token, checking that it is alone there.
func (rs *runningServe) initOrgToken(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.HasSuffix(rs.stdout.String(), "\n") {
		if time.Now().After(deadline) {
			t.Fatalf("--init-org printed no token on stdout (%q):\n%s", rs.stdout.String(), rs.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := rs.stdout.String()
	token := strings.TrimSuffix(out, "\n")
	if !strings.HasPrefix(token, "scb_scim_") || strings.ContainsAny(token, " \t\n") {
		t.Fatalf("--init-org stdout %q, want the token alone on one line", out)
	}
	return token
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeOnEmbeddedDefault(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	rs := startServe(t, nil, "--data-dir", dir, "--init-org", "default")

	if code, _ := get(t, rs.base+"/healthz"); code != 200 {
		t.Fatalf("/healthz = %d", code)
	}
	if code, body := get(t, rs.base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	code, metrics := get(t, rs.base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`scimbridge_http_requests_total{code="200",method="GET",route="GET /readyz"} 1`,
		"scimbridge_http_request_duration_seconds_bucket",
		"scimbridge_db_pool_max_connections 20",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The replica's heartbeat counts it (it shares rate limits by this).
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(metrics, "scimbridge_replicas_live 1\n"); {
		if time.Now().After(deadline) {
			t.Fatal("/metrics: no scimbridge_replicas_live 1 after 10 s")
		}
		time.Sleep(50 * time.Millisecond)
		_, metrics = get(t, rs.base+"/metrics")
	}
	// --init-org: the token alone on stdout, the rest on stderr, which is
	// the log and must not carry it. The token works.
	token := rs.initOrgToken(t)
	out := rs.stderr.String()
	for _, want := range []string{"SCIM base URL:  " + rs.base + "/scim/v2/default", `curl -H "Authorization: Bearer $TOKEN" ` + rs.base + "/scim/v2/default/Users"} {
		if !strings.Contains(out, want) {
			t.Errorf("--init-org stderr lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, token) || strings.Contains(out, "scb_scim_") {
		t.Errorf("--init-org wrote the token to stderr:\n%s", out)
	}
	req, _ := http.NewRequest("GET", rs.base+"/scim/v2/default/Users", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /Users with the printed token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A second serve on the same data dir is refused, and does no harm.
	var stderr syncBuffer
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}, func(string) string { return "" }, io.Discard, &stderr)
	if !errors.Is(err, pgcluster.ErrServeRunning) {
		t.Fatalf("second serve: err = %v, want ErrServeRunning", err)
	}
	if code, _ := get(t, rs.base+"/readyz"); code != 200 {
		t.Fatalf("/readyz after a refused second serve = %d", code)
	}

	// Graceful shutdown: serve returns nil and stops the embedded cluster.
	if err := rs.stop(t); err != nil {
		t.Fatalf("serve returned %v at shutdown", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pgcluster.WaitStopped(ctx, dir); err != nil {
		t.Fatalf("embedded PostgreSQL still running after shutdown: %v", err)
	}

	// Restart on the existing data dir: the organization is still there.
	var stdout syncBuffer
	if err := run(context.Background(), []string{"org", "list", "--data-dir", dir}, func(string) string { return "" }, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "default") {
		t.Fatalf("org list after restart: %q", stdout.String())
	}
}

func TestReadyzFollowsTheDatabase(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	rs := startServe(t, nil, "--data-dir", dir)
	if code, _ := get(t, rs.base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d, want 200", code)
	}
	ctx := context.Background()
	cl, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, rs.base+"/readyz"); code != 503 {
		t.Fatalf("/readyz with the database stopped = %d, want 503", code)
	}
	if code, _ := get(t, rs.base+"/healthz"); code != 200 {
		t.Fatalf("/healthz with the database stopped = %d, want 200 (the process is alive)", code)
	}
	if _, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := get(t, rs.base+"/readyz")
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after the database returned = %d, want 200", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTokenCommandsPrintSecretAloneOnStdout(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	getenv := func(string) string { return "" }
	ctx := context.Background()
	cmd := func(args ...string) (string, error) {
		var out syncBuffer
		err := run(ctx, append(args, "--data-dir", dir), getenv, &out, io.Discard)
		return out.String(), err
	}
	if out, err := cmd("org", "create", "acme", "--name", "Acme Corp"); err != nil || out != "acme\n" {
		t.Fatalf("org create: %q, %v", out, err)
	}
	secret, err := cmd("token", "create", "--org", "acme", "--name", "okta", "--expires", "90d")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "scb_scim_") || strings.Count(secret, "\n") != 1 || strings.ContainsAny(strings.TrimSpace(secret), " \t") {
		t.Fatalf("token create stdout %q, want the token alone", secret)
	}
	list, err := cmd("token", "list", "--org", "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, "okta") || !strings.Contains(list, "active") || strings.Contains(list, strings.TrimSpace(secret)) {
		t.Fatalf("token list: %q", list)
	}
	if _, err := cmd("token", "revoke", "okta", "--org", "acme"); err != nil {
		t.Fatal(err)
	}
	list, _ = cmd("token", "list", "--org", "acme")
	if !strings.Contains(list, "revoked") {
		t.Fatalf("token list after revoke: %q", list)
	}
	if _, err := cmd("token", "revoke", "okta", "--org", "acme"); err == nil {
		t.Fatal("revoking a revoked token succeeded")
	}
	if _, err := cmd("token", "list", "--org", "nope"); err == nil || !strings.Contains(err.Error(), `"nope" not found`) {
		t.Fatalf("unknown org: %v", err)
	}
	// The cluster started by these commands is stopped again.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pgcluster.WaitStopped(wctx, dir); err != nil {
		t.Fatal(err)
	}
}

func TestWithoutSMTPNoJoinLinkIsLoggedAndInviteLinkPrintsOne(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	rs := startServe(t, nil, "--data-dir", dir, "--init-org", "acme")
	rs.initOrgToken(t) // the organization exists once its token is printed
	cli := func(args ...string) (string, string, error) {
		var out, errOut syncBuffer
		err := run(context.Background(), append(args, "--data-dir", dir), func(string) string { return "" }, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	id, hint, err := cli("invite", "new@example.com", "--org", "acme")
	if err != nil {
		t.Fatal(err)
	}
	id = strings.TrimSpace(id)
	if !strings.Contains(hint, "scimbridge invite link --org acme "+id) {
		t.Errorf("invite does not say how to get the link: %q", hint)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(rs.stderr.String(), "invitation mail not sent") {
		if time.Now().After(deadline) {
			t.Fatalf("no 'not sent' line logged:\n%s", rs.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	logs := rs.stderr.String()
	if strings.Contains(logs, "scb_inv_") || strings.Contains(logs, "/invite/accept") {
		t.Fatalf("the log carries a join link:\n%s", logs)
	}
	if !strings.Contains(logs, "invite link --org acme "+id) {
		t.Errorf("the log does not say how to get the link:\n%s", logs)
	}
	link, _, err := cli("invite", "link", id, "--org", "acme", "--public-url", rs.base)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, rs.base+"/invite/accept?token=scb_inv_") || strings.Count(link, "\n") != 1 {
		t.Fatalf("invite link stdout %q, want the join link alone", link)
	}
	// The printed link is live (no IdP is set up, so it stops there).
	if code, body := get(t, strings.TrimSpace(link)); code != http.StatusConflict || !strings.Contains(body, "no identity provider") {
		t.Fatalf("GET the printed link: %d %s", code, body)
	}
}

func TestWebhookSecretFromTheCLIVerifiesPushesToServe(t *testing.T) {
	t.Parallel()
	dir := dataDir(t)
	rs := startServe(t, nil, "--data-dir", dir, "--init-org", "acme")
	rs.initOrgToken(t) // the organization exists once its token is printed
	ctx := context.Background()
	var out syncBuffer
	if err := run(ctx, []string{"webhook", "secret", "--org", "acme", "--provider", "github", "--data-dir", dir}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(out.String())
	body, err := os.ReadFile("../../internal/githook/testdata/github-push.json")
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest("POST", rs.base+"/hooks/acme/github", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("signed push: %d", resp.StatusCode)
	}
	out = syncBuffer{}
	if err := run(ctx, []string{"git", "list", "--org", "acme", "--days", "100000", "--data-dir", dir}, func(string) string { return "" }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") < 2 {
		t.Fatalf("git list after a push: %q", out.String())
	}
	if fi, err := os.Stat(filepath.Join(dir, "secret.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret key file: %v %v", fi, err)
	}
}
