package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// The test databases fold like production ones (pgtest creates them with
// a UTF-8 LC_CTYPE), so that a query comparing identities with lower()
// fails here as it would there; ascii_lower (migration 00018) folds A–Z
// only.
func TestTestDatabaseLowerFoldsUnicodeAndASCIILowerDoesNot(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	var lower, ascii string
	if err := db.Pool.QueryRow(context.Background(), `SELECT lower(U&'\212AATE'), ascii_lower(U&'\212AATE')`).Scan(&lower, &ascii); err != nil {
		t.Fatal(err)
	}
	if ascii != "\u212Aate" {
		t.Errorf("ascii_lower(KELVIN SIGN + ATE) = %q, want %q", ascii, "\u212Aate")
	}
	if lower != "kate" {
		t.Skipf("lower() does not fold the Kelvin sign on this server (%q): the LC_CTYPE pgtest asks for is missing, and SQL look-alike tests prove less", lower)
	}
}

// The admin API's lookups of a member (authorize, the CLI, invitations)
// compare userNames and emails in ASCII case only: a look-alike of a
// member's address names nobody.
func TestMemberLookupsDoNotFoldNonASCIIIntoASCII(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	org, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	kate, err := db.CreateUser(ctx, tester, directory.User{OrgID: org.ID, Attributes: map[string]any{
		"userName": "kate@corp.example", "emails": []any{map[string]any{"value": "kate@corp.example"}, map[string]any{"value": "kim@corp.example"}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"\u212Aate@corp.example", "\uFF2Bate@corp.example", "k\u0430te@corp.example", "k\u0130m@corp.example", "k\u0131m@corp.example"} {
		if u, err := db.FindMember(ctx, org.ID, ref); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("FindMember(%q) = %s, %v; want not found", ref, u.UserName, err)
		}
		if s, err := db.AuthorizeSubject(ctx, org.ID, postgres.AuthorizeQuery{User: ref}); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("AuthorizeSubject(%q) = %s, %v; want not found", ref, s.User.UserName, err)
		}
		// Nobody is a member by that address, so it may be invited.
		if _, err := db.CreateInvitation(ctx, tester, org.ID, ref, false, nil, 0); err != nil {
			t.Errorf("invite %q: %v", ref, err)
		}
	}
	if _, n, err := db.Members(ctx, org.ID, postgres.MemberQuery{Search: "\u212A"}); err != nil || n != 0 {
		t.Errorf("search for the Kelvin sign: %d, %v; want none", n, err)
	}
	// ASCII case still does not matter.
	for _, ref := range []string{"KATE@Corp.Example", "Kim@CORP.example"} {
		if u, err := db.FindMember(ctx, org.ID, ref); err != nil || u.ID != kate.ID {
			t.Errorf("FindMember(%q) = %s, %v; want kate", ref, u.UserName, err)
		}
		if s, err := db.AuthorizeSubject(ctx, org.ID, postgres.AuthorizeQuery{User: ref}); err != nil || s.User.ID != kate.ID {
			t.Errorf("AuthorizeSubject(%q) = %s, %v; want kate", ref, s.User.UserName, err)
		}
		if _, err := db.CreateInvitation(ctx, tester, org.ID, ref, false, nil, 0); !errors.Is(err, directory.ErrConflict) {
			t.Errorf("invite %q: %v; want a conflict (kate is a member)", ref, err)
		}
	}
	if _, n, err := db.Members(ctx, org.ID, postgres.MemberQuery{Search: "KAT"}); err != nil || n != 1 {
		t.Errorf("search for KAT: %d, %v; want kate", n, err)
	}
}
