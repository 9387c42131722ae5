package postgres_test

import (
	"context"
	"slices"
	"testing"
)

// Migration 00018 re-derives users.emails from the document the IdP sent:
// Go's strings.ToLower had stored the Kelvin sign's address as "kate@…",
// another user's. ASCII-only addresses keep their row as it was.
func TestMigration18RederivesEmailsFoldedBeyondASCII(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, p := poolAtVersion(t, 17)
	var org string
	if err := pool.QueryRow(ctx, `INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme') RETURNING id`).Scan(&org); err != nil {
		t.Fatal(err)
	}
	// The rows as the code before 00018 wrote them (emails lower-cased by
	// strings.ToLower).
	users := []struct {
		name, emails, attributes string
		want                     []string
	}{
		{"mallory", `{kate@corp.example,åsa@corp.example,kate@corp.example}`,
			`{"emails": [{"value": "\u212Aate@Corp.example"}, {"value": "\u212Bsa@corp.example"}, {"value": 7}, {"value": ""}, {"value": "KATE@corp.example"}]}`,
			[]string{"\u212Aate@corp.example", "\u212Bsa@corp.example", "kate@corp.example"}},
		{"bob", `{bob@x.com}`, `{"emails": [{"value": "Bob@X.com"}]}`, []string{"bob@x.com"}},
		{"odd", `{}`, `{"emails": "not a list \u212A"}`, []string{}},
	}
	for _, u := range users {
		if _, err := pool.Exec(ctx, `INSERT INTO users (org_id, user_name, emails, attributes) VALUES ($1, $2, $3, $4)`,
			org, u.name, u.emails, u.attributes); err != nil {
			t.Fatal(err)
		}
	}
	var bobBefore string
	if err := pool.QueryRow(ctx, `SELECT xmin::text FROM users WHERE user_name = 'bob'`).Scan(&bobBefore); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		var got []string
		if err := pool.QueryRow(ctx, `SELECT emails FROM users WHERE user_name = $1`, u.name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, u.want) {
			t.Errorf("%s: emails %q, want %q", u.name, got, u.want)
		}
	}
	var bobAfter string
	if err := pool.QueryRow(ctx, `SELECT xmin::text FROM users WHERE user_name = 'bob'`).Scan(&bobAfter); err != nil {
		t.Fatal(err)
	}
	if bobAfter != bobBefore {
		t.Error("an ASCII-only user was rewritten")
	}
	// And down again, and up: the migration is reversible on such data.
	if _, err := p.DownTo(ctx, 17); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
}
