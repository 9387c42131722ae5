package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	reconcile "github.com/scimbridge/scimbridge/sync"
)

func TestReconcilerRunsAndConflictsAreListed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.tenant("acme")
	ctx := context.Background()
	// Two people claim one address: the reconciler reports it, not guesses.
	for _, name := range []string{"ann@acme.test", "ann.l@acme.test"} {
		if _, err := e.db.CreateUser(ctx, directory.Actor{Kind: "test", Name: "t"}, directory.User{OrgID: tn.id, Attributes: map[string]any{
			"userName": name, "emails": []any{map[string]any{"value": "shared@acme.test"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	tn.observe(commit(1, "shared@acme.test", "", time.Hour))
	sum, err := reconcile.New(reconcile.Config{Store: e.db}).RunOnce(ctx, "acme", false)
	if err != nil {
		t.Fatalf("%v\n%s", err, sum)
	}
	runs := tn.must(200, "GET", "/reconcile/runs", nil)
	items, _ := runs["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["outcome"] != "ok" {
		t.Fatalf("runs %v", runs)
	}
	conflicts := tn.must(200, "GET", "/git/conflicts", nil)
	items, _ = conflicts["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("conflicts %v", conflicts)
	}
	c := items[0].(map[string]any)
	if c["kind"] != "ambiguous-email" || c["reason"] == "" || c["identity"] == "" {
		t.Fatalf("conflict %v", c)
	}
	tn.must(400, "GET", "/git/conflicts?resolved=maybe", nil)
	tn.must(400, "GET", "/reconcile/runs?limit=0", nil)
}
