package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
)

func TestUserCountStaysExactUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	other, _ := db.CreateOrganization(ctx, "other", "")
	actor := directory.Actor{Kind: "test", Name: "t"}
	create := func(orgID, name string) directory.User {
		u, err := db.CreateUser(ctx, actor, directory.User{OrgID: orgID, Attributes: map[string]any{"userName": name}})
		if err != nil {
			t.Error(err)
		}
		return u
	}
	create(other.ID, "elsewhere")
	var wg sync.WaitGroup
	ids := make([]string, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ids); i += 8 {
				ids[i] = create(org.ID, fmt.Sprintf("u%d", i)).ID
			}
		}()
	}
	wg.Wait()
	// A failed create (duplicate) must not count.
	if _, err := db.CreateUser(ctx, actor, directory.User{OrgID: org.ID, Attributes: map[string]any{"userName": "U1"}}); err == nil {
		t.Fatal("duplicate userName accepted")
	}
	for _, id := range ids[:10] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.DeleteUser(ctx, actor, org.ID, id, 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	_, total, err := db.ListUsers(ctx, org.ID, directory.ListQuery{Count: 0})
	if err != nil {
		t.Fatal(err)
	}
	var exact int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE org_id = $1 AND source = 'scim'`, org.ID).Scan(&exact); err != nil {
		t.Fatal(err)
	}
	if total != 54 || exact != 54 {
		t.Fatalf("totalResults %d, count(*) %d, want 54", total, exact)
	}
	// A filtered list counts its matches.
	_, n, err := db.ListUsers(ctx, org.ID, directory.ListQuery{Filter: directory.Compare{Attr: directory.AttrPath{Name: "userName"}, Op: directory.OpSw, Value: "u6"}})
	if err != nil || n != 4 { // u60..u63
		t.Fatalf("filtered total %d, %v, want 4", n, err)
	}
}

// An IdP's initial push creates users on several connections at once. The
// count's shard row stays locked until its transaction commits (an fsync
// away), so a create must not wait for a shard another transaction holds
// while it could count on a free one.
func TestUserCountDoesNotWaitForAShardHeldElsewhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	actor := directory.Actor{Kind: "test", Name: "t"}
	if _, err := db.CreateUser(ctx, actor, directory.User{OrgID: org.ID, Attributes: map[string]any{"userName": "first"}}); err != nil {
		t.Fatal(err)
	}
	// Other transactions, uncommitted, hold every shard the organization
	// has (16 of them, the most any earlier scheme used) and have
	// created users of their own.
	if _, err := db.Pool.Exec(ctx, `INSERT INTO user_counts (org_id, shard, n) SELECT $1, s, 0 FROM generate_series(0, 15) s
		ON CONFLICT DO NOTHING`, org.ID); err != nil {
		t.Fatal(err)
	}
	// The test's pool has 4 connections: the holder and two creators
	// leave one for the creates under test.
	var held []interface{ Rollback(context.Context) error }
	rollback := func() (err error) {
		for _, tx := range held {
			err = errors.Join(err, tx.Rollback(ctx))
		}
		held = nil
		return err
	}
	defer func() { _ = rollback() }() // a failing test must not leave the pool's close waiting
	// noWait runs a create that must not wait for another transaction.
	noWait := func(what string, create func(ctx context.Context) error) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		err := create(cctx)
		if errors.Is(err, context.DeadlineExceeded) || (err != nil && cctx.Err() != nil) {
			t.Fatalf("%s waited for a shard held by another transaction: %v", what, err)
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	holder, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, holder)
	if _, err := holder.Exec(ctx, `SELECT 1 FROM user_counts WHERE org_id = $1 FOR UPDATE`, org.ID); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		tx, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, tx)
		noWait(fmt.Sprintf("pending create %d", i), func(ctx context.Context) error {
			_, err := tx.Exec(ctx, `INSERT INTO users (org_id, user_name) VALUES ($1, $2)`, org.ID, fmt.Sprintf("pending%d", i))
			return err
		})
	}
	const committed = 5
	for i := range committed {
		noWait(fmt.Sprintf("create %d", i), func(ctx context.Context) error {
			_, err := db.CreateUser(ctx, actor, directory.User{OrgID: org.ID, Attributes: map[string]any{"userName": fmt.Sprintf("u%d", i)}})
			return err
		})
	}
	if err := rollback(); err != nil {
		t.Fatal(err)
	}
	_, total, err := db.ListUsers(ctx, org.ID, directory.ListQuery{Count: 0})
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + committed; total != want {
		t.Fatalf("totalResults %d after the held transactions rolled back, want %d", total, want)
	}
}
