package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// operatorTokenRow is a line of operator-token list.
type operatorTokenRow struct{ id, name, status, expires, createdBy string }

func operatorTokenRows(t *testing.T, out string) map[string]operatorTokenRow {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "ID  ") || !strings.Contains(lines[0], "CREATED BY") {
		t.Fatalf("operator-token list header: %q", lines[0])
	}
	rows := map[string]operatorTokenRow{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 7 {
			t.Fatalf("operator-token list line %q", l)
		}
		rows[f[1]] = operatorTokenRow{id: f[0], name: f[1], status: f[2], expires: f[4], createdBy: f[6]}
	}
	return rows
}

// operator-token create prints the token alone and follows the lifetime
// rules of the other tokens; list shows tokens without their secrets;
// revoke ends one by id or name. Each change is on the operator's trail
// as cli:operator.
func TestOperatorTokenCommands(t *testing.T) {
	t.Parallel()
	db := dbEnv(t)
	cmd := func(env map[string]string, args ...string) (string, string, error) {
		var out, errOut syncBuffer
		err := run(context.Background(), args, func(k string) string {
			if v, ok := env[k]; ok {
				return v
			}
			return db[k]
		}, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	start := time.Now()
	created := map[string]string{} // name → secret
	for _, c := range []struct {
		name string
		args []string
	}{
		{"platform", []string{"operator-token", "create", "--name", "platform", "--ttl", "30d"}},
		{"spelled-expires", []string{"operator-token", "create", "--name", "spelled-expires", "--expires", "12h"}},
		{"default", []string{"operator-token", "create", "--name", "default"}},
	} {
		out, errOut, err := cmd(nil, c.args...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		secret := strings.TrimSuffix(out, "\n")
		if !directory.LooksLikeSecret(directory.OperatorTokenPrefix, secret) || strings.Count(out, "\n") != 1 {
			t.Fatalf("%v printed %q, want the token alone", c.args, out)
		}
		if strings.Contains(errOut, secret) || !strings.Contains(errOut, c.name) {
			t.Fatalf("%v: stderr %q", c.args, errOut)
		}
		created[c.name] = secret
	}
	// Without --name, a dated one.
	if _, errOut, err := cmd(nil, "operator-token", "create"); err != nil || !strings.Contains(errOut, `"operator-`) {
		t.Fatalf("create without a name: %q %v", errOut, err)
	}
	refused := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"above the default maximum", nil, []string{"operator-token", "create", "--name", "long", "--ttl", "366d"}, "longer than the maximum"},
		{"above --max-token-ttl", nil, []string{"operator-token", "create", "--name", "long", "--ttl", "31d", "--max-token-ttl", "30d"}, "longer than the maximum"},
		{"above SCIMBRIDGE_MAX_TOKEN_TTL", map[string]string{"SCIMBRIDGE_MAX_TOKEN_TTL": "30d"}, []string{"operator-token", "create", "--name", "long", "--ttl", "31d"}, "longer than the maximum"},
		{"a live token's name", nil, []string{"operator-token", "create", "--name", "platform"}, "already exists"},
		{"revoke an unknown token", nil, []string{"operator-token", "revoke", "nope"}, "not found"},
	}
	for _, c := range refused {
		if out, _, err := cmd(c.env, c.args...); err == nil || !strings.Contains(err.Error(), c.want) || out != "" {
			t.Errorf("%s: %q, %v; want an error saying %q", c.name, out, err, c.want)
		}
	}
	end := time.Now()

	out, _, err := cmd(nil, "operator-token", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range created {
		if strings.Contains(out, s) || strings.Contains(out, strings.TrimPrefix(s, directory.OperatorTokenPrefix)) {
			t.Fatal("operator-token list shows a secret")
		}
	}
	rows := operatorTokenRows(t, out)
	if len(rows) != 4 {
		t.Fatalf("list: %q", out)
	}
	for name, want := range map[string]time.Duration{"platform": 30 * 24 * time.Hour, "spelled-expires": 12 * time.Hour, "default": 90 * 24 * time.Hour} {
		r := rows[name]
		exp, err := time.Parse(time.RFC3339, r.expires)
		if err != nil || r.status != "active" || r.createdBy != "cli:operator" ||
			exp.Before(start.Add(want).Truncate(time.Second)) || exp.After(end.Add(want)) {
			t.Errorf("%s: %+v, want active, cli:operator, expiring %v after creation", name, r, want)
		}
	}

	// Revoke by id, then by name.
	if _, errOut, err := cmd(nil, "operator-token", "revoke", rows["platform"].id); err != nil || !strings.Contains(errOut, "revoked") {
		t.Fatalf("revoke by id: %q %v", errOut, err)
	}
	if _, _, err := cmd(nil, "operator-token", "revoke", "default"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cmd(nil, "operator-token", "revoke", "default"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("revoke twice: %v", err)
	}
	out, _, err = cmd(nil, "operator-token", "list")
	if err != nil {
		t.Fatal(err)
	}
	rows = operatorTokenRows(t, out)
	if rows["platform"].status != "revoked" || rows["default"].status != "revoked" || rows["spelled-expires"].status != "active" {
		t.Fatalf("after revoking: %q", out)
	}

	e := env{getenv: func(k string) string { return db[k] }, stdout: io.Discard, stderr: io.Discard}
	ctx := context.Background()
	err = withDatabase(ctx, e, &common{logFormat: "text", logLevel: "warn"}, false, func(db *database, _ *slog.Logger) error {
		for name, ok := range map[string]bool{"platform": false, "default": false, "spelled-expires": true} {
			if _, err := db.AuthenticateOperator(ctx, created[name]); (err == nil) != ok {
				t.Errorf("%s authenticates: %v, want %v", name, err, ok)
			}
		}
		evs, err := db.OperatorAuditEvents(ctx, "", 100)
		if err != nil {
			return err
		}
		var creates, revokes int
		for _, ev := range evs {
			if ev.Actor != "cli:operator" {
				t.Errorf("event %+v", ev)
			}
			switch ev.Action {
			case "operatortoken.create":
				creates++
			case "operatortoken.revoke":
				revokes++
			}
		}
		if creates != 4 || revokes != 2 {
			t.Errorf("the operator's trail: %d creates, %d revokes; want 4 and 2", creates, revokes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A token from operator-token create drives serve's operator API: the
// organization it creates takes SCIM with the token answered, its
// break-glass link signs the owner in to the console (whose session
// manages the organization but not organizations), and revoking the
// operator token ends its access.
func TestOperatorTokenDrivesServesOperatorAPI(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	cmd := cli(env)
	out, err := cmd("operator-token", "create", "--name", "platform")
	if err != nil {
		t.Fatal(err)
	}
	op := strings.TrimSpace(out)
	// The public URL names this machine otherwise than the address
	// requests go to, so that the URLs answered show which one they
	// follow.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	public := fmt.Sprintf("http://localhost:%d", addr.Port)
	rs := startServe(t, env, "--addr", addr.String(), "--public-url", public)
	call := func(c *http.Client, method, path, token string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, path, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}

	status, created := call(http.DefaultClient, "POST", rs.base+"/api/v1/orgs", op, map[string]any{"slug": "acme", "name": "Acme Inc"})
	if status != 201 || created["scimBaseUrl"] != public+"/scim/v2/acme" {
		t.Fatalf("create: %d %v", status, created)
	}
	scimToken := created["scimToken"].(map[string]any)["token"].(string)
	if status, list := call(http.DefaultClient, "GET", created["scimBaseUrl"].(string)+"/Users", scimToken, nil); status != 200 || list["totalResults"] != float64(0) {
		t.Fatalf("SCIM with the answered token: %d %v", status, list)
	}

	link, _ := url.Parse(created["breakGlassLink"].(map[string]any)["url"].(string))
	if link.Scheme+"://"+link.Host != public {
		t.Fatalf("the break-glass link %s is not under %s", link, public)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.PostForm(public+link.Path, url.Values{"token": {link.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/orgs/acme/" {
		t.Fatalf("the break-glass link: %d %s", resp.StatusCode, resp.Request.URL)
	}
	if status, _ := call(browser, "GET", public+"/api/v1/orgs/acme/users", "", nil); status != 200 {
		t.Fatalf("the owner's session on acme's users: %d", status)
	}
	for _, path := range []string{"/api/v1/orgs/acme", "/api/v1/orgs"} {
		if status, p := call(browser, "GET", public+path, "", nil); status != 401 {
			t.Fatalf("the owner's session on %s: %d %v", path, status, p)
		}
	}

	if _, err := cmd("operator-token", "revoke", "platform"); err != nil {
		t.Fatal(err)
	}
	if status, p := call(http.DefaultClient, "DELETE", rs.base+"/api/v1/orgs/acme?confirm=acme", op, nil); status != 401 {
		t.Fatalf("a revoked operator token deletes: %d %v", status, p)
	}
	out, err = cmd("operator-token", "create", "--name", "platform")
	if err != nil {
		t.Fatal(err)
	}
	if status, p := call(http.DefaultClient, "DELETE", rs.base+"/api/v1/orgs/acme?confirm=acme", strings.TrimSpace(out), nil); status != 204 {
		t.Fatalf("delete: %d %v", status, p)
	}
	if out, err := cmd("org", "list"); err != nil || strings.Contains(out, "acme") {
		t.Fatalf("org list after delete: %q %v", out, err)
	}
}
