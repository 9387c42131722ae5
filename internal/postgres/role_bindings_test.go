package postgres_test

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// AuthorizeSubject is authorize's one-statement lookup: it must find the
// user FindMember finds (or fail as it does), the workspace Workspace and
// WorkspaceOf find, and decide as Access does, for every action, on that
// workspace. AuthenticateAPIAndSubject must answer the same in the token's
// organization.
func TestAuthorizeSubjectAgreesWithFindMemberAndAccess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.CreateOrganization(ctx, "other", "")
	if err != nil {
		t.Fatal(err)
	}
	user := func(orgID, userName, source string, emails ...string) directory.User {
		t.Helper()
		es := []any{}
		for _, e := range emails {
			es = append(es, map[string]any{"value": e})
		}
		u, err := db.CreateUser(ctx, tester, directory.User{OrgID: orgID, Source: source,
			Attributes: map[string]any{"userName": userName, "emails": es}})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	memberships := map[string][]directory.Membership{} // by user id, for the oracle
	group := func(name, externalID string, members ...directory.User) directory.Group {
		t.Helper()
		var ids []string
		for _, u := range members {
			ids = append(ids, u.ID)
		}
		g, err := db.CreateGroup(ctx, tester, directory.Group{OrgID: org.ID, DisplayName: name, ExternalID: externalID, Attributes: map[string]any{}},
			directory.MemberChange{Add: ids})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			memberships[id] = append(memberships[id], directory.Membership{GroupID: g.ID, ExternalID: externalID, DisplayName: name})
		}
		return g
	}
	workspace := func(name string, targets ...directory.Target) directory.Workspace {
		t.Helper()
		w, err := db.CreateWorkspace(ctx, tester, org.ID, name, targets)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	bind := func(b directory.Binding) {
		t.Helper()
		b.OrgID = org.ID
		if _, err := db.CreateBinding(ctx, tester, b); err != nil {
			t.Fatal(err)
		}
	}

	dataEng := workspace("data-eng", directory.Target{Cluster: "prod", Namespace: "data"})
	web := workspace("web")
	alice := user(org.ID, "alice@acme.test", "", "alice@acme.test")
	bob := user(org.ID, "bob@acme.test", "", "bob@acme.test", "both@acme.test")
	user(org.ID, "carol@acme.test", "", "both@acme.test")                     // shares an email with bob
	user(org.ID, "frank@acme.test", "", "frank@acme.test")                    // a userName beats …
	user(org.ID, "fred@acme.test", "", "frank@acme.test")                     // … another user's email
	user(org.ID, "11111111-2222-3333-4444-555555555555", directory.SourceJIT) // an id-shaped userName
	gone := user(org.ID, "gone@acme.test", directory.SourceJIT, "gone@acme.test")
	if _, err := db.RemoveMember(ctx, tester, org.ID, gone.ID); err != nil {
		t.Fatal(err)
	}
	user(other.ID, "alice@acme.test", "", "alice@acme.test") // the other tenant's alice

	data := group("Data", "ext-data", alice, bob)
	group("Ops", "", alice)
	group("Admins", "ext-admins", bob)
	bind(directory.Binding{Role: directory.RoleEditor, WorkspaceID: dataEng.ID, UserID: alice.ID})
	bind(directory.Binding{Role: directory.RoleViewer, WorkspaceID: dataEng.ID, GroupMatch: directory.MatchGroupDisplayName, GroupValue: "Data"})
	bind(directory.Binding{Role: directory.RoleRunner, WorkspaceID: web.ID, GroupMatch: directory.MatchGroupExternalID, GroupValue: "ext-data"})
	bind(directory.Binding{Role: directory.RoleRunner, WorkspaceID: web.ID, UserID: alice.ID}) // a tie: the first binding's grant explains
	bind(directory.Binding{Role: directory.RoleWorkspaceAdmin, WorkspaceID: web.ID, GroupMatch: directory.MatchGroupID, GroupValue: data.ID})
	bind(directory.Binding{Role: directory.RoleViewer, WorkspaceID: web.ID, GroupMatch: directory.MatchGroupDisplayName, GroupValue: "Ops"})
	bind(directory.Binding{Role: directory.RoleOrgAdmin, GroupMatch: directory.MatchGroupExternalID, GroupValue: "ext-admins"})

	owner, err := db.FindMember(ctx, org.ID, postgres.BreakGlassUserName)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := db.CreateAPIToken(ctx, tester, org.ID, owner.ID, "t", 0)
	if err != nil {
		t.Fatal(err)
	}

	all, err := db.Bindings(ctx, org.ID, postgres.BindingFilter{})
	if err != nil {
		t.Fatal(err)
	}

	refs := []string{alice.ID, "alice@acme.test", "ALICE@acme.test", bob.ID, "both@acme.test", "frank@acme.test",
		"11111111-2222-3333-4444-555555555555", gone.ID, "gone@acme.test", "nobody@acme.test",
		"00000000-0000-0000-0000-000000000000", "not an id"}
	queries := []postgres.AuthorizeQuery{
		{}, {Workspace: "data-eng"}, {Workspace: "WEB"}, {Workspace: web.ID}, {Workspace: "nope"}, {Workspace: "00000000-0000-0000-0000-000000000000"},
		{Target: directory.Target{Cluster: "prod", Namespace: "data"}}, {Target: directory.Target{Cluster: "prod", Namespace: "nope"}},
	}
	kind := func(err error) string {
		for _, k := range []error{directory.ErrNotFound, directory.ErrConflict} {
			if errors.Is(err, k) {
				return k.Error()
			}
		}
		if err != nil {
			return "other: " + err.Error()
		}
		return ""
	}
	for _, ref := range refs {
		for _, q := range queries {
			q.User = ref
			got, gotErr := db.AuthorizeSubject(ctx, org.ID, q)
			want, wantErr := db.FindMember(ctx, org.ID, ref)
			if kind(gotErr) != kind(wantErr) {
				t.Fatalf("%+v: error %v, FindMember's %v", q, gotErr, wantErr)
			}
			auth, fused, fusedErr, err := db.AuthenticateAPIAndSubject(ctx, secret, q)
			if err != nil || auth.Org.ID != org.ID || auth.Owner.ID != owner.ID {
				t.Fatalf("%+v: AuthenticateAPIAndSubject: %v %+v", q, err, auth)
			}
			if !reflect.DeepEqual(fused, got) || kind(fusedErr) != kind(gotErr) {
				t.Fatalf("%+v: AuthenticateAPIAndSubject's subject %+v (%v), AuthorizeSubject's %+v (%v)", q, fused, fusedErr, got, gotErr)
			}
			if wantErr != nil {
				continue
			}
			if got.User.ID != want.ID || got.User.UserName != want.UserName || got.User.Status() != want.Status() {
				t.Fatalf("%+v: user %+v, FindMember's %+v", q, got.User, want)
			}

			ref, unknown := q.Workspace, false
			if q.Target.Cluster != "" {
				if ref, err = db.WorkspaceOf(ctx, org.ID, q.Target); errors.Is(err, directory.ErrNotFound) {
					unknown = true
				}
			}
			var wantWS *directory.Workspace
			if ref != "" {
				if w, err := db.Workspace(ctx, org.ID, ref); err == nil {
					wantWS = &w
				}
			}
			if got.TargetUnknown != unknown || got.WorkspaceRef != ref || (got.Workspace == nil) != (wantWS == nil) ||
				wantWS != nil && (got.Workspace.ID != wantWS.ID || got.Workspace.Name != wantWS.Name) {
				t.Fatalf("%+v: workspace %q %v %+v, want %q %v %+v", q, got.WorkspaceRef, got.TargetUnknown, got.Workspace, ref, unknown, wantWS)
			}
			wsID := ""
			if wantWS != nil {
				wsID = wantWS.ID
			}
			acc, err := db.Access(ctx, org.ID, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			// The oracle reads every binding and decides in Go alone.
			oracle := directory.Effective(want.ID, memberships[want.ID], all)
			for _, action := range slices.Sorted(maps.Keys(directory.Actions)) {
				g, a, o := got.Access.Authorize(action, wsID), acc.Authorize(action, wsID), oracle.Authorize(action, wsID)
				if g != o || a != o {
					t.Fatalf("%+v: %s: %+v, Access decides %+v, the oracle %+v", q, action, g, a, o)
				}
			}
		}
	}

	// The token's own organization is where the user is looked for.
	_, otherSecret, err := db.CreateAPIToken(ctx, tester, other.ID, mustFind(t, db, other.ID, postgres.BreakGlassUserName).ID, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	theirs := mustFind(t, db, other.ID, "alice@acme.test")
	if _, s, sErr, err := db.AuthenticateAPIAndSubject(ctx, otherSecret, postgres.AuthorizeQuery{User: "alice@acme.test"}); err != nil || sErr != nil || s.User.ID != theirs.ID {
		t.Fatalf("the other tenant's token: %v %v %+v, want their alice %s", err, sErr, s.User, theirs.ID)
	}

	// The token check is AuthenticateAPI's.
	auth, err := db.AuthenticateAPI(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	ownerAcc, err := db.Access(ctx, org.ID, owner.ID)
	if err != nil || !reflect.DeepEqual(auth.Access, ownerAcc) || auth.Owner.ID != owner.ID || !reflect.DeepEqual(auth.Owner.Groups, owner.Groups) {
		t.Fatalf("AuthenticateAPI: %+v, want the owner %+v with %+v (%v)", auth, owner, ownerAcc, err)
	}
	if err := db.RevokeAPIToken(ctx, tester, org.ID, "t"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, "scb_api_short", directory.NewSecret(directory.APITokenPrefix)} {
		if _, err := db.AuthenticateAPI(ctx, s); !errors.Is(err, directory.ErrUnauthorized) {
			t.Fatalf("AuthenticateAPI(%q): %v, want ErrUnauthorized", s, err)
		}
		if _, _, _, err := db.AuthenticateAPIAndSubject(ctx, s, postgres.AuthorizeQuery{User: "alice@acme.test"}); !errors.Is(err, directory.ErrUnauthorized) {
			t.Fatalf("AuthenticateAPIAndSubject(%q): %v, want ErrUnauthorized", s, err)
		}
	}
}

func mustFind(t *testing.T, db *postgres.DB, orgID, ref string) directory.User {
	t.Helper()
	u, err := db.FindMember(context.Background(), orgID, ref)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
