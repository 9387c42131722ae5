package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

// The promises of README.md about serve's flags and the webhook secret
// command, checked on serve run as in production: DATABASE_URL on an
// external server (pgtest's cluster) and a secret key.

// prodEnv is a fresh migrated database and a secret key.
func prodEnv(t *testing.T) map[string]string {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return map[string]string{"DATABASE_URL": pgtest.DSN(t), "SCIMBRIDGE_SECRET_KEY": base64.StdEncoding.EncodeToString(key)}
}

// runCLI runs a command of the binary with env and returns its stdout and
// stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (string, string) {
	t.Helper()
	var out, errb syncBuffer
	if err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errb); err != nil {
		t.Fatalf("scimbridge %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

type hreply struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, method, url, token string, body io.Reader, header ...string) hreply {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return hreply{resp.StatusCode, resp.Header, string(b)}
}

func TestWebhookSecretRotationKeepsThePreviousOneADayUnlessRevoked(t *testing.T) {
	t.Parallel()
	env := prodEnv(t)
	rs := startServe(t, env, "--init-org", "acme")
	rs.initOrgToken(t)
	payload, err := os.ReadFile("../../internal/githook/testdata/github-push.json")
	if err != nil {
		t.Fatal(err)
	}
	delivery := 0
	push := func(secret string) hreply {
		t.Helper()
		delivery++
		// Each push a new delivery of the same commits, with its own
		// id and a body of its own (a copy of either is a duplicate).
		body := append(bytes.TrimRight(payload, "\n "), []byte(strings.Repeat(" ", delivery))...)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		return send(t, "POST", rs.base+"/hooks/acme/github", "", bytes.NewReader(body),
			"X-GitHub-Event", "push", "X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)),
			"X-GitHub-Delivery", fmt.Sprintf("00000000-0000-4000-8000-%012d", delivery))
	}
	verifies := func(what, secret string, want bool) {
		t.Helper()
		r := push(secret)
		switch {
		case want && (r.status != 200 || strings.Contains(r.body, "ignored")):
			t.Fatalf("%s: %d %s, want it ingested", what, r.status, r.body)
		case !want && (r.status != 401 || !strings.Contains(r.body, "the signature does not verify for this organization")):
			t.Fatalf("%s: %d %s, want 401", what, r.status, r.body)
		}
	}
	secret := func(args ...string) (string, string) {
		t.Helper()
		out, errs := runCLI(t, env, append([]string{"webhook", "secret", "--org", "acme", "--provider", "github"}, args...)...)
		s := strings.TrimSuffix(out, "\n")
		if !strings.HasPrefix(s, "scb_whk_") || strings.ContainsAny(s, " \n") {
			t.Fatalf("webhook secret printed %q", out)
		}
		return s, errs
	}
	pool, err := pgxpool.New(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	first, msg := secret()
	if !strings.Contains(msg, "Payload URL http://127.0.0.1:8080/hooks/acme/github, Content type application/json") {
		t.Fatalf("a new secret does not say where to configure it: %q", msg)
	}
	verifies("the first secret", first, true)
	second, msg := secret()
	if !strings.Contains(msg, "keeps verifying deliveries for 24h0m0s") {
		t.Fatalf("rotation says %q", msg)
	}
	verifies("the replaced secret, at once", first, true)
	verifies("the new secret", second, true)
	var overlap time.Duration
	if err := pool.QueryRow(context.Background(), `SELECT previous_until - created_at FROM webhook_secrets`).Scan(&overlap); err != nil || overlap != 24*time.Hour {
		t.Fatalf("the replaced secret verifies for %s (%v), want 24h", overlap, err)
	}
	// A minute before the day is over it still verifies; after, not.
	if _, err := pool.Exec(context.Background(), `UPDATE webhook_secrets SET previous_until = previous_until - interval '23 hours 59 minutes'`); err != nil {
		t.Fatal(err)
	}
	verifies("the replaced secret, a minute before the end of its day", first, true)
	if _, err := pool.Exec(context.Background(), `UPDATE webhook_secrets SET previous_until = previous_until - interval '61 seconds'`); err != nil {
		t.Fatal(err)
	}
	verifies("the replaced secret, past its day", first, false)
	verifies("the current secret", second, true)

	// --revoke-previous: the replaced secret stops at once.
	third, msg := secret("--revoke-previous")
	if !strings.Contains(msg, "the previous github secret no longer verifies deliveries") {
		t.Fatalf("--revoke-previous says %q", msg)
	}
	verifies("the secret replaced with --revoke-previous", second, false)
	verifies("the newest secret", third, true)
	if _, msg := secret("--public-url", "https://scim.example.com/"); !strings.Contains(msg, "Payload URL https://scim.example.com/hooks/acme/github,") {
		t.Fatalf("--public-url: %q", msg)
	}
}

func TestMaxBodyIsEnforcedOnSCIMAndTheAPI(t *testing.T) {
	t.Parallel()
	env := prodEnv(t)
	rs := startServe(t, env, "--init-org", "acme", "--max-body", "2048")
	scimToken := rs.initOrgToken(t)
	apiToken, _ := runCLI(t, env, "apitoken", "create", "--org", "acme", "--owner", "break-glass-owner")
	apiToken = strings.TrimSpace(apiToken)
	user := func(pad int) string {
		return `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"big@acme.example","displayName":"` + strings.Repeat("x", pad) + `"}`
	}
	r := send(t, "POST", rs.base+"/scim/v2/acme/Users", scimToken, strings.NewReader(user(2100)), "Content-Type", "application/scim+json")
	if r.status != 413 || !strings.Contains(r.body, `"detail":"the request body is larger than 2048 bytes"`) || !strings.Contains(r.body, `"status":"413"`) {
		t.Fatalf("SCIM, 2.1 kB: %d %s", r.status, r.body)
	}
	r = send(t, "POST", rs.base+"/scim/v2/acme/Users", scimToken, strings.NewReader(user(1900)), "Content-Type", "application/scim+json")
	if r.status != 201 {
		t.Fatalf("SCIM, under 2 kB: %d %s", r.status, r.body)
	}
	big := `{"email":"x@acme.example","padding":"` + strings.Repeat("x", 2100) + `"}`
	r = send(t, "POST", rs.base+"/api/v1/orgs/acme/invitations", apiToken, strings.NewReader(big), "Content-Type", "application/json")
	if r.status != 413 || !strings.Contains(r.body, "/too-large") {
		t.Fatalf("API, 2.1 kB: %d %s", r.status, r.body)
	}
}

func TestShutdownTimeoutLetsInFlightRequestsFinishAndNoLonger(t *testing.T) {
	t.Parallel()
	// slowPost starts a SCIM POST whose body arrives in two halves, and
	// returns a function that sends the second half and reads the hreply.
	slowPost := func(t *testing.T, rs *runningServe, token string) (finish func() (int, string)) {
		t.Helper()
		body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"slow@acme.example"}`
		conn, err := net.Dial("tcp", strings.TrimPrefix(rs.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/scim+json\r\nContent-Length: %d\r\n\r\n%s",
			token, len(body), body[:10])
		return func() (int, string) {
			if _, err := io.WriteString(conn, body[10:]); err != nil {
				return 0, err.Error()
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				return 0, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
	}
	stopped := func(rs *runningServe) (time.Duration, error) {
		start := time.Now()
		rs.cancel()
		select {
		case err := <-rs.done:
			close(rs.done)
			return time.Since(start), err
		case <-time.After(40 * time.Second):
			return time.Since(start), fmt.Errorf("serve did not stop")
		}
	}

	t.Run("a request in flight completes", func(t *testing.T) {
		t.Parallel()
		rs := startServe(t, prodEnv(t), "--init-org", "acme", "--shutdown-timeout", "20s")
		finish := slowPost(t, rs, rs.initOrgToken(t))
		time.Sleep(100 * time.Millisecond) // the request is read up to its body
		type result struct {
			err error
			d   time.Duration
		}
		exited := make(chan result, 1)
		go func() { d, err := stopped(rs); exited <- result{err, d} }()
		waitFor(t, rs, "shutting down: finishing in-flight requests")
		select {
		case r := <-exited:
			t.Fatalf("serve exited with a request in flight: %v", r.err)
		case <-time.After(300 * time.Millisecond):
		}
		status, body := finish()
		if status != 201 || !strings.Contains(body, `"userName":"slow@acme.example"`) {
			t.Fatalf("the in-flight request: %d %s", status, body)
		}
		r := <-exited
		if r.err != nil || r.d > 10*time.Second {
			t.Fatalf("serve after the last request: %v after %s", r.err, r.d)
		}
	})
	t.Run("a request that does not finish is cut at the timeout", func(t *testing.T) {
		t.Parallel()
		rs := startServe(t, prodEnv(t), "--init-org", "acme", "--shutdown-timeout", "1s")
		slowPost(t, rs, rs.initOrgToken(t))
		time.Sleep(100 * time.Millisecond)
		d, err := stopped(rs)
		if d < time.Second || d > 6*time.Second {
			t.Fatalf("serve stopped after %s (%v), want about --shutdown-timeout 1s", d, err)
		}
		if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
			t.Fatalf("serve cut short a request and says %v", err)
		}
	})
}

// waitFor waits until serve logs msg.
func waitFor(t *testing.T, rs *runningServe, msg string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(rs.stderr.String(), msg) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log %q:\n%s", msg, rs.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// burst sends n requests at once-ish and counts the admitted ones; every
// refusal must be the limiter's 429 with its body.
func burst(t *testing.T, n int, req func() hreply, refused func(hreply) bool) int {
	t.Helper()
	ok := 0
	for range n {
		r := req()
		switch {
		case r.status == 200:
			ok++
		case r.status == 429 && r.header.Get("Retry-After") == "1" && refused(r):
		default:
			t.Fatalf("%d %v %s", r.status, r.header, r.body)
		}
	}
	return ok
}

func scimRefused(r hreply) bool {
	return strings.Contains(r.body, `"detail":"too many requests for this organization; retry after a second"`) && strings.Contains(r.body, `"status":"429"`)
}

func apiRefused(r hreply) bool {
	return strings.Contains(r.body, "/too-many-requests") && strings.Contains(r.body, "too many requests for this organization")
}

func TestRateFlagsReachTheHandlers(t *testing.T) {
	t.Parallel()
	env := prodEnv(t)
	// Bursts of twice the rate: 10 SCIM and 16 API requests at once.
	rs := startServe(t, env, "--init-org", "acme", "--scim-rate", "5", "--api-rate", "8")
	scimToken := rs.initOrgToken(t)
	apiToken, _ := runCLI(t, env, "apitoken", "create", "--org", "acme", "--owner", "break-glass-owner")
	apiToken = strings.TrimSpace(apiToken)
	// What refills while the requests go out counts too: on a loaded
	// machine 20 requests can take seconds, so the bound is the burst
	// plus the rate times the time they took.
	refill := func(rate float64, took time.Duration) int { return int(rate*took.Seconds()) + 1 }
	start := time.Now()
	got := burst(t, 20, func() hreply { return send(t, "GET", rs.base+"/scim/v2/acme/Users", scimToken, nil) }, scimRefused)
	if took := time.Since(start); got < 10 || got > 10+refill(5, took) {
		t.Fatalf("--scim-rate 5 admitted %d of 20 in %s, want the burst of 10 and what refilled meanwhile", got, took)
	}
	start = time.Now()
	got = burst(t, 30, func() hreply { return send(t, "GET", rs.base+"/api/v1/orgs/acme/users", apiToken, nil) }, apiRefused)
	if took := time.Since(start); got < 16 || got > 16+refill(8, took) {
		t.Fatalf("--api-rate 8 admitted %d of 30 in %s, want the burst of 16 and what refilled meanwhile", got, took)
	}
}

func TestReplicasOnOneDatabaseShareTheRates(t *testing.T) {
	t.Parallel()
	env := prodEnv(t)
	a := startServe(t, env, "--init-org", "acme", "--scim-rate", "10")
	token := a.initOrgToken(t)
	b := startServe(t, env, "--scim-rate", "10")
	// Both count two replicas by their heartbeats before any request of
	// the organization (a heartbeat every 10 s).
	for _, rs := range []*runningServe{a, b} {
		deadline := time.Now().Add(25 * time.Second)
		for {
			_, m := get(t, rs.base+"/metrics")
			if strings.Contains(m, "\nscimbridge_replicas_live 2\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a replica does not count two replicas:\n%s", m)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// The service's burst is 20; each replica admits its half.
	for name, rs := range map[string]*runningServe{"a": a, "b": b} {
		got := burst(t, 20, func() hreply { return send(t, "GET", rs.base+"/scim/v2/acme/Users", token, nil) }, scimRefused)
		if got < 10 || got > 12 {
			t.Fatalf("replica %s admitted %d of 20 at once, want its share of the burst, 10", name, got)
		}
	}
}
