package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// TestFeedDeliversEveryCommittedEventOnceInCommitOrderPerResource is the
// feed's proof. Writers change a few hot resources concurrently; each
// transaction first appends an event about an unrelated resource (so it
// takes its id early, as a transaction that changes several resources
// does), waits a little, then row-locks its resource, bumps its version
// and appends the event carrying that version; some roll back. A consumer
// follows the feed with its cursor the whole time while the sequencer
// runs. In the end the consumer must have seen every committed event
// exactly once, none of the rolled-back ones, and each resource's versions
// in increasing order — the order its changes committed in. A feed that
// hands out identity ids as positions ("id greater than my cursor") fails
// this: ids commit out of order.
func TestFeedDeliversEveryCommittedEventOnceInCommitOrderPerResource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A connection per writer, so that their transactions really overlap.
	cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	db := postgres.New(pool, slog.New(slog.DiscardHandler))
	org, err := db.CreateOrganization(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	clearEvents(t, db)
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE hot (id int PRIMARY KEY, version int NOT NULL DEFAULT 0);
		INSERT INTO hot (id) SELECT generate_series(1, 4)`); err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 12, 40
	actor := directory.Actor{Kind: "system", Name: "test"}
	var (
		mu        sync.Mutex
		committed = map[string]bool{} // "hot/3@7", "noise/…"
		rolled    = map[string]bool{}
	)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range perWriter {
				res := 1 + rng.IntN(4)
				noise := fmt.Sprintf("noise-%d-%d", w, i)
				rollback := rng.IntN(8) == 0
				var key string
				err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
					if err := postgres.AppendEventForTest(ctx, tx, org.ID, actor, directory.EventUserUpdated, "noise", noise, map[string]any{}); err != nil {
						return err
					}
					time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
					var v int
					if err := tx.QueryRow(ctx, `UPDATE hot SET version = version + 1 WHERE id = $1 RETURNING version`, res).Scan(&v); err != nil {
						return err
					}
					key = fmt.Sprintf("hot/%d@%d", res, v)
					if err := postgres.AppendEventForTest(ctx, tx, org.ID, actor, directory.EventUserUpdated, "hot", fmt.Sprint(res), map[string]any{"version": v}); err != nil {
						return err
					}
					if rollback {
						return errRollback
					}
					return nil
				})
				mu.Lock()
				switch {
				case errors.Is(err, errRollback):
					rolled["noise/"+noise] = true
				case err != nil:
					mu.Unlock()
					t.Error(err)
					return
				default:
					committed["noise/"+noise] = true
					committed[key] = true
				}
				mu.Unlock()
			}
		})
	}
	done := make(chan struct{})
	var seqWG sync.WaitGroup
	seqWG.Go(func() { // the sequencer, as serve runs it
		for {
			if _, err := db.SequenceEvents(ctx, 50); err != nil {
				t.Error(err)
				return
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	seen := map[string]int{}
	lastVersion := map[string]int{}
	var cursor int64
	follow := func() {
		page, err := db.Events(ctx, org.ID, cursor, nil, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Events {
			var d struct {
				Version int `json:"version"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			key := e.ResourceType + "/" + e.ResourceID
			if e.ResourceType == "hot" {
				if d.Version <= lastVersion[key] {
					t.Fatalf("%s: version %d after %d: not in commit order", key, d.Version, lastVersion[key])
				}
				lastVersion[key] = d.Version
				key = fmt.Sprintf("%s@%d", key, d.Version)
			}
			seen[key]++
		}
		cursor = page.Next
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()
	for following := true; following; {
		select {
		case <-writersDone:
			following = false
		default:
			follow()
		}
	}
	close(done)
	seqWG.Wait()
	for { // drain: number what is left, read to the end
		n, err := db.SequenceEvents(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		before := len(seen)
		follow()
		if n == 0 && len(seen) == before {
			break
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s seen %d times", k, n)
		}
		if rolled[k] {
			t.Errorf("%s was rolled back but is in the feed", k)
		}
		if !committed[k] {
			t.Errorf("%s in the feed but never committed", k)
		}
	}
	missing := 0
	for k := range committed {
		if seen[k] == 0 {
			missing++
		}
	}
	t.Logf("seen %d committed %d missing %d", len(seen), len(committed), missing)
	if missing > 0 {
		t.Errorf("%d of %d committed events never reached the consumer", missing, len(committed))
	}
	if len(rolled) == 0 || len(committed) < writers*perWriter {
		t.Fatalf("the test did not exercise rollbacks (%d) or commits (%d)", len(rolled), len(committed))
	}
}

var errRollback = errors.New("roll back")

// clearEvents deletes the events written so far (the organizations'
// creation writes some: their break-glass owners and their roles), for
// tests that count their own.
func clearEvents(t *testing.T, db *postgres.DB) {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(), `DELETE FROM events`); err != nil {
		t.Fatal(err)
	}
}

