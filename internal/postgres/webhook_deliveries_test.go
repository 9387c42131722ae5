package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Copies of a delivery that arrive together are ingested exactly once:
// the record and the check are one insert, in the ingest's transaction,
// so no copy can pass a check another has not committed yet.
func TestConcurrentCopiesOfADeliveryIngestOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	var obs []directory.GitObservation
	for i := range 50 {
		obs = append(obs, directory.GitObservation{Provider: directory.GitProviderGitLab, Repo: "acme/app", Role: directory.GitRoleAuthor,
			SHA: fmt.Sprintf("%040x", i+1), Email: fmt.Sprintf("dev%d@example.com", i), At: time.Now()})
	}
	const copies = 16
	for round := range 5 {
		d := postgres.WebhookDelivery{Provider: directory.GitProviderGitLab, ID: fmt.Sprintf("event-%d", round), Body: []byte(fmt.Sprint(round))}
		start := make(chan struct{})
		var mu sync.Mutex
		var wg sync.WaitGroup
		ingested, commits := 0, 0
		for range copies {
			wg.Go(func() {
				<-start
				res, dup, err := db.IngestWebhookDelivery(ctx, org.ID, d, obs)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Error(err)
				}
				if !dup {
					ingested++
				}
				commits += res.NewCommits
			})
		}
		close(start)
		wg.Wait()
		if ingested != 1 {
			t.Fatalf("round %d: %d of %d copies ingested, want 1", round, ingested, copies)
		}
		if round > 0 && commits != 0 {
			t.Fatalf("round %d: %d new commits from known ones", round, commits)
		}
	}
}
