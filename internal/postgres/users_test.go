package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

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