func TestFeedFiltersByTypeAndBoundsItsInput(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	acme, err := db.CreateOrganization(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.CreateOrganization(ctx, "other", "Other")
	if err != nil {
		t.Fatal(err)
	}
	clearEvents(t, db)
	actor := directory.Actor{Kind: "scim-token", Name: "okta"}
	for _, e := range []struct{ org, typ, id string }{
		{acme.ID, directory.EventUserCreated, "u1"},
		{other.ID, directory.EventUserCreated, "x1"},
		{acme.ID, directory.EventGroupCreated, "g1"},
		{acme.ID, directory.EventUserDeactivated, "u1"},
	} {
		if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			return postgres.AppendEventForTest(ctx, tx, e.org, actor, e.typ, "user", e.id, map[string]string{"id": e.id})
		}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := db.Events(ctx, acme.ID, 0, nil, 10)
	if err != nil || len(page.Events) != 0 {
		t.Fatalf("before the sequencer ran: %v %v, want nothing (unnumbered events are not in the feed)", page.Events, err)
	}
	if n, err := db.SequenceEvents(ctx, 100); err != nil || n != 4 {
		t.Fatalf("sequenced %d %v, want 4", n, err)
	}
	tests := []struct {
		name  string
		org   string
		after int64
		types []string
		limit int
		want  []string
	}{
		{"all of acme's, in order", acme.ID, 0, nil, 10, []string{"user.created u1", "group.created g1", "user.deactivated u1"}},
		{"only some types", acme.ID, 0, []string{directory.EventUserCreated, directory.EventUserDeactivated}, 10, []string{"user.created u1", "user.deactivated u1"}},
		{"a page of one", acme.ID, 0, nil, 1, []string{"user.created u1"}},
		{"the other organization sees only its own", other.ID, 0, nil, 10, []string{"user.created x1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := db.Events(ctx, tt.org, tt.after, tt.types, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range page.Events {
				got = append(got, e.Type+" "+e.ResourceID)
				if e.Actor != actor || e.OrgID != tt.org || e.OccurredAt.IsZero() {
					t.Errorf("event %+v", e)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if page.Next != page.Events[len(page.Events)-1].Seq {
				t.Fatalf("next %d", page.Next)
			}
		})
	}
	head, err := db.EventsHead(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	page, err = db.Events(ctx, acme.ID, head, nil, 10)
	if err != nil || len(page.Events) != 0 || page.Next != head {
		t.Fatalf("at the head: %v %d %v, want an empty page keeping the cursor", page.Events, page.Next, err)
	}
}

func TestFeedCursorOlderThanRetentionIsGone(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	acme, err := db.CreateOrganization(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.CreateOrganization(ctx, "other", "Other")
	if err != nil {
		t.Fatal(err)
	}
	clearEvents(t, db)
	actor := directory.Actor{Kind: "system", Name: "test"}
	add := func(org string, n int) {
		for i := range n {
			if err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
				return postgres.AppendEventForTest(ctx, tx, org, actor, directory.EventUserUpdated, "user", fmt.Sprint(i), map[string]int{"i": i})
			}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := db.SequenceEvents(ctx, 100); err != nil {
			t.Fatal(err)
		}
	}
	add(acme.ID, 3)
	add(other.ID, 1)
	if _, err := db.Pool.Exec(ctx, `UPDATE events SET occurred_at = now() - interval '40 days'`); err != nil {
		t.Fatal(err)
	}
	add(acme.ID, 2) // recent: kept
	first, err := db.Events(ctx, acme.ID, 0, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.PruneEvents(ctx, time.Now().Add(-30*24*time.Hour), 1000)
	if err != nil || n != 4 {
		t.Fatalf("pruned %d %v, want the 4 old events", n, err)
	}
	if _, err := db.Events(ctx, acme.ID, first.Next, nil, 10); !errors.Is(err, directory.ErrGone) {
		t.Fatalf("a cursor into pruned events: %v, want ErrGone", err)
	}
	if _, err := db.Events(ctx, acme.ID, 0, nil, 10); !errors.Is(err, directory.ErrGone) {
		t.Fatalf("the beginning after pruning: %v, want ErrGone", err)
	}
	var pruned int64
	if err := db.Pool.QueryRow(ctx, `SELECT pruned_seq FROM event_retention WHERE org_id = $1`, acme.ID).Scan(&pruned); err != nil {
		t.Fatal(err)
	}
	page, err := db.Events(ctx, acme.ID, pruned, nil, 10)
	if err != nil || len(page.Events) != 2 {
		t.Fatalf("from the oldest kept position: %d events, %v; want the 2 recent ones", len(page.Events), err)
	}
}
