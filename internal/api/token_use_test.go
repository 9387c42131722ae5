package api_test

import (
	"context"
	"testing"
	"time"
)

// Through the API: a token's use shows as lastUsedAt in its listing, and
// an expired token is refused with the unauthorized problem, whatever it
// asks.
func TestAPITokenLastUseIsListedAndAnExpiredTokenIsRefused(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ann, annUser := tn.admin("ann@acme.test")
	minted := ann.must(201, "POST", "/api-tokens", map[string]any{"name": "ci", "expiresIn": "12h"})
	ci := *ann
	ci.token = str(minted["token"])

	listed := func() map[string]any {
		t.Helper()
		for _, it := range ann.must(200, "GET", "/api-tokens", nil)["items"].([]any) {
			if m := it.(map[string]any); m["id"] == minted["id"] {
				return m
			}
		}
		t.Fatalf("token %v not listed", minted["id"])
		return nil
	}
	if m := listed(); m["lastUsedAt"] != nil || m["owner"] == nil {
		t.Fatalf("an unused token: %v", m)
	}
	if got := ci.must(200, "GET", "/users?userName="+annUser.UserName, nil); got == nil {
		t.Fatal("no body")
	}
	m := listed()
	used, err := time.Parse(time.RFC3339Nano, str(m["lastUsedAt"]))
	if err != nil || time.Since(used) > time.Minute || time.Until(used) > time.Minute {
		t.Fatalf("lastUsedAt after a use: %v (%v)", m["lastUsedAt"], err)
	}

	if _, err := tn.db.Pool.Exec(context.Background(), `UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, minted["id"]); err != nil {
		t.Fatal(err)
	}
	for _, req := range []struct {
		method, rel string
		body        any
	}{{"GET", "/users", nil}, {"POST", "/api-tokens", map[string]any{"name": "again"}}} {
		p := problem(t, ci.do(req.method, req.rel, req.body), 401, "unauthorized")
		if p["detail"] != "the bearer token is not valid (unknown, revoked or expired, or its owner is no longer active)" {
			t.Fatalf("%s %s: %v", req.method, req.rel, p)
		}
	}
	if m := listed(); m["status"] != "expired" {
		t.Fatalf("an expired token is listed as %v", m["status"])
	}
}
