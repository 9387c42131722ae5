package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// A SCIM create for a person who signed in first (JIT) adopts that user
// instead of failing: one user, the IdP's document, source scim, the
// groups claimed at sign-in dropped, audited with how it matched. Only a
// login whose email the IdP verified is adopted; two JIT users holding
// the pushed addresses are an administrator's call.
func TestSCIMCreateAdoptsTheUserThatSignedInFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	actor := directory.Actor{Kind: "scim-token", Name: "okta"}
	jit := func(t *testing.T, db *postgres.DB, orgID, email string, verified bool) directory.User {
		t.Helper()
		u, _, err := db.LinkLogin(ctx, orgID, directory.LoginClaims{Issuer: "https://idp.example.com", Subject: "s-" + email, Email: email,
			EmailVerified: verified, Groups: []string{"Platform-Admins"}}, directory.JITPolicy{Mode: directory.JITAny})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	push := func(userName string, emails ...string) directory.User {
		list := []any{}
		for _, e := range emails {
			list = append(list, map[string]any{"value": e})
		}
		return directory.User{ExternalID: "ext-" + userName, Attributes: map[string]any{"userName": userName, "active": true, "emails": list}}
	}
	for _, tc := range []struct {
		name      string
		jit       []string // JIT users, by verified email
		unverifed string   // a JIT user whose email was not verified
		noEmails  bool     // the JIT users hold their userName only
		push      directory.User
		adopts    string // the JIT user's email adopted; "" for a new user
		matchedBy string
		err       string // an ErrConflict containing this
	}{
		{name: "by its address as userName, ASCII case aside", jit: []string{"ann@example.com"}, push: push("Ann@Example.com"), adopts: "ann@example.com", matchedBy: "email"},
		{name: "by userName alone", jit: []string{"ann@example.com"}, noEmails: true, push: push("Ann@Example.com"), adopts: "ann@example.com", matchedBy: "userName"},
		{name: "by email", jit: []string{"ann@example.com"}, push: push("ann.okta", "ann@example.com"), adopts: "ann@example.com", matchedBy: "email"},
		{name: "nobody signed in first", push: push("ann@example.com", "ann@example.com")},
		{name: "another person signed in first", jit: []string{"bob@example.com"}, push: push("ann@example.com", "ann@example.com")},
		{name: "an unverified login holding the userName", unverifed: "ann@example.com", push: push("ann@example.com"),
			err: "did not verify"},
		{name: "an unverified login holding an email", unverifed: "ann@example.com", push: push("ann.okta", "ann@example.com")},
		{name: "two logins holding its addresses", jit: []string{"ann@example.com", "ann@corp.example"},
			push: push("ann.okta", "ann@example.com", "ann@corp.example"), err: "both have one of its addresses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.DB(t)
			org, err := db.CreateOrganization(ctx, "acme", "")
			if err != nil {
				t.Fatal(err)
			}
			before := map[string]directory.User{}
			for _, e := range tc.jit {
				before[e] = jit(t, db, org.ID, e, true)
			}
			if tc.noEmails {
				if _, err := db.Pool.Exec(ctx, `UPDATE users SET emails = '{}' WHERE org_id = $1 AND source = 'jit'`, org.ID); err != nil {
					t.Fatal(err)
				}
			}
			if tc.unverifed != "" {
				before[tc.unverifed] = jit(t, db, org.ID, tc.unverifed, false)
			}
			u := tc.push
			u.OrgID = org.ID
			got, err := db.CreateUser(ctx, actor, u)
			if tc.err != "" {
				if !errors.Is(err, directory.ErrConflict) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want a conflict saying %q", got, err, tc.err)
				}
				for _, b := range before {
					if m, err := db.Member(ctx, org.ID, b.ID); err != nil || m.Source != directory.SourceJIT || m.Version != b.Version {
						t.Fatalf("the JIT user changed: %+v, %v", m, err)
					}
				}
				return
			}
			if err != nil || got.Source != directory.SourceSCIM || got.UserName != u.Attributes["userName"] || got.ExternalID != "ext-"+got.UserName {
				t.Fatalf("created %+v, %v", got, err)
			}
			if tc.adopts == "" {
				for _, b := range before {
					if b.ID == got.ID {
						t.Fatalf("adopted %s", b.UserName)
					}
				}
				return
			}
			adopted := before[tc.adopts]
			if got.ID != adopted.ID || got.Version != adopted.Version+1 {
				t.Fatalf("created %s (version %d), want %s adopted", got.ID, got.Version, adopted.ID)
			}
			var groups int
			if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM login_groups WHERE org_id = $1 AND user_id = $2`, org.ID, got.ID).Scan(&groups); err != nil || groups != 0 {
				t.Fatalf("%d groups claimed at sign-in kept, %v", groups, err)
			}
			events, err := db.AuditEvents(ctx, org.ID, "User", got.ID)
			if err != nil {
				t.Fatal(err)
			}
			if last := events[len(events)-1]; last.Action != "user.adopt" || last.After["matchedBy"] != tc.matchedBy || last.Actor != actor.String() {
				t.Fatalf("audited %+v", last)
			}
		})
	}
}

// An IdP manages only the users it pushed: the break-glass owner is
// refused (and the attempt audited), service accounts and users of a
// sign-in are invisible to SCIM, and a write names the version it read.
func TestSCIMChangesOnlyTheUsersItManages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	idp := directory.Actor{Kind: "scim-token", Name: "okta"}
	jit, _, err := p.db.LinkLogin(ctx, p.org.ID, directory.LoginClaims{Issuer: p.issuer, Subject: "s-jo", Email: "jo@example.com"},
		directory.JITPolicy{Mode: directory.JITAny})
	if err != nil {
		t.Fatal(err)
	}
	refusals := func(action string) int {
		t.Helper()
		var n int
		if err := p.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE org_id = $1 AND action = $2 AND actor = $3`,
			p.org.ID, action, idp.String()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	create := func(name string) error {
		_, err := p.db.CreateUser(ctx, idp, directory.User{OrgID: p.org.ID, Attributes: map[string]any{"userName": name}})
		return err
	}
	for _, tc := range []struct {
		name    string
		do      func() error
		want    error
		say     string
		refusal string // the audited refusal
	}{
		{"creating the break-glass owner's userName", func() error { return create(strings.ToUpper(postgres.BreakGlassUserName)) },
			directory.ErrInvalid, "break-glass owner", "user.create.refused"},
		{"updating the break-glass owner", func() error {
			_, err := p.db.UpdateUser(ctx, idp, p.org.ID, p.owner.ID, 0, setActive(false))
			return err
		}, directory.ErrInvalid, "break-glass owner", "user.update.refused"},
		{"deleting the break-glass owner", func() error { return p.db.DeleteUser(ctx, idp, p.org.ID, p.owner.ID, 0) },
			directory.ErrInvalid, "break-glass owner", "user.delete.refused"},
		{"creating a service account's userName", func() error { return create("CI-Bot") }, directory.ErrConflict, "service account", ""},
		{"creating a taken userName", func() error { return create("ALICE@example.com") }, directory.ErrConflict, "already exists", ""},
		{"reading a service account", func() error { _, err := p.db.User(ctx, p.org.ID, p.bot.ID); return err }, directory.ErrNotFound, "", ""},
		{"reading a user of a sign-in", func() error { _, err := p.db.User(ctx, p.org.ID, jit.ID); return err }, directory.ErrNotFound, "", ""},
		{"reading another organization's user", func() error { _, err := p.db.User(ctx, p.org.ID, p.olga.ID); return err }, directory.ErrNotFound, "", ""},
		{"updating a service account", func() error {
			_, err := p.db.UpdateUser(ctx, idp, p.org.ID, p.bot.ID, 0, setActive(false))
			return err
		}, directory.ErrNotFound, "", ""},
		{"deleting a user of a sign-in", func() error { return p.db.DeleteUser(ctx, idp, p.org.ID, jit.ID, 0) }, directory.ErrNotFound, "", ""},
		{"updating a stale version", func() error {
			_, err := p.db.UpdateUser(ctx, idp, p.org.ID, p.alice.ID, p.alice.Version+1, setActive(false))
			return err
		}, directory.ErrPrecondition, "", ""},
		{"deleting a stale version", func() error { return p.db.DeleteUser(ctx, idp, p.org.ID, p.alice.ID, p.alice.Version+1) },
			directory.ErrPrecondition, "", ""},
		{"reading a user it pushed", func() error {
			u, err := p.db.User(ctx, p.org.ID, p.alice.ID)
			if err == nil && u.ID != p.alice.ID {
				return errors.New("another user")
			}
			return err
		}, nil, "", ""},
		{"updating the version it read", func() error {
			u, err := p.db.UpdateUser(ctx, idp, p.org.ID, p.alice.ID, p.alice.Version, setActive(true))
			if err == nil && u.Version != p.alice.Version {
				return errors.New("a change that changes nothing wrote a version")
			}
			return err
		}, nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := 0
			if tc.refusal != "" {
				before = refusals(tc.refusal)
			}
			err := tc.do()
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("got %v; want %v saying %q", err, tc.want, tc.say)
			}
			if tc.refusal != "" && refusals(tc.refusal) != before+1 {
				t.Fatalf("the refusal was not audited as %s", tc.refusal)
			}
		})
	}
	for _, u := range []directory.User{p.owner, p.bot, jit, p.alice} {
		m, err := p.db.Member(ctx, u.OrgID, u.ID)
		if err != nil || m.Active != u.Active || m.Version != u.Version {
			t.Errorf("%s changed: %+v, %v", u.UserName, m, err)
		}
	}
}

