package sync_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
	reconcile "github.com/scimbridge/scimbridge/sync"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The store is what the reconciler needs.
var _ reconcile.Store = (*postgres.DB)(nil)

var tester = directory.Actor{Kind: "test", Name: "t"}

// env is one test's organization on a database of its own.
type env struct {
	t   testing.TB
	ctx context.Context
	db  *postgres.DB
	org directory.Organization
}

var shaSeq atomic.Int64

func newEnv(t testing.TB) *env {
	t.Helper()
	db := pgtest.DB(t)
	e := &env{t: t, ctx: context.Background(), db: db}
	e.org = e.newOrg("acme")
	return e
}

func (e *env) newOrg(slug string) directory.Organization {
	e.t.Helper()
	o, err := e.db.CreateOrganization(e.ctx, slug, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

func emailsDoc(emails []string) []any {
	list := make([]any, len(emails))
	for i, m := range emails {
		list[i] = map[string]any{"value": m}
	}
	return list
}

// user creates a SCIM user of org.
func (e *env) userIn(org directory.Organization, name string, emails ...string) directory.User {
	e.t.Helper()
	u, err := e.db.CreateUser(e.ctx, tester, directory.User{OrgID: org.ID, Attributes: map[string]any{
		"userName": name, "emails": emailsDoc(emails)}})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) user(name string, emails ...string) directory.User {
	e.t.Helper()
	return e.userIn(e.org, name, emails...)
}

// member creates a user no IdP manages (it can be removed).
func (e *env) member(name string, emails ...string) directory.User {
	e.t.Helper()
	u, err := e.db.CreateUser(e.ctx, tester, directory.User{OrgID: e.org.ID, Source: directory.SourceInvitation,
		Attributes: map[string]any{"userName": name, "emails": emailsDoc(emails)}})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// update changes a SCIM user's document as the IdP would.
func (e *env) update(u directory.User, change func(a map[string]any)) {
	e.t.Helper()
	if _, err := e.db.UpdateUser(e.ctx, tester, e.org.ID, u.ID, 0, func(cur directory.User) (directory.User, error) {
		change(cur.Attributes)
		return cur, nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) setEmails(u directory.User, emails ...string) {
	e.t.Helper()
	e.update(u, func(a map[string]any) { a["emails"] = emailsDoc(emails) })
}

func (e *env) setActive(u directory.User, active bool) {
	e.t.Helper()
	e.update(u, func(a map[string]any) { a["active"] = active })
}

// seenIn records a commit by email (and login) on org's repository.
func (e *env) seenIn(org directory.Organization, email, login string) directory.GitIdentity {
	e.t.Helper()
	return e.seenOnIn(org, directory.GitProviderGitHub, email, login)
}

// seenOn records a commit on a repository of the provider.
func (e *env) seenOn(provider, email, login string) directory.GitIdentity {
	e.t.Helper()
	return e.seenOnIn(e.org, provider, email, login)
}

func (e *env) seenOnIn(org directory.Organization, provider, email, login string) directory.GitIdentity {
	e.t.Helper()
	sha := fmt.Sprintf("%040x", shaSeq.Add(1))
	o := directory.GitObservation{Provider: provider, Repo: "acme/api", SHA: sha, Name: "Someone", Email: email, Login: login,
		At: time.Now(), Role: directory.GitRoleAuthor}
	if _, err := e.db.IngestGitObservations(e.ctx, org.ID, []directory.GitObservation{o}); err != nil {
		e.t.Fatal(err)
	}
	g, err := e.db.FindGitIdentity(e.ctx, org.ID, provider, email, login)
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

func (e *env) seen(email string) directory.GitIdentity {
	e.t.Helper()
	return e.seenIn(e.org, email, "")
}

func (e *env) identity(id string) directory.GitIdentity {
	e.t.Helper()
	g, err := e.db.GitIdentity(e.ctx, e.org.ID, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

func (e *env) mapTo(g directory.GitIdentity, u directory.User) {
	e.t.Helper()
	if _, err := e.db.MapGitIdentity(e.ctx, tester, e.org.ID, g.ID, u.ID); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Pool.Exec(e.ctx, sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// age sets an identity's last_seen and touched_at days in the past,
// bypassing the trigger that keeps touched_at.
func (e *env) age(g directory.GitIdentity, lastSeenDays, touchedDays int) {
	e.t.Helper()
	tx, err := e.db.Pool.Begin(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	defer tx.Rollback(e.ctx)
	for _, q := range []string{
		`ALTER TABLE git_identities DISABLE TRIGGER git_identities_touch`,
		fmt.Sprintf(`UPDATE git_identities SET last_seen = now() - interval '%d days', touched_at = now() - interval '%d days'
			WHERE org_id = '%s' AND id = '%s'`, lastSeenDays, touchedDays, e.org.ID, g.ID),
		`ALTER TABLE git_identities ENABLE TRIGGER git_identities_touch`,
	} {
		if _, err := tx.Exec(e.ctx, q); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) reconciler(cfg reconcile.Config) *reconcile.Reconciler {
	cfg.Store = e.db
	return reconcile.New(cfg)
}

// run runs once for the test's organization and fails the test on error.
func (e *env) run(dry bool) reconcile.OrgSummary {
	e.t.Helper()
	sum, err := e.reconciler(reconcile.Config{}).RunOnce(e.ctx, e.org.Slug, dry)
	if err != nil {
		e.t.Fatalf("run: %v\n%s", err, sum)
	}
	if len(sum.Orgs) != 1 {
		e.t.Fatalf("run: %d organizations\n%s", len(sum.Orgs), sum)
	}
	return sum.Orgs[0]
}

func job(s reconcile.OrgSummary, name string) reconcile.JobSummary {
	for _, j := range s.Jobs {
		if j.Job == name {
			return j
		}
	}
	return reconcile.JobSummary{}
}

// openConflicts returns "kind identity: detail" of the open conflicts.
func (e *env) openConflicts() []string {
	e.t.Helper()
	list, err := e.db.ReconcileConflicts(e.ctx, e.org.ID, postgres.ConflictQuery{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range list {
		out = append(out, c.Kind+" "+c.Identity+": "+c.Detail)
	}
	return out
}

// digest fingerprints tables' rows (row versions included: xmin changes
// with every write, even one that changes no value).
func (e *env) digest(tables ...string) string {
	e.t.Helper()
	var parts []string
	for _, table := range tables {
		var d string
		if err := e.db.Pool.QueryRow(e.ctx, `SELECT coalesce(md5(string_agg(t::text || t.xmin::text, ',' ORDER BY t::text)), '') FROM `+table+` t`).Scan(&d); err != nil {
			e.t.Fatal(err)
		}
		parts = append(parts, table+"="+d)
	}
	return strings.Join(parts, " ")
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(e.ctx, sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}
