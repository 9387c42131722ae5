package main

import (
	"regexp"
	"strings"
	"testing"
)

// serve records every SCIM request for provisioning health, flushes what
// it holds when it stops, and scim health prints the figures; the
// metrics carry the organization only with --metrics-org-labels.
func TestSCIMHealthFromServeToTheCLI(t *testing.T) {
	t.Parallel()
	env := prodEnv(t)
	runCLI(t, env, "org", "create", "acme")
	token := strings.TrimSpace(first(runCLI(t, env, "token", "create", "--org", "acme", "--name", "okta")))
	rs := startServe(t, env, "--metrics-org-labels")
	base := rs.base + "/scim/v2/acme"
	body := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ann@acme.test","password":"hunter2","active":true}`
	ua := []string{"Content-Type", "application/scim+json", "User-Agent", "Okta SCIM Client 1.0.0"}
	if r := send(t, "POST", base+"/Users", token, strings.NewReader(body), ua...); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := send(t, "POST", base+"/Users", token, strings.NewReader(body), ua...); r.status != 409 {
		t.Fatalf("duplicate: %d %s", r.status, r.body)
	}
	if r := send(t, "GET", base+"/Users", token, nil); r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	_, metrics := get(t, rs.base+"/metrics")
	for _, want := range []string{
		`scimbridge_scim_provisioning_requests_total{operation="POST /Users",org="acme",outcome="failure",scim_type="uniqueness"} 1`,
		`scimbridge_scim_provisioning_requests_total{operation="POST /Users",org="acme",outcome="ok",scim_type=""} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if err := rs.stop(t); err != nil {
		t.Fatal(err)
	}

	out, _ := runCLI(t, env, "scim", "health", "--org", "acme")
	for _, re := range []string{
		`(?m)^1h\s+3\s+1\s+33\.3%\s+warn$`,
		`(?m)^\s+POST /Users\s+409\s+uniqueness\s+1$`,
		`1 POST /Users answered 409 in the last 24h: Okta stops`,
		`(?m)^\s+okta\s+\S+\s+GET /Users\s+200\s+other$`,
		`"password":"\[redacted\]"`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("scim health lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the password is printed:\n%s", out)
	}
}

func first(a, _ string) string { return a }
