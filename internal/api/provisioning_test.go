package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// The health report as the API renders it: the worst of the hour and the
// day is the state, Okta's 409s are called out with the requests, and a
// member who is not an org admin may not read it.
func TestProvisioningHealthRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.tenant("acme")
	ctx := context.Background()
	tok, _, err := e.db.CreateSCIMToken(ctx, tn.id, "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	rec := e.db.NewHealthRecorder(nil)
	now := time.Now()
	for i := range 10 {
		r := directory.SCIMRequest{OrgID: tn.id, TokenID: tok.ID, At: now, Operation: "POST /Users", Status: 201, Client: directory.ClientOkta}
		if i < 3 {
			r.Status, r.ScimType, r.Method, r.Path, r.Detail = 409, "uniqueness", "POST", "/scim/v2/acme/Users", "taken"
		}
		rec.Record(r)
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	h := tn.must(200, "GET", "/provisioning/health", nil)
	if h["state"] != "warn" {
		t.Errorf("state %v, want warn (3 of 10 failing)", h["state"])
	}
	okta := h["okta409"].(map[string]any)
	if okta["last24h"] != float64(3) || len(okta["recent"].([]any)) != 3 || okta["note"] == "" {
		t.Errorf("okta409: %v", okta)
	}
	w := h["windows"].([]any)[0].(map[string]any)
	if w["window"] != "1h" || w["requests"] != float64(10) || w["failures"] != float64(3) || w["failureRatio"] != 0.3 {
		t.Errorf("1h window: %v", w)
	}
	tokens := h["tokens"].([]any)
	if len(tokens) != 1 || tokens[0].(map[string]any)["lastStatus"] != float64(201) && tokens[0].(map[string]any)["lastStatus"] != float64(409) {
		t.Errorf("tokens: %v", tokens)
	}

	member := tn.scimUser("dev@acme.test")
	secret := tn.tokenFor(member, "dev")
	if r := e.send(secret, "GET", tn.url("/provisioning/health"), nil); r.status != 403 {
		t.Errorf("a member who is not an org admin: %d, want 403", r.status)
	}
}
