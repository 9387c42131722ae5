package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/resource"
)

var (
	okta  = directory.Actor{Kind: "scim-token", Name: "okta"}
	admin = directory.Actor{Kind: "api-token", Name: "ops"}
)

// fx is an organization with two workspaces (data, web), two SCIM users
// (ann, bob) and two SCIM groups (Eng with ann, Ops empty), and a cursor
// on its feed.
type fx struct {
	t      *testing.T
	ctx    context.Context
	db     *postgres.DB
	org    directory.Organization
	owner  directory.User
	users  map[string]directory.User
	groups map[string]directory.Group
	ws     map[string]directory.Workspace
	cursor int64
}

func newFx(t *testing.T, db *postgres.DB, slug string) *fx {
	t.Helper()
	ctx := context.Background()
	f := &fx{t: t, ctx: ctx, db: db, users: map[string]directory.User{}, groups: map[string]directory.Group{}, ws: map[string]directory.Workspace{}}
	var err error
	if f.org, err = db.CreateOrganization(ctx, slug, ""); err != nil {
		t.Fatal(err)
	}
	if f.owner, err = db.FindMember(ctx, f.org.ID, postgres.BreakGlassUserName); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"data", "web"} {
		if f.ws[name], err = db.CreateWorkspace(ctx, admin, f.org.ID, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"ann", "bob"} {
		f.users[name] = f.createUser(name)
	}
	f.groups["Eng"] = f.createGroup("Eng", "ann")
	f.groups["Ops"] = f.createGroup("Ops")
	f.drain()
	return f
}

