package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestSubscriptionCommandsPrintSecretsAlone(t *testing.T) {
	t.Parallel()
	env := prodEnv(t)
	runCLI(t, env, "org", "create", "acme")
	secret, info := runCLI(t, env, "subscription", "create", "--org", "acme", "--url", "https://hooks.example.com/x", "--events", "user.*", "--description", "platform")
	if !strings.HasPrefix(secret, "scb_whsec_") || strings.Count(secret, "\n") != 1 || strings.Contains(info, strings.TrimSpace(secret)) {
		t.Fatalf("create: stdout %q, stderr %q", secret, info)
	}
	id := strings.Fields(info)[1]
	list, _ := runCLI(t, env, "subscription", "list", "--org", "acme")
	if !strings.Contains(list, id) || !strings.Contains(list, "https://hooks.example.com/x") || !strings.Contains(list, "user.created") ||
		strings.Contains(list, strings.TrimSpace(secret)) {
		t.Fatalf("list: %q", list)
	}
	rotated, _ := runCLI(t, env, "subscription", "rotate", id, "--org", "acme", "--revoke-previous")
	if !strings.HasPrefix(rotated, "scb_whsec_") || rotated == secret || strings.Count(rotated, "\n") != 1 {
		t.Fatalf("rotate: %q", rotated)
	}
	runCLI(t, env, "subscription", "delete", id, "--org", "acme")
	if list, _ := runCLI(t, env, "subscription", "list", "--org", "acme"); strings.Contains(list, id) {
		t.Fatalf("after delete: %q", list)
	}
	cmd := cli(env)
	for _, args := range [][]string{
		{"subscription", "create", "--org", "acme"},                                  // no --url
		{"subscription", "create", "--org", "acme", "--url", "http://127.0.0.1:9/x"}, // loopback without the flag
		{"subscription", "create", "--org", "acme", "--url", "https://h.example", "--events", "user.lost"},
		{"subscription", "rotate", "--org", "acme"},                                         // no id
		{"subscription", "delete", "--org", "acme", "00000000-0000-0000-0000-000000000000"}, // no such one
	} {
		if out, err := cmd(args...); err == nil || out != "" {
			t.Errorf("%v: accepted (%q)", args, out)
		}
	}
}

// serve delivers: a subscription made with the CLI gets an event
// committed to the database, signed with the secret the CLI printed.
func TestServeDeliversEventsToSubscriptions(t *testing.T) {
	t.Parallel()
	env := prodEnv(t)
	var mu sync.Mutex
	var got []*http.Request
	var bodies []string
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	runCLI(t, env, "org", "create", "acme")
	secret, _ := runCLI(t, env, "subscription", "create", "--org", "acme", "--url", rc.URL+"/hook", "--allow-private-networks")
	secret = strings.TrimSpace(secret)
	startServe(t, env, "--allow-private-networks")
	conn, err := pgx.Connect(context.Background(), env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `INSERT INTO events (org_id, type, resource_type, resource_id, actor_kind, actor_name, data)
		SELECT id, 'user.created', 'User', 'u1', 'scim-token', 'okta', '{}' FROM organizations WHERE slug = 'acme'`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := slices.IndexFunc(bodies, func(b string) bool { return strings.Contains(b, `"resourceId":"u1"`) })
		mu.Unlock()
		if n >= 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	i := slices.IndexFunc(bodies, func(b string) bool { return strings.Contains(b, `"resourceId":"u1"`) })
	if i < 0 {
		t.Fatalf("the receiver got %d requests, none of the event", len(got))
	}
	sig := got[i].Header.Get("X-Scimbridge-Signature")
	ts, v1, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",v1=")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + bodies[i]))
	if hex.EncodeToString(mac.Sum(nil)) != v1 || !strings.HasPrefix(got[i].Header.Get("X-Scimbridge-Event-Id"), "evt_") ||
		!strings.Contains(bodies[i], `"type":"user.created"`) {
		t.Fatalf("delivery: %q %v %s", sig, got[i].Header, bodies[i])
	}
}
