package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/api"
)

func TestSubscriptionsAreManagedThroughTheAPI(t *testing.T) {
	t.Parallel()
	acme := newEnv(t).tenant("acme")
	created := acme.must(http.StatusCreated, "POST", "/subscriptions", map[string]any{
		"url": "https://hooks.example.com/scim", "eventTypes": []string{"user.*", "group.deleted"}, "description": "platform"})
	secret, id := str(created["secret"]), str(created["id"])
	if !strings.HasPrefix(secret, "scb_whsec_") || created["enabled"] != true || len(created["eventTypes"].([]any)) != 6 {
		t.Fatalf("created %v", created)
	}
	listed := acme.must(http.StatusOK, "GET", "/subscriptions", nil)
	if items := listed["items"].([]any); len(items) != 1 || items[0].(map[string]any)["secret"] != nil || strings.Contains(str(listed), secret) {
		t.Fatalf("the list shows a secret, or not the subscription: %v", listed)
	}
	got := acme.must(http.StatusOK, "GET", "/subscriptions/"+id, nil)
	if got["url"] != "https://hooks.example.com/scim" || got["secret"] != nil {
		t.Fatalf("get %v", got)
	}
	patched := acme.must(http.StatusOK, "PATCH", "/subscriptions/"+id, map[string]any{"enabled": false, "eventTypes": []string{}})
	if patched["enabled"] != false || len(patched["eventTypes"].([]any)) != 0 || patched["description"] != "platform" {
		t.Fatalf("patched %v", patched)
	}
	rotated := acme.must(http.StatusOK, "POST", "/subscriptions/"+id+"/rotate", nil)
	if s := str(rotated["secret"]); !strings.HasPrefix(s, "scb_whsec_") || s == secret || rotated["previousSecretUntil"] == nil {
		t.Fatalf("rotated %v", rotated)
	}
	revoked := acme.must(http.StatusOK, "POST", "/subscriptions/"+id+"/rotate", map[string]any{"revokePrevious": true})
	if revoked["previousSecretUntil"] != nil {
		t.Fatalf("after revoking the previous secret: %v", revoked)
	}
	if log := acme.must(http.StatusOK, "GET", "/subscriptions/"+id+"/deliveries?state=pending", nil); log["total"] != float64(0) {
		t.Fatalf("log %v", log)
	}
	problem(t, acme.do("GET", "/subscriptions/"+id+"/deliveries?state=lost", nil), 400, "invalid")
	problem(t, acme.do("POST", "/subscriptions/"+id+"/deliveries/12/redeliver", nil), 404, "not-found")
	problem(t, acme.do("POST", "/subscriptions/"+id+"/deliveries/x/redeliver", nil), 404, "not-found")
	if r := acme.do("DELETE", "/subscriptions/"+id, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.status)
	}
	problem(t, acme.do("GET", "/subscriptions/"+id, nil), 404, "not-found")
	problem(t, acme.do("GET", "/subscriptions/not-a-uuid", nil), 404, "not-found")
	audit := acme.must(http.StatusOK, "GET", "/audit?resourceType=Subscription", nil)
	if strings.Contains(str(audit), secret) || audit["total"] == float64(0) {
		t.Fatalf("audit: %v", audit)
	}
}