func (f *fx) createUser(name string) directory.User {
	f.t.Helper()
	u, err := f.db.CreateUser(f.ctx, okta, directory.User{OrgID: f.org.ID, Attributes: map[string]any{
		"userName": name + "@example.com", "displayName": strings.ToUpper(name[:1]) + name[1:],
		"emails": []any{map[string]any{"value": name + "@example.com"}}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *fx) createGroup(name string, members ...string) directory.Group {
	f.t.Helper()
	g, err := f.db.CreateGroup(f.ctx, okta, directory.Group{OrgID: f.org.ID, DisplayName: name, ExternalID: "ext-" + name}, directory.MemberChange{Add: f.ids(members...)})
	if err != nil {
		f.t.Fatal(err)
	}
	return g
}

func (f *fx) ids(names ...string) []string {
	var out []string
	for _, n := range names {
		out = append(out, f.users[n].ID)
	}
	return out
}

// members changes a group's members.
func (f *fx) members(group string, mc directory.MemberChange) error {
	_, err := f.db.UpdateGroup(f.ctx, okta, f.org.ID, f.groups[group].ID, 0, func(cur directory.Group) (directory.Group, directory.MemberChange, error) {
		return cur, mc, nil
	})
	return err
}

func (f *fx) rename(group, to string) error {
	_, err := f.db.UpdateGroup(f.ctx, okta, f.org.ID, f.groups[group].ID, 0, func(cur directory.Group) (directory.Group, directory.MemberChange, error) {
		cur.DisplayName = to
		return cur, directory.MemberChange{}, nil
	})
	return err
}

// patch sets a user's attribute (nil removes it).
func (f *fx) patch(user, attr string, v any) error {
	_, err := f.db.UpdateUser(f.ctx, okta, f.org.ID, f.users[user].ID, 0, func(cur directory.User) (directory.User, error) {
		if v == nil {
			delete(cur.Attributes, attr)
		} else {
			cur.Attributes[attr] = v
		}
		return cur, nil
	})
	return err
}

func (f *fx) grant(user string, role directory.Role, ws string) error {
	b := directory.Binding{OrgID: f.org.ID, Role: role, UserID: f.users[user].ID}
	if ws != "" {
		b.WorkspaceID = f.ws[ws].ID
	}
	_, err := f.db.CreateBinding(f.ctx, admin, b)
	return err
}

func (f *fx) mapGroup(match directory.GroupMatch, value string, role directory.Role, ws string) directory.Binding {
	f.t.Helper()
	b, err := f.db.CreateBinding(f.ctx, admin, directory.Binding{OrgID: f.org.ID, Role: role, WorkspaceID: f.ws[ws].ID, GroupMatch: match, GroupValue: value})
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fx) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

// drain numbers every event of the organization and returns those after
// the cursor, moving it.
func (f *fx) drain() []directory.Event {
	f.t.Helper()
	for {
		// Other tests' passes may hold the sequencer: wait for them.
		var waiting int
		if err := f.db.Pool.QueryRow(f.ctx, `SELECT count(*) FROM events WHERE org_id = $1 AND seq IS NULL`, f.org.ID).Scan(&waiting); err != nil {
			f.t.Fatal(err)
		}
		if waiting == 0 {
			break
		}
		if _, err := f.db.SequenceEvents(f.ctx, 1000); err != nil {
			f.t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	var out []directory.Event
	for {
		page, err := f.db.Events(f.ctx, f.org.ID, f.cursor, nil, 1000)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, page.Events...)
		f.cursor = page.Next
		if len(page.Events) < 1000 {
			return out
		}
	}
}

// describe names an event for comparison: its type and what it is about,
// read from its data.
func describe(t *testing.T, e directory.Event) string {
	t.Helper()
	var d struct {
		UserName, Name, DisplayName, Email, State, Method string
		Group                                             struct{ DisplayName string }
		User                                              struct{ UserName string }
		Workspace                                         *struct{ Name string }
		Role, PreviousRole                                *string
		MappedTo                                          *struct{ UserName string }
		Status                                            string
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatalf("%s: %v", e.Type, err)
	}
	or := func(s *string) string {
		if s == nil {
			return "-"
		}
		return *s
	}
	family, _, _ := strings.Cut(e.Type, ".")
	switch {
	case family == "user":
		return e.Type + " " + d.UserName + " " + d.Status
	case family == "service_account":
		return e.Type + " " + d.Name + " " + d.Status
	case strings.HasPrefix(e.Type, "group.member_"):
		return e.Type + " " + d.Group.DisplayName + " " + d.User.UserName
	case family == "group":
		return e.Type + " " + d.DisplayName
	case family == "role":
		ws := "org"
		if d.Workspace != nil {
			ws = d.Workspace.Name
		}
		return fmt.Sprintf("%s %s %s %s<%s", e.Type, d.User.UserName, ws, or(d.Role), or(d.PreviousRole))
	case family == "git_identity":
		to := "-"
		if d.MappedTo != nil {
			to = d.MappedTo.UserName
		}
		return e.Type + " " + d.Email + " " + to
	case family == "invitation":
		return e.Type + " " + d.Email + " " + d.State
	case family == "sso":
		return e.Type + " " + d.User.UserName + " " + d.Method
	}
	return e.Type
}

// TestEveryChangeEmitsItsEvents runs each operation through the store's
// real code path and checks the events its transaction appended: their
// types, order, and what their data say; and that a refused operation
// appends none.
func TestEveryChangeEmitsItsEvents(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	viewer, editor := directory.RoleViewer, directory.RoleEditor
	tests := []struct {
		name    string
		setup   func(f *fx)
		act     func(f *fx) error
		wantErr error
		want    []string
		// unordered: the events of one transaction about several users
		// come in user id order, which the test does not choose.
		unordered bool
	}{
		{name: "SCIM creates a user", act: func(f *fx) error { f.createUser("carol"); return nil },
			want: []string{"user.created carol@example.com active"}},
		{name: "SCIM changes a shown attribute", act: func(f *fx) error { return f.patch("ann", "displayName", "Ann A.") },
			want: []string{"user.updated ann@example.com active"}},
		{name: "SCIM changes an attribute the API does not show", act: func(f *fx) error { return f.patch("ann", "title", "Boss") },
			want: nil},
		{name: "SCIM deactivates and reactivates", act: func(f *fx) error {
			f.must(f.patch("ann", "active", false))
			return f.patch("ann", "active", true)
		}, want: []string{"user.deactivated ann@example.com deactivated", "user.reactivated ann@example.com active"}},
		{name: "SCIM deletes a user", act: func(f *fx) error { return f.db.DeleteUser(f.ctx, okta, f.org.ID, f.users["bob"].ID, 0) },
			want: []string{"user.removed bob@example.com removed"}},
		{name: "a SCIM create that conflicts emits nothing", act: func(f *fx) error {
			_, err := f.db.CreateUser(f.ctx, okta, directory.User{OrgID: f.org.ID, Attributes: map[string]any{"userName": "ANN@example.com"}})
			return err
		}, wantErr: directory.ErrConflict},
		{name: "a SCIM change of the break-glass owner is refused and emits nothing", act: func(f *fx) error {
			return f.db.DeleteUser(f.ctx, okta, f.org.ID, f.owner.ID, 0)
		}, wantErr: directory.ErrInvalid},
		{name: "SCIM creates a group with members", act: func(f *fx) error { f.createGroup("QA", "ann", "bob"); return nil },
			want: []string{"group.created QA", "group.member_added QA ann@example.com", "group.member_added QA bob@example.com"}},
		{name: "SCIM renames a group", act: func(f *fx) error { return f.rename("Eng", "Engineering") },
			want: []string{"group.updated Engineering"}},
		{name: "SCIM adds and removes members", act: func(f *fx) error {
			return f.members("Eng", directory.MemberChange{Add: f.ids("bob"), Remove: f.ids("ann")})
		}, want: []string{"group.member_removed Eng ann@example.com", "group.member_added Eng bob@example.com"}},
		{name: "a whole-members replace emits the net change", act: func(f *fx) error {
			return f.members("Eng", directory.MemberChange{Replace: true, Add: f.ids("ann", "bob")})
		}, want: []string{"group.member_added Eng bob@example.com"}},
		{name: "removing every member and adding one back emits the net change", act: func(f *fx) error {
			return f.members("Eng", directory.MemberChange{RemoveAll: true, Add: f.ids("ann", "bob")})
		}, want: []string{"group.member_added Eng bob@example.com"}},
		{name: "a member change naming an unknown user is refused and emits nothing", act: func(f *fx) error {
			return f.members("Eng", directory.MemberChange{Add: []string{f.users["bob"].ID, "00000000-0000-4000-8000-000000000000"}})
		}, wantErr: directory.ErrInvalid},
		{name: "SCIM deletes a group", act: func(f *fx) error { return f.db.DeleteGroup(f.ctx, okta, f.org.ID, f.groups["Eng"].ID, 0) },
			want: []string{"group.deleted Eng"}},

		{name: "a direct grant", act: func(f *fx) error { return f.grant("ann", viewer, "data") },
			want: []string{"role.granted ann@example.com data viewer<-"}},
		{name: "a mapping grants its group's members", act: func(f *fx) error {
			f.mapGroup(directory.MatchGroupDisplayName, "Eng", editor, "data")
			return nil
		}, want: []string{"role.granted ann@example.com data editor<-"}},
		{name: "a mapping by id above a direct grant raises the role", setup: func(f *fx) { f.must(f.grant("ann", viewer, "data")) },
			act:  func(f *fx) error { f.mapGroup(directory.MatchGroupID, f.groups["Eng"].ID, editor, "data"); return nil },
			want: []string{"role.granted ann@example.com data editor<viewer"}},
		{name: "a grant below the role held changes nothing", setup: func(f *fx) {
			f.mapGroup(directory.MatchGroupExternalID, "ext-Eng", editor, "data")
		}, act: func(f *fx) error { return f.grant("ann", viewer, "data") }, want: nil},
		{name: "leaving the higher of two mapped groups lowers the role in one event", setup: func(f *fx) {
			f.mapGroup(directory.MatchGroupDisplayName, "Eng", viewer, "data")
			f.mapGroup(directory.MatchGroupDisplayName, "Ops", editor, "data")
			f.must(f.members("Ops", directory.MemberChange{Add: f.ids("ann")}))
		}, act: func(f *fx) error { return f.members("Ops", directory.MemberChange{Remove: f.ids("ann")}) },
			want: []string{"group.member_removed Ops ann@example.com", "role.revoked ann@example.com data viewer<editor"}},
		{name: "joining a group no mapping names changes no role", setup: func(f *fx) { f.must(f.grant("bob", viewer, "web")) },
			act:  func(f *fx) error { return f.members("Ops", directory.MemberChange{Add: f.ids("bob")}) },
			want: []string{"group.member_added Ops bob@example.com"}},
		{name: "a rename into a mapping grants the members", setup: func(f *fx) {
			f.mapGroup(directory.MatchGroupDisplayName, "Platform", editor, "web")
			f.must(f.members("Ops", directory.MemberChange{Add: f.ids("bob")}))
		}, act: func(f *fx) error { return f.rename("Ops", "Platform") },
			want: []string{"group.updated Platform", "role.granted bob@example.com web editor<-"}},
		{name: "a rename out of a mapping revokes", setup: func(f *fx) { f.mapGroup(directory.MatchGroupDisplayName, "Eng", editor, "web") },
			act:  func(f *fx) error { return f.rename("Eng", "Engineering") },
			want: []string{"group.updated Engineering", "role.revoked ann@example.com web -<editor"}},
		{name: "a group created with members under an existing mapping", setup: func(f *fx) {
			f.mapGroup(directory.MatchGroupDisplayName, "QA", viewer, "web")
		}, act: func(f *fx) error { f.createGroup("QA", "bob"); return nil },
			want: []string{"group.created QA", "group.member_added QA bob@example.com", "role.granted bob@example.com web viewer<-"}},
		{name: "deleting a mapped group revokes its members' roles", setup: func(f *fx) {
			f.mapGroup(directory.MatchGroupDisplayName, "Eng", viewer, "web")
		}, act: func(f *fx) error { return f.db.DeleteGroup(f.ctx, okta, f.org.ID, f.groups["Eng"].ID, 0) },
			want: []string{"group.deleted Eng", "role.revoked ann@example.com web -<viewer"}},
		{name: "org-admin", act: func(f *fx) error { return f.grant("bob", directory.RoleOrgAdmin, "") },
			want: []string{"role.granted bob@example.com org org-admin<-"}},
		{name: "deleting a mapping", act: func(f *fx) error {
			b := f.mapGroup(directory.MatchGroupDisplayName, "Eng", editor, "data")
			f.drain()
			return f.db.DeleteBinding(f.ctx, admin, f.org.ID, b.ID, true)
		}, want: []string{"role.revoked ann@example.com data -<editor"}},
		{name: "the break-glass owner's binding cannot go and emits nothing", act: func(f *fx) error {
			bs, err := f.db.Bindings(f.ctx, f.org.ID, postgres.BindingFilter{UserID: f.owner.ID})
			f.must(err)
			return f.db.DeleteBinding(f.ctx, admin, f.org.ID, bs[0].ID, false)
		}, wantErr: directory.ErrConflict},
		{name: "deleting a workspace revokes every role on it", setup: func(f *fx) {
			f.must(f.grant("ann", viewer, "data"))
			f.mapGroup(directory.MatchGroupDisplayName, "Ops", editor, "data")
			f.must(f.members("Ops", directory.MemberChange{Add: f.ids("bob")}))
		}, act: func(f *fx) error { return f.db.DeleteWorkspace(f.ctx, admin, f.org.ID, f.ws["data"].ID) },
			want: []string{"role.revoked ann@example.com data -<viewer", "role.revoked bob@example.com data -<editor"}, unordered: true},
		{name: "SCIM deletes a user who had roles", setup: func(f *fx) {
			f.must(f.grant("ann", viewer, "data"))
			f.mapGroup(directory.MatchGroupDisplayName, "Eng", editor, "web")
		}, act: func(f *fx) error { return f.db.DeleteUser(f.ctx, okta, f.org.ID, f.users["ann"].ID, 0) },
			want: []string{"role.revoked ann@example.com data -<viewer", "role.revoked ann@example.com web -<editor", "user.removed ann@example.com removed"}},

		{name: "a service account's life", act: func(f *fx) error {
			sa, err := f.db.CreateServiceAccount(f.ctx, admin, f.org.ID, "ci", "builds", f.users["ann"].ID)
			f.must(err)
			_, err = f.db.SetServiceAccountEnabled(f.ctx, admin, f.org.ID, "ci", false)
			f.must(err)
			_, err = f.db.SetServiceAccountEnabled(f.ctx, admin, f.org.ID, "ci", false) // already: nothing
			f.must(err)
			_, err = f.db.SetServiceAccountEnabled(f.ctx, admin, f.org.ID, "ci", true)
			f.must(err)
			_, err = f.db.CreateBinding(f.ctx, admin, directory.Binding{OrgID: f.org.ID, Role: viewer, WorkspaceID: f.ws["data"].ID, UserID: sa.ID})
			f.must(err)
			_, err = f.db.IngestGitObservations(f.ctx, f.org.ID, []directory.GitObservation{{Provider: "github", Repo: "a/b", SHA: strings.Repeat("1", 40), Email: "ci@example.com", Role: "author"}})
			f.must(err)
			g, err := f.db.FindGitIdentity(f.ctx, f.org.ID, "github", "ci@example.com", "")
			f.must(err)
			_, err = f.db.MapGitIdentity(f.ctx, admin, f.org.ID, g.ID, sa.ID)
			f.must(err)
			return f.db.DeleteServiceAccount(f.ctx, admin, f.org.ID, "ci")
		}, want: []string{"service_account.created ci active", "service_account.disabled ci deactivated", "service_account.enabled ci active",
			"role.granted ci data viewer<-", "git_identity.mapped ci@example.com ci",
			"role.revoked ci data -<viewer", "git_identity.unmapped ci@example.com -", "service_account.deleted ci removed"}},
		{name: "Git identities map once and unmap", act: func(f *fx) error {
			_, err := f.db.IngestGitObservations(f.ctx, f.org.ID, []directory.GitObservation{{Provider: "github", Repo: "a/b", SHA: strings.Repeat("2", 40), Email: "ann@home.example", Role: "author"}})
			f.must(err)
			g, err := f.db.FindGitIdentity(f.ctx, f.org.ID, "github", "ann@home.example", "")
			f.must(err)
			for range 2 { // the second is idempotent: no event
				_, err = f.db.MapGitIdentity(f.ctx, admin, f.org.ID, g.ID, f.users["ann"].ID)
				f.must(err)
			}
			f.must(f.db.UnmapGitIdentity(f.ctx, admin, f.org.ID, g.ID))
			return f.db.UnmapGitIdentity(f.ctx, admin, f.org.ID, g.ID) // not mapped: nothing
		}, want: []string{"git_identity.mapped ann@home.example ann@example.com", "git_identity.unmapped ann@home.example -"}},
		{name: "an invitation is created, accepted with its grant, and its member removed", act: func(f *fx) error {
			inv, err := f.db.CreateInvitation(f.ctx, admin, f.org.ID, "dan@example.com", false,
				[]directory.Binding{{OrgID: f.org.ID, Role: editor, WorkspaceID: f.ws["web"].ID}}, 0)
			f.must(err)
			_, secret, err := f.db.InvitationLink(f.ctx, admin, f.org.ID, inv.ID)
			f.must(err)
			_, member, err := f.db.AcceptInvitation(f.ctx, secret, directory.Login{Email: "dan@example.com", EmailVerified: true, Issuer: "https://idp.example", Subject: "dan"})
			f.must(err)
			_, err = f.db.RemoveMember(f.ctx, admin, f.org.ID, member.ID)
			return err
		}, want: []string{"invitation.created dan@example.com pending",
			"user.created dan@example.com active", "invitation.accepted dan@example.com accepted", "role.granted dan@example.com web editor<-",
			"role.revoked dan@example.com web -<editor", "user.removed dan@example.com removed"}},
		{name: "an invitation is revoked", act: func(f *fx) error {
			inv, err := f.db.CreateInvitation(f.ctx, admin, f.org.ID, "erin@example.com", false, nil, 0)
			f.must(err)
			return f.db.RevokeInvitation(f.ctx, admin, f.org.ID, inv.ID)
		}, want: []string{"invitation.created erin@example.com pending", "invitation.revoked erin@example.com revoked"}},
		{name: "a JIT sign-in with a mapped group, then the IdP's push adopts the user", setup: func(f *fx) {
			f.mapGroup(directory.MatchGroupDisplayName, "Data-Team", viewer, "data")
		}, act: func(f *fx) error {
			_, _, err := f.db.LinkLogin(f.ctx, f.org.ID, directory.LoginClaims{Issuer: "https://idp.example", Subject: "eve",
				Email: "eve@example.com", EmailVerified: true, Groups: []string{"Data-Team"}}, directory.JITPolicy{Mode: directory.JITAny})
			f.must(err)
			// The same groups again: nothing changes.
			_, _, err = f.db.LinkLogin(f.ctx, f.org.ID, directory.LoginClaims{Issuer: "https://idp.example", Subject: "eve",
				Email: "eve@example.com", EmailVerified: true, Groups: []string{"Data-Team"}}, directory.JITPolicy{Mode: directory.JITAny})
			f.must(err)
			f.createUser("eve")
			return nil
		}, want: []string{"user.created eve@example.com active", "role.granted eve@example.com data viewer<-",
			"user.updated eve@example.com active", "role.revoked eve@example.com data -<viewer"}},
		{name: "the reconciler maps an identity and creates a declared account", act: func(f *fx) error {
			_, err := f.db.IngestGitObservations(f.ctx, f.org.ID, []directory.GitObservation{{Provider: "github", Repo: "a/b", SHA: strings.Repeat("3", 40), Email: "bob@example.com", Role: "author"}})
			f.must(err)
			g, err := f.db.FindGitIdentity(f.ctx, f.org.ID, "github", "bob@example.com", "")
			f.must(err)
			s, err := f.db.LockReconcile(f.ctx)
			for errors.Is(err, postgres.ErrReconcileLocked) { // another test's run
				time.Sleep(10 * time.Millisecond)
				s, err = f.db.LockReconcile(f.ctx)
			}
			f.must(err)
			defer s.Close()
			rec := directory.Actor{Kind: "system", Name: "reconciler"}
			if n, err := s.AutoMap(f.ctx, rec, f.org.ID, []postgres.AutoMapping{{IdentityID: g.ID, UserID: f.users["bob"].ID, Reason: "email"}}); err != nil || n != 1 {
				f.t.Fatalf("automap %d %v", n, err)
			}
			_, err = s.ApplyDeclaredAccount(f.ctx, rec, f.org.ID, postgres.DeclaredAccount{Name: "deploy",
				AddBindings: []postgres.DeclaredBinding{{Role: viewer, WorkspaceID: f.ws["web"].ID}}})
			return err
		}, want: []string{"git_identity.mapped bob@example.com bob@example.com", "service_account.created deploy active", "role.granted deploy web viewer<-"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFx(t, db, fmt.Sprintf("org%d", i))
			if tt.setup != nil {
				tt.setup(f)
				f.drain()
			}
			err := tt.act(f)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			var got []string
			for _, e := range f.drain() {
				got = append(got, describe(t, e))
				if e.OrgID != f.org.ID || e.ResourceID == "" || e.OccurredAt.IsZero() || e.Actor.Kind == "" {
					t.Errorf("event envelope %+v", e)
				}
			}
			want := tt.want
			if tt.unordered {
				got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
			}
			if !slices.Equal(got, want) {
				t.Fatalf("events\n got  %q\n want %q", got, want)
			}
		})
	}
}

func TestCreatingAnOrganizationEmitsItsOwnerAndTheirRole(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	f := &fx{t: t, ctx: context.Background(), db: db}
	var err error
	if f.org, err = db.CreateOrganization(f.ctx, "acme", ""); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range f.drain() {
		got = append(got, describe(t, e)+" by "+e.Actor.String())
	}
	want := []string{"user.created break-glass-owner active by system:org-create", "role.granted break-glass-owner org org-admin<- by system:org-create"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// sameJSON compares two JSON documents as values (the store keeps data as
// jsonb, whose key order is its own).
func sameJSON(t *testing.T, a []byte, b any) {
	t.Helper()
	bb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(bb, &y); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(x, y) {
		t.Fatalf("event data\n %s\nwant the API's\n %s", a, bb)
	}
}

// The data of an event is the resource as the admin API renders it. The
// create path renders part of it in SQL (id and times, in one statement
// with the insert), which must agree with Go's rendering for people and
// for service accounts.
func TestEventDataIsTheResourceAsTheAPIRendersIt(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	f := newFx(t, db, "acme")
	for _, name := range []string{"t1", "t2", "t3"} {
		u := f.createUser(name)
		e := f.drain()
		if len(e) != 1 || e[0].ResourceID != u.ID || e[0].ResourceType != directory.ResourceUser {
			t.Fatalf("events %+v", e)
		}
		got, err := db.Member(f.ctx, f.org.ID, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, e[0].Data, resource.RenderUser(got))
	}
	sa, err := db.CreateServiceAccount(f.ctx, admin, f.org.ID, "ci", "builds", f.users["ann"].ID)
	if err != nil {
		t.Fatal(err)
	}
	e := f.drain()
	if len(e) != 1 || e[0].Type != directory.EventServiceAccountCreated || e[0].ResourceType != directory.ResourceServiceAccount {
		t.Fatalf("events %+v", e)
	}
	sameJSON(t, e[0].Data, resource.RenderServiceAccount(sa, map[string]string{f.users["ann"].ID: "ann@example.com"}))
}

// SQL renders a time as encoding/json renders it in UTC, whatever the
// session's time zone: the fraction trimmed of trailing zeros, none when
// it is zero.
func TestSQLRendersTimesAsGoDoes(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET TIME ZONE 'Asia/Kolkata'`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET TIME ZONE`) //nolint:errcheck
	for _, at := range []time.Time{
		time.Date(2026, 12, 8, 10, 11, 12, 123400000, time.UTC),
		time.Date(2026, 12, 8, 10, 11, 12, 0, time.UTC),
		time.Date(2026, 12, 8, 10, 11, 12, 1000, time.UTC),
		time.Date(2026, 12, 8, 10, 11, 12, 100000000, time.FixedZone("x", -7*3600)),
		time.Date(1999, 1, 2, 23, 59, 59, 999999000, time.UTC),
	} {
		var got string
		if err := conn.QueryRow(ctx, postgres.SQLRFC3339ForTest("$1::timestamptz"), at).Scan(&got); err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(at.UTC())
		if `"`+got+`"` != string(want) {
			t.Errorf("%v: SQL %s, Go %s", at, got, want)
		}
	}
}

// TestRoleEventsChainUnderConcurrentChanges changes the memberships of a
// few users in mapped groups, their direct grants and a mapping, from
// many goroutines at once. Every role event's previousRole must be the
// role of the event before it for that user and scope, starting from
// none, and the last one must be the role the user has in the end: a
// consumer that applies the events holds the truth. Without the locks
// that order the before/after reads, two changes of one user read the
// same "before" and the chain breaks.
func TestRoleEventsChainUnderConcurrentChanges(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	f := newFx(t, db, "acme")
	ctx := f.ctx
	roles := []directory.Role{directory.RoleViewer, directory.RoleRunner, directory.RoleEditor, directory.RoleWorkspaceAdmin}
	var groups []string
	for i, r := range roles {
		name := fmt.Sprintf("G%d", i)
		f.groups[name] = f.createGroup(name)
		f.mapGroup(directory.MatchGroupID, f.groups[name].ID, r, "data")
		groups = append(groups, name)
	}
	for _, name := range []string{"cat", "dan"} {
		f.users[name] = f.createUser(name)
	}
	users := []string{"ann", "bob", "cat", "dan"}
	f.must(f.members("Eng", directory.MemberChange{RemoveAll: true})) // everyone starts with no role
	f.drain()

	const writers, rounds = 8, 30
	errs := make(chan error, writers*rounds)
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range rounds {
				// Writers mostly on different groups, all on two users:
				// changes of one user's roles meet often.
				u := users[(i/2)%2]
				g := groups[(w+i/5)%len(groups)]
				var err error
				switch (w + i) % 5 {
				case 0, 1:
					err = f.members(g, directory.MemberChange{Add: f.ids(u)})
				case 2, 3:
					err = f.members(g, directory.MemberChange{Remove: f.ids(u)})
				default:
					// A direct grant, then its removal.
					var b directory.Binding
					b, err = db.CreateBinding(ctx, admin, directory.Binding{OrgID: f.org.ID, Role: directory.RoleRunner, WorkspaceID: f.ws["data"].ID, UserID: f.users[u].ID})
					if err == nil {
						err = db.DeleteBinding(ctx, admin, f.org.ID, b.ID, false)
					} else if errors.Is(err, directory.ErrConflict) {
						err = nil // another writer's grant of the same
					}
				}
				if err != nil {
					errs <- fmt.Errorf("writer %d round %d: %w", w, i, err)
				}
			}
		}()
	}
	// A mapping deleted and made again meanwhile: exclusive changes.
	for range 5 {
		bs, err := db.Bindings(ctx, f.org.ID, postgres.BindingFilter{Groups: true})
		f.must(err)
		f.must(db.DeleteBinding(ctx, admin, f.org.ID, bs[0].ID, true))
		_, err = db.CreateBinding(ctx, admin, bs[0])
		f.must(err)
	}
	for range writers {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	last := map[string]string{} // user → role (data only has this workspace)
	n := 0
	for _, e := range f.drain() {
		if !strings.HasPrefix(e.Type, "role.") {
			continue
		}
		n++
		var d resource.RoleChange
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		prev, now := "", ""
		if d.PreviousRole != nil {
			prev = *d.PreviousRole
		}
		if d.Role != nil {
			now = *d.Role
		}
		if prev != last[d.User.ID] {
			t.Fatalf("event %s of %s: previousRole %q, but the event before said %q", e.EventID(), d.User.UserName, prev, last[d.User.ID])
		}
		last[d.User.ID] = now
	}
	for _, u := range users {
		acc, err := db.Access(ctx, f.org.ID, f.users[u].ID)
		f.must(err)
		want := ""
		if r := acc.RoleOn(f.ws["data"].ID); r != directory.RoleNone {
			want = r.String()
		}
		if last[f.users[u].ID] != want {
			t.Errorf("%s: the events end at %q, the user is %q", u, last[f.users[u].ID], want)
		}
	}
	t.Logf("%d role events", n)
	if n < 20 {
		t.Fatalf("only %d role events: the test did not exercise the chain", n)
	}
}

func TestSSOLoginIsAnEventOnlyWhenOptedIn(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	f := newFx(t, db, "acme")
	login := func(db *postgres.DB, email string) error {
		_, _, err := db.LinkLogin(f.ctx, f.org.ID, directory.LoginClaims{Issuer: "https://idp.example", Subject: email,
			Email: email, EmailVerified: true}, directory.JITPolicy{Mode: directory.JITAny})
		return err
	}
	f.must(login(db, "ann@example.com"))
	if got := f.drain(); len(got) != 0 {
		t.Fatalf("a sign-in by default: %d events, want none", len(got))
	}
	on := postgres.New(db.Pool, nil)
	on.SetSSOLoginEvents(true)
	f.must(login(on, "ann@example.com"))                                              // a login seen before
	f.must(login(on, "bob@example.com"))                                              // first login of a provisioned user
	f.must(login(on, "new@example.com"))                                              // a user created for it
	f.must(f.patch("bob", "active", false))                                           // then bob is deactivated:
	if err := login(on, "bob@example.com"); !errors.Is(err, directory.ErrForbidden) { // refused
		t.Fatalf("a deactivated user's sign-in: %v", err)
	}
	var got []string
	for _, e := range f.drain() {
		got = append(got, describe(t, e))
	}
	want := []string{"sso.login ann@example.com link", "sso.login bob@example.com email", "user.created new@example.com active",
		"sso.login new@example.com jit", "user.deactivated bob@example.com deactivated"}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n got  %q\n want %q", got, want)
	}
}
