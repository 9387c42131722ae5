package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

// The production mode: DATABASE_URL names an external server and no
// secret key is set. serve must say loudly, once, which features are off,
// and those endpoints must say why they are unavailable instead of 404,
// while SCIM keeps working.
func TestServeWithoutSecretKeySaysWhatIsOff(t *testing.T) {
	t.Parallel()
	rs := startServe(t, map[string]string{
		"DATABASE_URL":                    pgtest.DSN(t),
		"SCIMBRIDGE_REQUIRE_DATABASE_URL": "true",
	}, "--init-org", "acme")
	token := rs.initOrgToken(t)
	log := rs.stderr.String()
	for _, want := range []string{`"level":"ERROR"`, "no secret key", "SSO login", "Git webhooks", "SCIMBRIDGE_SECRET_KEY"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve's log does not say %q:\n%s", want, log)
		}
	}
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/auth/acme/login", "SCIMBRIDGE_SECRET_KEY"},
		{"GET", "/auth/acme/breakglass?token=x", "SCIMBRIDGE_SECRET_KEY"},
		{"GET", "/invite/accept?token=x", "SCIMBRIDGE_SECRET_KEY"},
		{"GET", "/auth/callback?state=x&code=y", "SCIMBRIDGE_SECRET_KEY"},
		{"POST", "/hooks/acme/github", "SCIMBRIDGE_SECRET_KEY"},
	} {
		req, _ := http.NewRequest(c.method, rs.base+c.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := readAll(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, c.want) {
			t.Errorf("%s %s = %d %q, want 503 naming %s", c.method, c.path, resp.StatusCode, b, c.want)
		}
	}
	req, _ := http.NewRequest("GET", rs.base+"/scim/v2/acme/Users", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("SCIM without a secret key = %d, want 200", resp.StatusCode)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The production mode's database handling: an external server through
// DATABASE_URL, migrated by `migrate`, refused by `serve --no-migrate`
// while it is not, and no embedded default when the image forbids it.
func TestProductionDatabaseModes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	runCmd := func(env map[string]string, args ...string) (string, error) {
		var out, errb syncBuffer
		err := run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
		return errb.String(), err
	}
	t.Run("the image refuses the embedded default", func(t *testing.T) {
		t.Parallel()
		_, err := runCmd(map[string]string{"SCIMBRIDGE_REQUIRE_DATABASE_URL": "true"}, "migrate", "--data-dir", dataDir(t))
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL is required") {
			t.Fatalf("migrate without DATABASE_URL in the image: %v", err)
		}
	})
	t.Run("serve --no-migrate refuses an old schema, migrate fixes it", func(t *testing.T) {
		t.Parallel()
		env := map[string]string{"DATABASE_URL": pgtest.EmptyDSN(t), "SCIMBRIDGE_REQUIRE_DATABASE_URL": "true"}
		_, err := runCmd(env, "serve", "--no-migrate", "--addr", "127.0.0.1:0")
		if err == nil || !strings.Contains(err.Error(), "not migrated") || !strings.Contains(err.Error(), "scimbridge migrate") {
			t.Fatalf("serve --no-migrate on an empty database: %v, want a refusal that says to run migrate", err)
		}
		if log, err := runCmd(env, "migrate"); err != nil {
			t.Fatalf("migrate: %v\n%s", err, log)
		}
		rs := startServe(t, env, "--no-migrate")
		if code, _ := get(t, rs.base+"/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz after migrate = %d", code)
		}
	})
}
