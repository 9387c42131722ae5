package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

var tester = directory.Actor{Kind: "test", Name: "t"}

func gitSetup(t *testing.T) (*postgres.DB, directory.Organization, directory.User, directory.User) {
	t.Helper()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	mk := func(name string) directory.User {
		u, err := db.CreateUser(ctx, tester, directory.User{OrgID: org.ID, Attributes: map[string]any{
			"userName": name, "emails": []any{map[string]any{"value": name}}}})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	return db, org, mk("ann@example.com"), mk("bob@example.com")
}

func obs(repo, sha, email, login string) directory.GitObservation {
	return directory.GitObservation{Provider: "github", Repo: repo, SHA: sha, Name: "Ann", Email: email, Login: login,
		At: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Role: directory.GitRoleAuthor}
}

const sha1, sha2 = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"

func TestIngestIsIdempotentByRepoAndSHA(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, _, _ := gitSetup(t)
	batch := []directory.GitObservation{obs("acme/api", sha1, "Ann@Example.com", "ann"), obs("acme/web", sha2, "ann@example.com", "ann")}
	for i := range 2 {
		res, err := db.IngestGitObservations(ctx, org.ID, batch)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[int]int{0: 2, 1: 0}[i]; res.NewCommits != want || res.Identities != 1 {
			t.Fatalf("ingest %d: %+v, want %d new commits of 1 identity", i+1, res, want)
		}
	}
	g, err := db.FindGitIdentity(ctx, org.ID, "github", "ANN@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	if g.Commits != 2 || len(g.Repos) != 2 || g.Email != "ann@example.com" || g.Login != "ann" {
		t.Fatalf("identity %+v", g)
	}
	// A bad observation refuses the whole batch.
	bad := append(batch, directory.GitObservation{Provider: "github", Repo: "acme/api", Role: directory.GitRoleAuthor})
	if _, err := db.IngestGitObservations(ctx, org.ID, bad); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("bad batch: %v", err)
	}
}

func TestOneIdentityMapsToOneUserUnderConcurrentClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ann, bob := gitSetup(t)
	if _, err := db.IngestGitObservations(ctx, org.ID, []directory.GitObservation{obs("acme/api", sha1, "shared@example.com", "")}); err != nil {
		t.Fatal(err)
	}
	g, _ := db.FindGitIdentity(ctx, org.ID, "github", "shared@example.com", "")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := ann.ID
			if i%2 == 1 {
				who = bob.ID
			}
			_, errs[i] = db.MapGitIdentity(ctx, tester, org.ID, g.ID, who)
		}()
	}
	wg.Wait()
	after, _ := db.GitIdentity(ctx, org.ID, g.ID)
	for i, err := range errs {
		claimedBy := ann.ID
		if i%2 == 1 {
			claimedBy = bob.ID
		}
		switch {
		case claimedBy == after.UserID && err != nil:
			t.Fatalf("claim %d by the winner failed: %v", i, err)
		case claimedBy != after.UserID && !errors.Is(err, directory.ErrConflict):
			t.Fatalf("claim %d by the loser: %v, want ErrConflict", i, err)
		}
	}
	// The conflict names the current owner.
	loser := bob.ID
	if after.UserID == bob.ID {
		loser = ann.ID
	}
	_, err := db.MapGitIdentity(ctx, tester, org.ID, g.ID, loser)
	if !errors.Is(err, directory.ErrConflict) || !strings.Contains(err.Error(), "@example.com") {
		t.Fatalf("second claim: %v", err)
	}
	if err := db.UnmapGitIdentity(ctx, tester, org.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.MapGitIdentity(ctx, tester, org.ID, g.ID, loser); err != nil {
		t.Fatalf("claim after unmap: %v", err)
	}
}

func TestMapRacingRemovalNeverMapsARemovedUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := racingDB(t)
	org, _ := db.CreateOrganization(ctx, "acme", "")
	const rounds, pairs = 10, 8
	for r := range rounds {
		users := make([]directory.User, pairs)
		ids := make([]string, pairs)
		for p := range pairs {
			var err error
			if users[p], err = db.CreateServiceAccount(ctx, tester, org.ID, fmt.Sprintf("ci-%d-%d", r, p), "", ""); err != nil {
				t.Fatal(err)
			}
			email := fmt.Sprintf("ci-%d-%d@example.com", r, p)
			if _, err := db.IngestGitObservations(ctx, org.ID, []directory.GitObservation{obs("acme/api", sha1, email, "")}); err != nil {
				t.Fatal(err)
			}
			g, err := db.FindGitIdentity(ctx, org.ID, "github", email, "")
			if err != nil {
				t.Fatal(err)
			}
			ids[p] = g.ID
		}
		// pairs mappings and pairs removals at once, each mapping racing
		// the removal of its own account.
		errs := make([]error, 2*pairs)
		race(2*pairs, func(i int) {
			p := i / 2
			if i%2 == 0 {
				_, errs[i] = db.MapGitIdentity(ctx, tester, org.ID, ids[p], users[p].ID)
			} else {
				_, errs[i] = db.RemoveMember(ctx, tester, org.ID, users[p].ID)
			}
		})
		for p := range pairs {
			if err := errs[2*p]; err != nil && !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("round %d: map: %v, want success or ErrInvalid", r, err)
			}
			if err := errs[2*p+1]; err != nil {
				t.Fatalf("round %d: remove: %v", r, err)
			}
			g, err := db.GitIdentity(ctx, org.ID, ids[p])
			if err != nil {
				t.Fatal(err)
			}
			if g.UserID != "" {
				t.Fatalf("round %d: identity %s is mapped to the removed account %s (map err %v)", r, g.Email, g.UserID, errs[2*p])
			}
		}
	}
}

