package hooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/githook"
	"github.com/scimbridge/scimbridge/internal/hooks"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/secretbox"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestPushWebhooksStoreObservationsOnlyWhenSigned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	other, _ := db.CreateOrganization(ctx, "other", "")
	box, _ := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	actor := directory.Actor{Kind: "test", Name: "t"}
	for _, p := range []struct{ org, provider, secret string }{{org.ID, "github", "gh-secret"}, {org.ID, "gitlab", "gl-token"}, {other.ID, "github", "other-secret"}} {
		if err := db.SetWebhookSecret(ctx, actor, p.org, p.provider, box.Seal([]byte(p.secret), hooks.SecretContext(p.org, p.provider)), false); err != nil {
			t.Fatal(err)
		}
	}
	hs := httpserver.New(httpserver.Config{})
	hooks.New(db, box, nil).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	github, err := os.ReadFile("../githook/testdata/github-push.json")
	if err != nil {
		t.Fatal(err)
	}
	gitlab, err := os.ReadFile("../githook/testdata/gitlab-push.json")
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string, body []byte, headers ...string) int {
		req, _ := http.NewRequest("POST", srv.URL+path, bytes.NewReader(body))
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	count := func(orgID string) int {
		var n int
		_ = db.Pool.QueryRow(ctx, `SELECT count(*) FROM git_identities WHERE org_id = $1`, orgID).Scan(&n)
		return n
	}
	big := append([]byte(`{"x":"`), append(bytes.Repeat([]byte("a"), githook.MaxPayload), []byte(`"}`)...)...)
	refused := []struct {
		name   string
		path   string
		body   []byte
		hdr    []string
		status int
	}{
		{"no signature", "/hooks/acme/github", github, []string{"X-GitHub-Event", "push"}, 401},
		{"wrong secret", "/hooks/acme/github", github, []string{"X-GitHub-Event", "push", "X-Hub-Signature-256", sign("nope", github)}, 401},
		{"another org's secret", "/hooks/acme/github", github, []string{"X-GitHub-Event", "push", "X-Hub-Signature-256", sign("other-secret", github)}, 401},
		{"unknown org", "/hooks/nope/github", github, []string{"X-GitHub-Event", "push", "X-Hub-Signature-256", sign("gh-secret", github)}, 401},
		{"wrong GitLab token", "/hooks/acme/gitlab", gitlab, []string{"X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "nope"}, 401},
		{"oversized", "/hooks/acme/github", big, []string{"X-GitHub-Event", "push", "X-Hub-Signature-256", sign("gh-secret", big)}, 413},
		{"a push without its delivery id", "/hooks/acme/github", github, []string{"X-GitHub-Event", "push", "X-Hub-Signature-256", sign("gh-secret", github)}, 400},
		{"a GitLab push without its event id", "/hooks/acme/gitlab", gitlab, []string{"X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "gl-token"}, 400},
	}
	for _, c := range refused {
		if got := post(c.path, c.body, c.hdr...); got != c.status {
			t.Errorf("%s: status %d, want %d", c.name, got, c.status)
		}
	}
	if n := count(org.ID); n != 0 {
		t.Fatalf("refused deliveries stored %d identities", n)
	}
	// A signed ping is acknowledged as a ping and stores nothing, even
	// when its body carries commits and a delivery id comes with it.
	ping := func(body []byte) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/hooks/acme/github", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "ping")
		req.Header.Set("X-GitHub-Delivery", "ping-1")
		req.Header.Set("X-Hub-Signature-256", sign("gh-secret", body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var reply map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil || resp.StatusCode != 200 || len(reply) != 2 || reply["ok"] != true || reply["event"] != "ping" {
			t.Fatalf("ping: %d %v (%v), want 200 {\"ok\":true,\"event\":\"ping\"}", resp.StatusCode, reply, err)
		}
		var deliveries int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE org_id = $1`, org.ID).Scan(&deliveries); err != nil || deliveries != 0 || count(org.ID) != 0 {
			t.Fatalf("a ping stored %d deliveries (%v) and %d identities", deliveries, err, count(org.ID))
		}
	}
	ping([]byte(`{"zen":"hi"}`))
	ping(github)
	if got := post("/hooks/acme/github", github, "X-GitHub-Event", "push", "X-Hub-Signature-256", sign("gh-secret", github), "X-GitHub-Delivery", "d-1"); got != 200 {
		t.Fatalf("signed GitHub push: %d", got)
	}
	n := count(org.ID)
	if n == 0 {
		t.Fatal("a signed push stored nothing")
	}
	if got := post("/hooks/acme/github", github, "X-GitHub-Event", "push", "X-Hub-Signature-256", sign("gh-secret", github), "X-GitHub-Delivery", "d-1"); got != 200 || count(org.ID) != n {
		t.Fatalf("redelivery: %d, identities %d → %d", got, n, count(org.ID))
	}
	if got := post("/hooks/acme/gitlab", gitlab, "X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "gl-token", "X-Gitlab-Event-UUID", "e-1"); got != 200 || count(org.ID) <= n {
		t.Fatalf("GitLab push: %d, identities %d", got, count(org.ID))
	}
	if count(other.ID) != 0 {
		t.Fatal("another organization got identities")
	}
	if !strings.Contains(string(github), "commits") {
		t.Fatal("fixture is not a push")
	}
}

// Rotating a secret keeps the replaced one verifying for a day, so that
// deliveries signed before the Git host was switched over still land; a
// second rotation before the host used the new secret keeps the one it
// still uses; a leaked secret can be stopped at once.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	box, _ := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	hs := httpserver.New(httpserver.Config{})
	hooks.New(db, box, nil).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	body, err := os.ReadFile("../githook/testdata/github-push.json")
	if err != nil {
		t.Fatal(err)
	}
	deliveries := 0
	post := func(secret string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/hooks/acme/github", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		deliveries++
		req.Header.Set("X-GitHub-Delivery", "d-"+strconv.Itoa(deliveries))
		req.Header.Set("X-Hub-Signature-256", sign(secret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	steps := []struct {
		name   string
		rotate string // set this secret first ("" for none)
		revoke bool
		sql    string // run first
		want   map[string]int
	}{
		{"the first secret", "one", false, "", map[string]int{"one": 200, "guess": 401}},
		{"rotated: the Git host still signs with the old one, which verifies for a day", "two", false, "", map[string]int{"one": 200}},
		{"rotated again before the host used two: one is kept, two dropped", "three", false, "",
			map[string]int{"one": 200, "two": 401, "three": 200}},
		{"the host used three: the next rotation retires one", "four", false, "", map[string]int{"three": 200, "four": 200, "one": 401}},
		{"a leaked secret stops at once", "five", true, "", map[string]int{"four": 401, "five": 200}},
		{"after its day the replaced one stops", "six", false, "", map[string]int{"five": 200, "six": 200}},
		{"", "", false, "UPDATE webhook_secrets SET previous_until = now() - interval '1 second'", map[string]int{"five": 401, "six": 200}},
	}
	for _, s := range steps {
		if s.rotate != "" {
			if err := db.SetWebhookSecret(ctx, directory.Actor{Kind: "test", Name: "t"}, org.ID, "github",
				box.Seal([]byte(s.rotate), hooks.SecretContext(org.ID, "github")), s.revoke); err != nil {
				t.Fatal(err)
			}
		}
		if s.sql != "" {
			if _, err := db.Pool.Exec(ctx, s.sql); err != nil {
				t.Fatal(err)
			}
		}
		// Failures first: a delivery that verifies with the current secret
		// marks it used, which is what the next rotation looks at.
		keys := make([]string, 0, len(s.want))
		for k := range s.want {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return s.want[b] - s.want[a] }) // failures first
		for _, k := range keys {
			if got := post(k); got != s.want[k] {
				t.Errorf("%s: %s → %d, want %d", s.name, k, got, s.want[k])
			}
		}
	}
}

// A delivery is ingested once: a copy, by its id or by its body (the id
// header is not signed), is acknowledged and ignored, and of concurrent
// copies exactly one is ingested.
func TestDuplicateDeliveriesAreIngestedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	box, _ := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	for provider, secret := range map[string]string{"github": "gh-secret", "gitlab": "gl-token"} {
		if err := db.SetWebhookSecret(ctx, directory.Actor{Kind: "test", Name: "t"}, org.ID, provider,
			box.Seal([]byte(secret), hooks.SecretContext(org.ID, provider)), false); err != nil {
			t.Fatal(err)
		}
	}
	hs := httpserver.New(httpserver.Config{})
	hooks.New(db, box, nil).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	github, err := os.ReadFile("../githook/testdata/github-push.json")
	if err != nil {
		t.Fatal(err)
	}
	gitlab, err := os.ReadFile("../githook/testdata/gitlab-push.json")
	if err != nil {
		t.Fatal(err)
	}
	// Another GitHub push: the fixture, after another push.
	variant := func(n int) []byte {
		const after = `"after": "d6fde92930d4715a2b49857d24b940956b26d2d3"`
		if !bytes.Contains(github, []byte(after)) {
			t.Fatal("the fixture changed")
		}
		return bytes.Replace(github, []byte(after), []byte(fmt.Sprintf(`"after": "%040d"`, n)), 1)
	}
	github2 := variant(2)
	pushGitHub := func(body []byte, id string) (int, string) {
		return deliver(t, srv.URL+"/hooks/acme/github", body, "X-GitHub-Event", "push", "X-Hub-Signature-256", sign("gh-secret", body), "X-GitHub-Delivery", id)
	}
	pushGitLab := func(body []byte, id string) (int, string) {
		return deliver(t, srv.URL+"/hooks/acme/gitlab", body, "X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "gl-token", "X-Gitlab-Event-UUID", id)
	}
	// The git tables, whole: a second ingest of a push moves last-seen
	// times (GitLab's pusher is stamped at receipt) even where it adds no
	// commit.
	state := func() string {
		var s string
		if err := db.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(t::text, ',' ORDER BY t::text), '') FROM (
				SELECT i.email, i.login, i.first_seen, i.last_seen, i.commits FROM git_identities i WHERE i.org_id = $1
				UNION ALL SELECT c.repo, c.sha, c.at, c.at, 0 FROM git_commits c WHERE c.org_id = $1) t`, org.ID).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	steps := []struct {
		name    string
		send    func() (int, string)
		ignored bool
	}{
		{"a GitHub push", func() (int, string) { return pushGitHub(github, "gh-1") }, false},
		{"the same delivery again (GitHub's Redeliver)", func() (int, string) { return pushGitHub(github, "gh-1") }, true},
		{"the same body under a made-up id", func() (int, string) { return pushGitHub(github, "gh-forged") }, true},
		{"another push under a reused id", func() (int, string) { return pushGitHub(github2, "gh-1") }, true},
		{"another push", func() (int, string) { return pushGitHub(github2, "gh-2") }, false},
		{"a GitLab push", func() (int, string) { return pushGitLab(gitlab, "gl-1") }, false},
		{"the same GitLab event again", func() (int, string) { return pushGitLab(gitlab, "gl-1") }, true},
	}
	for _, s := range steps {
		before := state()
		status, body := s.send()
		if status != 200 {
			t.Fatalf("%s: %d %s", s.name, status, body)
		}
		if got := strings.Contains(body, `"ignored":"duplicate delivery"`); got != s.ignored {
			t.Fatalf("%s: %s, want ignored %v", s.name, body, s.ignored)
		}
		if s.ignored && state() != before {
			t.Fatalf("%s: an ignored delivery changed the git tables", s.name)
		}
	}

	// Concurrent copies of a new delivery: exactly one is ingested.
	fresh := variant(3)
	const copies = 8
	bodies := make(chan string, copies)
	var wg sync.WaitGroup
	for range copies {
		wg.Go(func() {
			status, body := pushGitHub(fresh, "gh-3")
			if status != 200 {
				body = strconv.Itoa(status) + " " + body
			}
			bodies <- body
		})
	}
	wg.Wait()
	close(bodies)
	ingested := 0
	for b := range bodies {
		switch {
		case strings.Contains(b, `"ignored":"duplicate delivery"`):
		case strings.Contains(b, `"observations"`):
			ingested++
		default:
			t.Errorf("a copy got %s", b)
		}
	}
	var recorded int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE org_id = $1 AND delivery_id = 'gh-3'`, org.ID).Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if ingested != 1 || recorded != 1 {
		t.Fatalf("%d of %d concurrent copies ingested, %d recorded; want 1", ingested, copies, recorded)
	}
}

func deliver(t *testing.T, u string, body []byte, headers ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// GitHub's webhook form defaults to application/x-www-form-urlencoded:
// the signed body is "payload=<percent-encoded JSON>". Such a push is
// ingested like a JSON one (the same identities), and a content type
// GitHub never sends fails already at the ping, so a hook that could
// never deliver a push does not look healthy.
func TestGitHubFormEncodedDeliveriesAreIngested(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	box, _ := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	if err := db.SetWebhookSecret(ctx, directory.Actor{Kind: "test", Name: "t"}, org.ID, "github",
		box.Seal([]byte("gh-secret"), hooks.SecretContext(org.ID, "github")), false); err != nil {
		t.Fatal(err)
	}
	hs := httpserver.New(httpserver.Config{})
	hooks.New(db, box, nil).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	push, err := os.ReadFile("../githook/testdata/github-push.json")
	if err != nil {
		t.Fatal(err)
	}
	form := []byte(url.Values{"payload": {string(push)}}.Encode())
	post := func(event, contentType, delivery string, body []byte) int {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/hooks/acme/github", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", delivery)
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Hub-Signature-256", sign("gh-secret", body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	logins := func() string {
		rows, _ := db.Pool.Query(ctx, `SELECT provider || ':' || coalesce(login, '') || ':' || coalesce(email, '') FROM git_identities WHERE org_id = $1 ORDER BY 1`, org.ID)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got, " ")
	}
	if got := post("ping", "text/plain", "p-1", []byte(`{"zen":"hi"}`)); got != 400 {
		t.Fatalf("a ping with a content type GitHub never sends: %d, want 400", got)
	}
	if got := post("ping", "application/x-www-form-urlencoded", "p-2", []byte(url.Values{"payload": {`{"zen":"hi"}`}}.Encode())); got != 200 {
		t.Fatalf("a form-encoded ping: %d, want 200", got)
	}
	if got := post("push", "application/x-www-form-urlencoded", "d-1", form); got != 200 {
		t.Fatalf("a form-encoded push: %d, want 200", got)
	}
	fromForm := logins()
	if fromForm == "" {
		t.Fatal("a form-encoded push stored no identity")
	}
	for _, table := range []string{"git_identities", "webhook_deliveries"} {
		if _, err := db.Pool.Exec(ctx, `DELETE FROM `+table+` WHERE org_id = $1`, org.ID); err != nil {
			t.Fatal(err)
		}
	}
	if got := post("push", "application/json; charset=utf-8", "d-2", push); got != 200 {
		t.Fatalf("a JSON push: %d, want 200", got)
	}
	if fromJSON := logins(); fromJSON != fromForm {
		t.Fatalf("the form push stored %q, the same push as JSON %q", fromForm, fromJSON)
	}
	tampered := bytes.Replace(form, []byte("payload="), []byte("payload=%7B"), 1)
	req, _ := http.NewRequest("POST", srv.URL+"/hooks/acme/github", bytes.NewReader(tampered))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "d-3")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Hub-Signature-256", sign("gh-secret", form)) // signed the original
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("a form body changed after signing: %d, want 401 (the signature covers the raw body)", resp.StatusCode)
	}
}
