package scim_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/scim"
)

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// healthServer is a server whose SCIM handler records provisioning health
// on clock.
func healthServer(t *testing.T, clock *testClock) (*postgres.DB, *postgres.HealthRecorder, *httptest.Server) {
	t.Helper()
	db := pgtest.DB(t)
	rec := db.NewHealthRecorder(clock.now)
	hs := httpserver.New(httpserver.Config{Ready: db.Ready})
	scim.New(scim.Config{Store: db, Health: rec, Now: clock.now, MaxBody: 64 << 10}).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	return db, rec, srv
}

// A known sequence of good and bad requests, spread over a week by the
// clock, reads back as exactly those figures: per window, per operation,
// per kind of error, the tokens' last requests, Okta's 409s, and the
// failures with their detail and no secret.
func TestHealthFiguresMatchAKnownSequence(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 9, 12, 0, 0, 0, time.UTC)
	clock := &testClock{t: now.Add(-3 * 24 * time.Hour)}
	db, rec, srv := healthServer(t, clock)
	tn := newTenant(t, db, srv, "acme")
	other := newTenant(t, db, srv, "other")
	ctx := context.Background()
	okta := []string{"User-Agent", "Okta SCIM Client 1.0.0"}

	// Three days ago: two creates (one 409) and 20 discoveries — in 7d
	// only.
	tn.must(201, "POST", "/Users", userBody("old@example.com"), okta...)
	scimError(t, tn.do("POST", "/Users", userBody("old@example.com"), okta...), 409, "uniqueness")
	for range 20 {
		tn.must(200, "GET", "/ServiceProviderConfig", nil)
	}

	// Five hours ago: a lookup, a create, a bad filter — in 24h and 7d.
	clock.set(now.Add(-5 * time.Hour))
	tn.must(200, "GET", "/Users?filter="+url.QueryEscape(`userName eq "ann@example.com"`), nil, okta...)
	ann := tn.must(201, "POST", "/Users", userBody("ann@example.com"), okta...)
	scimError(t, tn.do("GET", "/Users?filter="+url.QueryEscape(`userName zz "x"`), nil, okta...), 400, "invalidFilter")
	for range 4 {
		tn.must(200, "GET", "/Users/"+str(ann["id"]), nil)
	}

	// Now: a lookup that finds nothing by id (404, not a failure), a 409
	// whose body carries a password and a secret, a bad PATCH, a good
	// PATCH, and requests of a revoked token.
	clock.set(now.Add(-time.Minute))
	scimError(t, tn.do("GET", "/Users/6b1f2c3d-0000-4000-8000-000000000000", nil, okta...), 404, "")
	dup := userBody("ANN@example.com", "password", "hunter2-секрет", "urn:example:apiSecret", "s3cr3t-value",
		"nickName", "Bearer abc.def.ghi")
	scimError(t, tn.do("POST", "/Users?access_token=leaky", dup, okta...), 409, "uniqueness")
	scimError(t, tn.do("PATCH", "/Users/"+str(ann["id"]), patchBody(map[string]any{"op": "jump", "path": "active", "value": false})), 400, "")
	tn.must(204, "PATCH", "/Users/"+str(ann["id"]), patchBody(map[string]any{"op": "replace", "path": "password", "value": "pa55word"}))
	_, revoked, err := db.CreateSCIMToken(ctx, tn.orgID, "retired", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.RevokeSCIMToken(ctx, tn.orgID, "retired"); err != nil {
		t.Fatal(err)
	}
	scimError(t, tn.do("GET", "/Users", nil, "Authorization", "Bearer "+revoked), 401, "")
	// Not recorded: an unknown token (anyone can send one), and the
	// other organization's traffic is its own.
	scimError(t, tn.do("GET", "/Users", nil, "Authorization", "Bearer scb_scim_"+strings.Repeat("x", 43)), 401, "")
	other.must(201, "POST", "/Users", userBody("ann@example.com"))
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	ph, err := db.ProvisioningHealth(ctx, tn.orgID, now)
	if err != nil {
		t.Fatal(err)
	}
	type fig struct {
		requests, failures int
		state              string
	}
	want := map[string]fig{
		// now: 404 (ok), 409, 400 PATCH, 204 PATCH, 401 → 5 requests, 3 failures
		"1h": {5, 3, directory.HealthCritical},
		// + 5 h ago: GET, POST, 400 filter, 4 GETs → 12 requests, 4
		// failures (33 %)
		"24h": {12, 4, directory.HealthWarn},
		// + 3 days ago: POST, 409, 20 GETs → 34 requests, 5 failures
		"7d": {34, 5, directory.HealthOK},
	}
	for _, w := range ph.Windows {
		got := fig{w.Requests, w.Failures, w.State}
		if got != want[w.Window] {
			t.Errorf("window %s: %+v, want %+v", w.Window, got, want[w.Window])
		}
	}
	ops := map[string][2]int{}
	for _, oc := range ph.Windows[2].ByOperation {
		ops[oc.Operation] = [2]int{oc.Requests, oc.Failures}
	}
	wantOps := map[string][2]int{"POST /Users": {4, 2}, "GET /Users": {3, 2}, "GET /Users/{id}": {5, 0}, "PATCH /Users/{id}": {2, 1},
		"GET /ServiceProviderConfig": {20, 0}}
	if !reflect.DeepEqual(ops, wantOps) {
		t.Errorf("7d by operation %v, want %v", ops, wantOps)
	}
	errs := map[string]int{}
	for _, ec := range ph.Windows[1].ByError {
		errs[ec.Operation+" "+strings.TrimSpace(strings.Join([]string{strconv.Itoa(ec.Status), ec.ScimType}, " "))] += ec.Count
	}
	wantErrs := map[string]int{"POST /Users 409 uniqueness": 1, "GET /Users 400 invalidFilter": 1, "PATCH /Users/{id} 400 invalidValue": 1, "GET /Users 401": 1}
	if !reflect.DeepEqual(errs, wantErrs) {
		t.Errorf("24h errors %v, want %v", errs, wantErrs)
	}
	if ph.Okta409 != 1 {
		t.Errorf("Okta 409s in 24h: %d, want 1 (the one of three days ago is older)", ph.Okta409)
	}

	// Tokens: the live one last did the good PATCH; the revoked one is
	// listed with its refused request.
	tokens := map[string]directory.TokenActivity{}
	for _, a := range ph.Tokens {
		tokens[a.Name] = a
	}
	if a := tokens["idp"]; a.LastAt == nil || !a.LastAt.Equal(now.Add(-time.Minute)) || a.LastOperation != "PATCH /Users/{id}" || a.LastStatus != 204 {
		t.Errorf("token idp: %+v", a)
	}
	if a := tokens["retired"]; !a.Revoked || a.LastStatus != 401 || a.LastOperation != "GET /Users" {
		t.Errorf("token retired: %+v", a)
	}

	// Failures, newest first, with their detail.
	if len(ph.Recent) != 5 {
		t.Fatalf("%d recent failures, want 5: %+v", len(ph.Recent), ph.Recent)
	}
	var conflict directory.FailedRequest
	for _, f := range ph.Recent {
		if f.Status == 409 && f.At.Equal(now.Add(-time.Minute)) {
			conflict = f
		}
		if f.Status == 404 {
			t.Errorf("a 404 to a GET is listed as a failure: %+v", f)
		}
	}
	if !conflict.OktaStopsOn409() || conflict.Client != directory.ClientOkta || conflict.Method != "POST" ||
		!strings.Contains(conflict.Detail, "already exists") || conflict.TokenName != "idp" {
		t.Errorf("the 409: %+v", conflict)
	}
	for _, secret := range []string{"hunter2", "s3cr3t", "abc.def", "leaky"} {
		for _, f := range ph.Recent {
			if strings.Contains(f.Body, secret) || strings.Contains(f.Path, secret) {
				t.Errorf("%q kept in a failure: %s %s", secret, f.Path, f.Body)
			}
		}
	}
	if !strings.Contains(conflict.Body, `"userName":"ANN@example.com"`) || strings.Count(conflict.Body, "[redacted]") != 3 {
		t.Errorf("the 409's body: %s", conflict.Body)
	}
	if conflict.Path != "/scim/v2/acme/Users?access_token=%5Bredacted%5D" {
		t.Errorf("the 409's path: %s", conflict.Path)
	}
	if !ph.Recent[0].At.Equal(now.Add(-time.Minute)) || !ph.Recent[len(ph.Recent)-1].At.Equal(now.Add(-3*24*time.Hour)) {
		t.Errorf("failures are not newest first: %v … %v", ph.Recent[0].At, ph.Recent[len(ph.Recent)-1].At)
	}

	// The other organization sees its own request only.
	oh, err := db.ProvisioningHealth(ctx, other.orgID, now)
	if err != nil {
		t.Fatal(err)
	}
	if oh.Windows[2].Requests != 1 || oh.Windows[2].Failures != 0 || len(oh.Recent) != 0 {
		t.Errorf("the other organization: %+v", oh)
	}
}