func TestResolveAnswersWhoTriggeredARun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ann, _ := gitSetup(t)
	batch := []directory.GitObservation{
		obs("acme/api", sha1, "ann@example.com", "ann-gh"),
		obs("acme/api", sha2, "123+ann-gh@users.noreply.github.com", "ann-gh"),
	}
	if _, err := db.IngestGitObservations(ctx, org.ID, batch); err != nil {
		t.Fatal(err)
	}
	g, _ := db.FindGitIdentity(ctx, org.ID, "github", "ann@example.com", "")
	if _, err := db.ResolveGit(ctx, org.ID, "github", "ann@example.com", ""); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unmapped: %v", err)
	}
	if _, err := db.MapGitIdentity(ctx, tester, org.ID, g.ID, ann.ID); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ email, login string }{
		{"ann@example.com", ""},
		{"ANN@example.com", "ann-gh"},
		{"", "ann-gh"},
		{"456+ann-gh@users.noreply.github.com", ""}, // noreply resolves by login
	}
	for _, c := range cases {
		a, err := db.ResolveGit(ctx, org.ID, "github", c.email, c.login)
		if err != nil || a.User.ID != ann.ID {
			t.Fatalf("resolve %q/%q: %+v %v", c.email, c.login, a.User.UserName, err)
		}
	}
	// A deactivated user still resolves, marked so.
	if _, err := db.UpdateUser(ctx, tester, org.ID, ann.ID, 0, func(u directory.User) (directory.User, error) {
		u.Attributes["active"] = false
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	a, err := db.ResolveGit(ctx, org.ID, "github", "ann@example.com", "")
	if err != nil || a.User.Status() != directory.StatusDeactivated {
		t.Fatalf("deactivated: %v %v", a.User.Status(), err)
	}
}

func TestServiceAccountsHoldIdentitiesAndLoseThemOnDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org, ann, _ := gitSetup(t)
	sa, err := db.CreateServiceAccount(ctx, tester, org.ID, "ci-robot", "builds main", ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sa.Kind != directory.KindService || sa.Source != directory.SourceService {
		t.Fatalf("sa %+v", sa)
	}
	if _, err := db.CreateServiceAccount(ctx, tester, org.ID, "ann@example.com", "", ""); err == nil {
		t.Fatal("a service account took a user's name")
	}
	if _, _, err := db.ListUsers(ctx, org.ID, directory.ListQuery{}); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := db.ListUsers(ctx, org.ID, directory.ListQuery{Count: 10}); total != 2 {
		t.Fatalf("SCIM sees %d users, want the 2 people only", total)
	}
	if _, err := db.IngestGitObservations(ctx, org.ID, []directory.GitObservation{obs("acme/api", sha1, "ci@acme.example", "acme-ci")}); err != nil {
		t.Fatal(err)
	}
	g, _ := db.FindGitIdentity(ctx, org.ID, "github", "ci@acme.example", "")
	if _, err := db.MapGitIdentity(ctx, tester, org.ID, g.ID, sa.ID); err != nil {
		t.Fatal(err)
	}
	_, secret, err := db.CreateAPIToken(ctx, tester, org.ID, sa.ID, "ci", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetServiceAccountEnabled(ctx, tester, org.ID, "ci-robot", false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AuthenticateAPI(ctx, secret); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatalf("disabled account's token: %v", err)
	}
	if _, err := db.SetServiceAccountEnabled(ctx, tester, org.ID, "ci-robot", true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AuthenticateAPI(ctx, secret); err != nil {
		t.Fatalf("re-enabled account's token: %v", err)
	}
	if err := db.DeleteServiceAccount(ctx, tester, org.ID, "ci-robot"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ResolveGit(ctx, org.ID, "github", "ci@acme.example", ""); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("a deleted account still resolves: %v", err)
	}
	after, _ := db.GitIdentity(ctx, org.ID, g.ID)
	if after.Name == "" || after.UserID != "" {
		t.Fatalf("identity after delete: %+v", after)
	}
	if _, err := db.AuthenticateAPI(ctx, secret); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatal("a deleted account's token works")
	}
}