func TestSubscriptionInputIsChecked(t *testing.T) {
	t.Parallel()
	acme := newEnv(t).tenant("acme")
	for name, body := range map[string]map[string]any{
		"no url":             {},
		"loopback":           {"url": "https://127.0.0.1/x"},
		"private":            {"url": "https://192.168.1.10/x"},
		"metadata":           {"url": "https://169.254.169.254/latest/meta-data"},
		"plain http":         {"url": "http://hooks.example.com/x"},
		"credentials":        {"url": "https://u:p@hooks.example.com/x"},
		"unknown event type": {"url": "https://hooks.example.com/x", "eventTypes": []string{"user.exploded"}},
		"comma in a type":    {"url": "https://hooks.example.com/x", "eventTypes": []string{"user.created,user.removed"}},
		"long description":   {"url": "https://hooks.example.com/x", "description": strings.Repeat("x", 501)},
		"long url":           {"url": "https://hooks.example.com/" + strings.Repeat("x", 2048)},
		"unknown field":      {"url": "https://hooks.example.com/x", "secret": "mine"},
	} {
		problem(t, acme.do("POST", "/subscriptions", body), 400, "invalid")
		_ = name
	}
	if l := acme.must(http.StatusOK, "GET", "/subscriptions", nil); l["total"] != float64(0) {
		t.Fatalf("a refused subscription was saved: %v", l)
	}
	for range 20 {
		acme.must(http.StatusCreated, "POST", "/subscriptions", map[string]any{"url": "https://hooks.example.com/x"})
	}
	p := problem(t, acme.do("POST", "/subscriptions", map[string]any{"url": "https://hooks.example.com/x"}), 400, "invalid")
	if !strings.Contains(str(p["detail"]), "at most 20") {
		t.Fatalf("21st: %v", p)
	}
}

// Another organization's admin cannot see or touch a subscription, by its
// own organization's URL or by acme's.
func TestSubscriptionsAreTenantIsolatedInTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, globex := e.tenant("acme"), e.tenant("globex")
	id := str(acme.must(http.StatusCreated, "POST", "/subscriptions", map[string]any{"url": "https://hooks.example.com/x"})["id"])
	for _, rt := range []struct{ method, rel string }{
		{"GET", "/subscriptions/" + id},
		{"PATCH", "/subscriptions/" + id},
		{"DELETE", "/subscriptions/" + id},
		{"POST", "/subscriptions/" + id + "/rotate"},
		{"GET", "/subscriptions/" + id + "/deliveries"},
		{"POST", "/subscriptions/" + id + "/deliveries/1/redeliver"},
	} {
		var body any
		if rt.method == "PATCH" {
			body = map[string]any{"enabled": false}
		}
		problem(t, globex.do(rt.method, rt.rel, body), 404, "not-found")
		problem(t, e.send(globex.token, rt.method, acme.url(rt.rel), body), 404, "not-found")
	}
	if got := acme.must(http.StatusOK, "GET", "/subscriptions/"+id, nil); got["enabled"] != true {
		t.Fatalf("acme's subscription after globex's attempts: %v", got)
	}
	if l := globex.must(http.StatusOK, "GET", "/subscriptions", nil); l["total"] != float64(0) {
		t.Fatalf("globex lists %v", l)
	}
}

func TestSubscriptionsNeedOrgAdmin(t *testing.T) {
	t.Parallel()
	acme := newEnv(t).tenant("acme")
	member := acme.user("sam@acme.example", "invitation")
	token := acme.tokenFor(member, "sam")
	problem(t, acme.send(token, "GET", acme.url("/subscriptions"), nil), 403, "forbidden")
	problem(t, acme.send(token, "POST", acme.url("/subscriptions"), map[string]any{"url": "https://hooks.example.com/x"}), 403, "forbidden")
}

// With no secret key, a signing secret can be neither sealed nor opened:
// every subscription route says so, 503.
func TestSubscriptionsAreOffWithoutASecretKey(t *testing.T) {
	t.Parallel()
	acme := newEnv(t, withConfig(func(c *api.Config) { c.Subscriptions = nil })).tenant("acme")
	for _, rt := range []struct{ method, rel string }{
		{"GET", "/subscriptions"},
		{"POST", "/subscriptions"},
		{"GET", "/subscriptions/00000000-0000-0000-0000-000000000000/deliveries"},
	} {
		r := acme.do(rt.method, rt.rel, map[string]any{"url": "https://hooks.example.com/x"})
		p := problem(t, r, 503, "unavailable")
		if !strings.Contains(str(p["detail"]), "SCIMBRIDGE_SECRET_KEY") || r.header.Get("Retry-After") == "" {
			t.Fatalf("%s %s: %v", rt.method, rt.rel, p)
		}
	}
}
