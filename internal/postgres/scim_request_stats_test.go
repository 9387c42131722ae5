package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
)

// Counters add up across flushes (and so across replicas), and each
// organization keeps its newest 100 failures, whether they came in one
// flush or several.
func TestHealthRecorderAddsUpAndKeepsTheNewestFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	now := time.Date(2026, 12, 9, 12, 0, 0, 0, time.UTC)
	orgs := map[string]string{}
	tokens := map[string]string{}
	for _, slug := range []string{"acme", "other"} {
		o, err := db.CreateOrganization(ctx, slug, "")
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := db.CreateSCIMToken(ctx, o.ID, "idp", 0)
		if err != nil {
			t.Fatal(err)
		}
		orgs[slug], tokens[slug] = o.ID, tok.ID
	}
	replicaA, replicaB := db.NewHealthRecorder(func() time.Time { return now }), db.NewHealthRecorder(func() time.Time { return now })
	fail := func(r interface{ Record(directory.SCIMRequest) }, slug string, i int) {
		r.Record(directory.SCIMRequest{OrgID: orgs[slug], TokenID: tokens[slug], At: now.Add(time.Duration(i-200) * time.Second),
			Operation: "POST /Users", Status: 409, ScimType: "uniqueness", Method: "POST", Path: "/Users", Detail: fmt.Sprint("n", i)})
	}
	// 150 failures in one replica's memory: only the newest 100 survive
	// the flush; 30 more from another replica, then 5 more.
	for i := range 150 {
		fail(replicaA, "acme", i)
	}
	for i := 150; i < 180; i++ {
		fail(replicaB, "acme", i)
	}
	fail(replicaB, "other", 0)
	replicaA.Record(directory.SCIMRequest{OrgID: orgs["acme"], TokenID: tokens["acme"], At: now, Operation: "GET /Users", Status: 200, ScimType: "not-a-type"})
	for _, r := range []interface{ Flush(context.Context) error }{replicaA, replicaB} {
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := 180; i < 185; i++ {
		fail(replicaA, "acme", i)
	}
	if err := replicaA.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	ph, err := db.ProvisioningHealth(ctx, orgs["acme"], now)
	if err != nil {
		t.Fatal(err)
	}
	w := ph.Windows[2]
	if w.Requests != 186 || w.Failures != 185 {
		t.Errorf("7d: %d requests, %d failures; want 186 and 185 (every request counted, whichever replica)", w.Requests, w.Failures)
	}
	if len(ph.Recent) != directory.MaxRecentFailures || ph.Recent[0].Detail != "n184" || ph.Recent[99].Detail != "n85" {
		t.Errorf("%d failures kept, newest %q, oldest %q; want 100, n184 … n85", len(ph.Recent), ph.Recent[0].Detail, ph.Recent[len(ph.Recent)-1].Detail)
	}
	var stored int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM scim_failures WHERE org_id = $1`, orgs["acme"]).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != directory.MaxRecentFailures {
		t.Errorf("%d failures stored, want the newest %d only", stored, directory.MaxRecentFailures)
	}
	var unknownType int
	for _, e := range w.ByError {
		if e.ScimType != "uniqueness" {
			unknownType++
		}
	}
	if unknownType != 0 {
		t.Errorf("errors %+v", w.ByError)
	}
	oh, err := db.ProvisioningHealth(ctx, orgs["other"], now)
	if err != nil {
		t.Fatal(err)
	}
	if len(oh.Recent) != 1 || oh.Windows[2].Requests != 1 {
		t.Errorf("other: %d failures, %d requests; want 1 and 1", len(oh.Recent), oh.Windows[2].Requests)
	}
}