// CreateUser of a user of another source (kind and source given) never
// adopts a user that signed in first, by userName or by email: only an
// IdP's push turns a sign-in's user into its own.
func TestOnlyAnIdPsPushAdoptsAUserOfASignIn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	jo, _, err := p.db.LinkLogin(ctx, p.org.ID, directory.LoginClaims{Issuer: p.issuer, Subject: "s-jo", Email: "jo@example.com", EmailVerified: true},
		directory.JITPolicy{Mode: directory.JITAny})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		attrs map[string]any
		want  error // nil: a user of its own
	}{
		{"holding its userName", map[string]any{"userName": "JO@example.com"}, directory.ErrConflict},
		{"holding one of its emails", map[string]any{"userName": "jo.other", "emails": []any{map[string]any{"value": "jo@example.com"}}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := p.db.CreateUser(ctx, p.actor, directory.User{OrgID: p.org.ID, Kind: directory.KindHuman, Source: directory.SourceJIT, Attributes: tc.attrs})
			if !errors.Is(err, tc.want) || err == nil && (u.ID == jo.ID || u.Source != directory.SourceJIT) {
				t.Fatalf("got %+v, %v; want %v", u, err, tc.want)
			}
			if m, err := p.db.Member(ctx, p.org.ID, jo.ID); err != nil || m.Source != directory.SourceJIT || m.Version != jo.Version {
				t.Fatalf("the user of the sign-in changed: %+v, %v", m, err)
			}
		})
	}
}

// A SCIM delete removes the user and its memberships, and the audit
// event keeps what it was, groups included.
func TestSCIMDeleteIsAuditedWithWhatTheUserWas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := newPeople(t)
	g, err := p.db.CreateGroup(ctx, p.actor, directory.Group{OrgID: p.org.ID, DisplayName: "Data", Attributes: map[string]any{"displayName": "Data"}},
		directory.MemberChange{Add: []string{p.alice.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.db.DeleteUser(ctx, p.actor, p.org.ID, p.alice.ID, p.alice.Version); err != nil {
		t.Fatal(err)
	}
	if _, err := p.db.Member(ctx, p.org.ID, p.alice.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("still there: %v", err)
	}
	events := mustAudit(t, p, p.alice.ID)
	last := events[len(events)-1]
	groups, _ := last.Before["groups"].([]any)
	if last.Action != "user.delete" || last.Before["userName"] != "alice@example.com" || len(groups) != 1 || last.After != nil {
		t.Fatalf("audited %+v", last)
	}
	if m, _ := groups[0].(map[string]any); m["ID"] != g.ID && m["id"] != g.ID {
		t.Fatalf("audited groups %v, want %s", groups, g.ID)
	}
}
