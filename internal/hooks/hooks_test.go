package hooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

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
		if err := db.SetWebhookSecret(ctx, actor, p.org, p.provider, box.Seal([]byte(p.secret), hooks.SecretContext(p.org, p.provider))); err != nil {
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
	}
	for _, c := range refused {
		if got := post(c.path, c.body, c.hdr...); got != c.status {
			t.Errorf("%s: status %d, want %d", c.name, got, c.status)
		}
	}
	if n := count(org.ID); n != 0 {
		t.Fatalf("refused deliveries stored %d identities", n)
	}
	if got := post("/hooks/acme/github", []byte(`{"zen":"hi"}`), "X-GitHub-Event", "ping", "X-Hub-Signature-256", sign("gh-secret", []byte(`{"zen":"hi"}`))); got != 200 {
		t.Fatalf("ping: %d", got)
	}
	if got := post("/hooks/acme/github", github, "X-GitHub-Event", "push", "X-Hub-Signature-256", sign("gh-secret", github)); got != 200 {
		t.Fatalf("signed GitHub push: %d", got)
	}
	n := count(org.ID)
	if n == 0 {
		t.Fatal("a signed push stored nothing")
	}
	if got := post("/hooks/acme/github", github, "X-GitHub-Event", "push", "X-Hub-Signature-256", sign("gh-secret", github)); got != 200 || count(org.ID) != n {
		t.Fatalf("redelivery: %d, identities %d → %d", got, n, count(org.ID))
	}
	if got := post("/hooks/acme/gitlab", gitlab, "X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "gl-token"); got != 200 || count(org.ID) <= n {
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
// deliveries signed before the Git host was switched over still land.
func TestRotatedWebhookSecretOverlapsForADay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	box, _ := secretbox.New(bytes.Repeat([]byte{7}, secretbox.KeySize))
	set := func(secret string) {
		t.Helper()
		if err := db.SetWebhookSecret(ctx, directory.Actor{Kind: "test", Name: "t"}, org.ID, "github", box.Seal([]byte(secret), hooks.SecretContext(org.ID, "github"))); err != nil {
			t.Fatal(err)
		}
	}
	hs := httpserver.New(httpserver.Config{})
	hooks.New(db, box, nil).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	body, err := os.ReadFile("../githook/testdata/github-push.json")
	if err != nil {
		t.Fatal(err)
	}
	post := func(secret string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+"/hooks/acme/github", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", sign(secret, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	set("first")
	set("second")
	set("third")
	steps := []struct {
		name, secret string
		want         int
	}{
		{"the current secret", "third", 200},
		{"the one it replaced, within the day", "second", 200},
		{"one rotated out twice", "first", 401},
		{"a wrong one", "guess", 401},
	}
	for _, s := range steps {
		if got := post(s.secret); got != s.want {
			t.Errorf("%s: %d, want %d", s.name, got, s.want)
		}
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE webhook_secrets SET previous_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if got := post("second"); got != 401 {
		t.Errorf("the replaced secret after its day: %d, want 401", got)
	}
	if got := post("third"); got != 200 {
		t.Errorf("the current secret: %d", got)
	}
}
