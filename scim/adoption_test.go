package scim_test

import (
	"context"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// A JIT user's groups come from its sign-ins, since no IdP pushes its
// memberships. Once a SCIM push adopts it, SCIM alone says which groups
// it is in (docs/access.md): the groups it claimed at sign-in no longer
// grant anything, not even after it signs in again with the same claim.
func TestSCIMAdoptionDropsTheGroupsClaimedAtSignIn(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		push map[string]any // adopts the JIT user of ann@example.com
	}{
		{"adopted by userName", userBody("Ann@Example.com")},
		{"adopted by email", userBody("ann.okta", "emails", []any{map[string]any{"value": "ann@example.com", "type": "work"}})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tn := setup(t)
			ctx := context.Background()
			if _, err := tn.db.CreateBinding(ctx, directory.Actor{Kind: "test", Name: "t"}, directory.Binding{OrgID: tn.orgID,
				Role: directory.RoleOrgAdmin, GroupMatch: directory.MatchGroupDisplayName, GroupValue: "Platform-Admins"}); err != nil {
				t.Fatal(err)
			}
			login := directory.LoginClaims{Issuer: "https://idp.example", Subject: "sub-ann", Email: "ann@example.com",
				EmailVerified: true, Groups: []string{"Platform-Admins"}}
			signIn := func() directory.User {
				t.Helper()
				u, _, err := tn.db.LinkLogin(ctx, tn.orgID, login, directory.JITPolicy{Mode: directory.JITAny})
				if err != nil {
					t.Fatal(err)
				}
				return u
			}
			orgAdmin := func(id string) bool {
				t.Helper()
				a, err := tn.db.Access(ctx, tn.orgID, id)
				if err != nil {
					t.Fatal(err)
				}
				return len(a.OrgAdmin) > 0
			}
			loginGroups := func(id string) int {
				t.Helper()
				var n int
				if err := tn.db.Pool.QueryRow(ctx, `SELECT count(*) FROM login_groups WHERE org_id = $1 AND user_id = $2`, tn.orgID, id).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}

			jit := signIn()
			if jit.Source != directory.SourceJIT || !orgAdmin(jit.ID) {
				t.Fatalf("before the push: source %s, org admin %v; want a JIT org admin through its sign-in group", jit.Source, orgAdmin(jit.ID))
			}
			got := tn.must(201, "POST", "/Users", c.push)
			if got["id"] != jit.ID {
				t.Fatalf("the push created %v instead of adopting %s", got["id"], jit.ID)
			}
			if orgAdmin(jit.ID) || loginGroups(jit.ID) != 0 {
				t.Fatalf("after adoption: org admin %v, %d sign-in groups kept", orgAdmin(jit.ID), loginGroups(jit.ID))
			}
			// The next sign-in claims the group again: ignored for a SCIM user.
			if u := signIn(); u.ID != jit.ID || u.Source != directory.SourceSCIM {
				t.Fatalf("signed in as %+v", u)
			}
			if orgAdmin(jit.ID) || loginGroups(jit.ID) != 0 {
				t.Fatalf("after signing in again: org admin %v, %d sign-in groups", orgAdmin(jit.ID), loginGroups(jit.ID))
			}
			// A SCIM membership of the group grants it again.
			tn.must(201, "POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
				"displayName": "Platform-Admins", "members": []any{map[string]any{"value": jit.ID}}})
			if !orgAdmin(jit.ID) {
				t.Fatal("a SCIM member of the mapped group is not org admin")
			}
		})
	}
}
