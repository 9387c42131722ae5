package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/postgres"
)

// Tokens minted before every token had to expire, an API token in
// another person's name among them, get 90 days from the upgrade: no
// credential of that time lives on forever. Revoked and already expiring
// tokens are left as they are.
func TestMigrationGivesTokensWithoutExpiryNinetyDays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := poolAtVersion(t, 21)
	var org, owner string
	if err := pool.QueryRow(ctx, `INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme') RETURNING id`).Scan(&org); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO users (org_id, user_name, attributes) VALUES ($1, 'ann', '{}') RETURNING id`, org).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	hash := func(b byte) []byte { h := make([]byte, 32); h[0] = b; return h }
	soon := time.Now().Add(24 * time.Hour)
	for _, tok := range []struct {
		name             string
		expires, revoked any
	}{{"forever", nil, nil}, {"revoked", nil, time.Now()}, {"soon", soon, nil}} {
		if _, err := pool.Exec(ctx, `INSERT INTO scim_tokens (org_id, name, token_hash, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5)`,
			org, tok.name, hash(tok.name[0]), tok.expires, tok.revoked); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `INSERT INTO api_tokens (org_id, name, owner_id, token_hash, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			org, tok.name, owner, hash(tok.name[0]), tok.expires, tok.revoked); err != nil {
			t.Fatal(err)
		}
	}
	if err := postgres.Migrate(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"scim_tokens", "api_tokens"} {
		got := map[string]*time.Time{}
		rows, err := pool.Query(ctx, `SELECT name, expires_at FROM `+table+` WHERE org_id = $1`, org)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			var exp *time.Time
			if err := rows.Scan(&name, &exp); err != nil {
				t.Fatal(err)
			}
			got[name] = exp
		}
		rows.Close()
		if e := got["forever"]; e == nil || time.Until(*e) < 89*24*time.Hour || time.Until(*e) > 91*24*time.Hour {
			t.Errorf("%s: a live token without expiry now expires at %v, want in 90 days", table, e)
		}
		if got["revoked"] != nil {
			t.Errorf("%s: a revoked token was given an expiry", table)
		}
		if e := got["soon"]; e == nil || !e.Equal(soon.Truncate(time.Microsecond)) {
			t.Errorf("%s: a token's own expiry changed to %v", table, e)
		}
	}
	var audited int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE org_id = $1 AND actor = 'migration:00024'`, org).Scan(&audited); err != nil || audited != 2 {
		t.Fatalf("%d audit events of the migration (%v), want one per token given an expiry", audited, err)
	}
}
