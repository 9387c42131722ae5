package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

const issuer = "https://idp.example.com"

// racingDB is a store whose pool lets many transactions run at once
// (pgtest's default pool has as many connections as the machine has
// cores, which can serialise a race away).
func racingDB(t *testing.T) *postgres.DB {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 24
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return postgres.New(pool, slog.New(slog.DiscardHandler))
}

// race runs f(0..n-1) at once and waits for all of them.
func race(n int, f func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

func linksOf(t *testing.T, db *postgres.DB, orgID, userID string) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM user_links WHERE org_id = $1 AND user_id = $2`,
		orgID, userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConcurrentFirstLoginsOfOneIssuerLinkOneSubjectOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := racingDB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	const rounds, logins = 10, 12
	for r := range rounds {
		email := fmt.Sprintf("ann%d@example.com", r)
		u, err := db.CreateUser(ctx, tester, directory.User{OrgID: org.ID, Attributes: map[string]any{
			"userName": email, "emails": []any{map[string]any{"value": email}}}})
		if err != nil {
			t.Fatal(err)
		}
		// Each login is another IdP account claiming the user by its
		// verified email.
		linked := make([]bool, logins)
		errs := make([]error, logins)
		race(logins, func(i int) {
			_, linked[i], errs[i] = db.LinkLogin(ctx, org.ID, directory.LoginClaims{Issuer: issuer,
				Subject: fmt.Sprintf("sub-%d-%d", r, i), Email: email, EmailVerified: true}, directory.JITPolicy{Mode: directory.JITSCIMOnly})
		})
		won := 0
		for i, err := range errs {
			switch {
			case err == nil && linked[i]:
				won++
			case !errors.Is(err, directory.ErrForbidden):
				t.Fatalf("round %d, login %d: linked=%v err=%v, want a link or ErrForbidden", r, i, linked[i], err)
			}
		}
		if n := linksOf(t, db, org.ID, u.ID); won != 1 || n != 1 {
			t.Fatalf("round %d: %d logins linked, %d links stored; want exactly one", r, won, n)
		}
	}
}

func TestRemovalRacingAFirstLoginLeavesNoLinkToTheRemovedUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := racingDB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	jit := directory.JITPolicy{Mode: directory.JITAny}
	for r := range 40 {
		email := fmt.Sprintf("jo%d@example.com", r)
		// A JIT user (no IdP manages it, so it can be removed) whose
		// second identity provider signs it in for the first time while
		// an administrator removes it.
		u, _, err := db.LinkLogin(ctx, org.ID, directory.LoginClaims{Issuer: "https://first.example.com", Subject: email,
			Email: email, EmailVerified: true}, jit)
		if err != nil {
			t.Fatal(err)
		}
		var linkErr, removeErr error
		race(2, func(i int) {
			if i == 0 {
				_, _, linkErr = db.LinkLogin(ctx, org.ID, directory.LoginClaims{Issuer: issuer, Subject: email,
					Email: email, EmailVerified: true}, jit)
			} else {
				_, removeErr = db.RemoveMember(ctx, tester, org.ID, u.ID)
			}
		})
		if removeErr != nil {
			t.Fatal(removeErr)
		}
		if linkErr != nil && !errors.Is(linkErr, directory.ErrForbidden) {
			t.Fatalf("round %d: login: %v", r, linkErr)
		}
		if n := linksOf(t, db, org.ID, u.ID); n != 0 {
			t.Fatalf("round %d: %d login links survive the user's removal (login err %v)", r, n, linkErr)
		}
	}
}

func TestMigrationKeepsTheOldestLinkPerIssuerAndAuditsTheRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The schema before the unique index, with what a race left behind:
	// two subjects of one issuer on ann.
	pool, _ := poolAtVersion(t, 20)
	// Rows as that schema's code wrote them (today's writes events too,
	// into a table that schema does not have).
	db := postgres.New(pool, slog.New(slog.DiscardHandler))
	var org directory.Organization
	var ann directory.User
	if err := pool.QueryRow(ctx, `INSERT INTO organizations (slug, name) VALUES ('acme', 'acme') RETURNING id`).Scan(&org.ID); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `INSERT INTO users (org_id, user_name, emails, attributes) VALUES ($1, 'ann@example.com', '{ann@example.com}', '{}') RETURNING id`,
		org.ID).Scan(&ann.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO user_links (org_id, issuer, subject, user_id, created_at) VALUES
		($1, $2, 'later', $3, now()), ($1, $2, 'first', $3, now() - interval '1 day'), ($1, 'https://other.example.com', 'x', $3, now())`,
		org.ID, issuer, ann.ID); err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, pool, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT issuer || ' ' || subject FROM user_links WHERE org_id = $1 ORDER BY 1`, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, s)
	}
	if want := []string{issuer + " first", "https://other.example.com x"}; fmt.Sprint(kept) != fmt.Sprint(want) {
		t.Fatalf("links after the migration: %q, want %q", kept, want)
	}
	events, _, err := db.QueryAudit(ctx, org.ID, postgres.AuditQuery{Action: "user.unlink"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].ResourceID != ann.ID || fmt.Sprint(events[0].Before["subject"]) != "later" {
		t.Fatalf("audit of the dropped link: %+v", events)
	}
	// And from now on the index refuses a second subject.
	_, _, err = db.LinkLogin(ctx, org.ID, directory.LoginClaims{Issuer: issuer, Subject: "third", Email: "ann@example.com", EmailVerified: true},
		directory.JITPolicy{Mode: directory.JITSCIMOnly})
	if !errors.Is(err, directory.ErrForbidden) {
		t.Fatalf("a third subject: %v, want ErrForbidden", err)
	}
}
