package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// deliverAll sends every due mail of the outbox and returns the
// invitation secrets by invitation id, as the mailer would mail them.
func deliverAll(t *testing.T, tn *tenant) map[string]string {
	t.Helper()
	secrets := map[string]string{}
	for {
		found, err := tn.db.DeliverNext(context.Background(), func(_ context.Context, inv directory.Invitation, secret string) error {
			secrets[inv.ID] = secret
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			return secrets
		}
	}
}

// An invitation is created with its initial roles, listed with its state
// and never a token, sent again, revoked; once accepted, its address is a
// member's and inviting it again is 409 naming the member.
func TestInvitationLifecycle(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ctx := context.Background()
	ws := tn.workspace("data-eng")

	start := time.Now()
	r := tn.do("POST", "/invitations", map[string]any{"email": "New@Acme.test", "expiresIn": "48h",
		"bindings": []any{map[string]any{"role": "editor", "workspace": "data-eng"}, map[string]any{"role": "org-admin"}}})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	inv := r.object(t)
	id := str(inv["id"])
	if r.header.Get("Location") != tn.url("/invitations/"+id) {
		t.Fatalf("Location %q", r.header.Get("Location"))
	}
	if inv["state"] != "pending" || inv["email"] != "New@Acme.test" || inv["anyEmail"] != false || inv["acceptedBy"] != nil ||
		inv["invitedBy"] != "api-token:t (break-glass-owner)" {
		t.Fatalf("created invitation %v", inv)
	}
	exp, err := time.Parse(time.RFC3339, str(inv["expiresAt"]))
	if err != nil || exp.Before(start.Add(47*time.Hour)) || exp.After(time.Now().Add(49*time.Hour)) {
		t.Fatalf("expiresAt %v, want in 48 hours", inv["expiresAt"])
	}
	bs := inv["bindings"].([]any)
	if len(bs) != 2 || bs[0].(map[string]any)["role"] != "editor" || bs[0].(map[string]any)["workspace"].(map[string]any)["name"] != "data-eng" ||
		bs[0].(map[string]any)["workspace"].(map[string]any)["id"] != ws.ID || bs[1].(map[string]any)["role"] != "org-admin" || bs[1].(map[string]any)["workspace"] != nil {
		t.Fatalf("initial bindings %v", bs)
	}

	other := tn.must(201, "POST", "/invitations", map[string]any{"email": "other@acme.test", "anyEmail": true})
	exp, _ = time.Parse(time.RFC3339, str(other["expiresAt"]))
	if d := exp.Sub(start); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour+time.Minute {
		t.Fatalf("default expiry in %v, want 7 days", d)
	}
	p := problem(t, tn.do("POST", "/invitations", map[string]any{"email": "new@acme.test"}), 409, "conflict")
	if !strings.Contains(str(p["detail"]), "pending invitation") {
		t.Fatalf("detail %q", p["detail"])
	}

	tn.must(202, "POST", "/invitations/"+id+"/resend", nil)
	mails, err := tn.db.Outbox(ctx, tn.id)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(mails); n != 3 {
		t.Fatalf("%d mails queued, want 3 (two invitations, one resend)", n)
	}
	tn.must(204, "DELETE", "/invitations/"+str(other["id"]), nil)

	lists := []struct {
		query  string
		emails []string
		states []string
	}{
		{"", []string{"other@acme.test", "New@Acme.test"}, []string{"revoked", "pending"}},
		{"?pending=true", []string{"New@Acme.test"}, []string{"pending"}},
		{"?pending=false&limit=1&offset=1", []string{"New@Acme.test"}, []string{"pending"}},
	}
	for _, c := range lists {
		t.Run("list"+c.query, func(t *testing.T) {
			r := tn.in(t).do("GET", "/invitations"+c.query, nil)
			if r.status != 200 || strings.Contains(string(r.body), `"token"`) || strings.Contains(string(r.body), directory.InvitationTokenPrefix) {
				t.Fatalf("list: %d %s", r.status, r.body)
			}
			l := r.object(t)
			if got := names(t, l, "email"); !slices.Equal(got, c.emails) {
				t.Fatalf("emails %q, want %q", got, c.emails)
			}
			if got := names(t, l, "state"); !slices.Equal(got, c.states) {
				t.Fatalf("states %q, want %q", got, c.states)
			}
		})
	}

	// Not pending any more: neither sent again nor revoked.
	problem(t, tn.do("POST", "/invitations/"+str(other["id"])+"/resend", nil), 409, "conflict")
	problem(t, tn.do("DELETE", "/invitations/"+str(other["id"]), nil), 409, "conflict")
	problem(t, tn.do("DELETE", "/invitations/00000000-0000-0000-0000-000000000000", nil), 404, "not-found")
	problem(t, tn.do("POST", "/invitations/nope/resend", nil), 404, "not-found")

	// Accepted (the OIDC issue's route will do this), it is a membership
	// with its initial roles, and the address is a member's.
	secret := deliverAll(t, tn)[id]
	if secret == "" {
		t.Fatal("the pending invitation was not mailed")
	}
	_, member, err := tn.db.AcceptInvitation(ctx, secret, directory.Login{Email: "new@acme.test", EmailVerified: true})
	if err != nil {
		t.Fatal(err)
	}
	l := tn.must(200, "GET", "/invitations", nil)
	acc := l["items"].([]any)[1].(map[string]any)
	if acc["state"] != "accepted" || acc["acceptedAt"] == nil || acc["acceptedBy"].(map[string]any)["userName"] != member.UserName {
		t.Fatalf("accepted invitation %v", acc)
	}
	if d := tn.authorize(member.ID, "pipes.edit", "data-eng"); d["allowed"] != true {
		t.Fatalf("the initial binding did not apply: %v", d)
	}
	p = problem(t, tn.do("POST", "/invitations", map[string]any{"email": "NEW@acme.test"}), 409, "conflict")
	if d := str(p["detail"]); !strings.Contains(d, "already a member") || !strings.Contains(d, member.UserName) {
		t.Fatalf("detail %q does not name the member", d)
	}

	audit := names(t, tn.must(200, "GET", "/audit?resourceType=Invitation&resourceId="+id, nil), "action")
	if want := []string{"invitation.accept", "invitation.resend", "invitation.create"}; !slices.Equal(audit, want) {
		t.Fatalf("audited %q, want %q", audit, want)
	}
}

// Inviting an address that is a member's already is 409 naming the
// member, whatever the member's source and however the address is
// spelled; nothing is queued.
func TestInvitingAMemberIsAConflict(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.scimUser("alice@acme.test")
	tn.user("jit@acme.test", directory.SourceJIT)
	cases := []struct {
		name, email, member string
	}{
		{"an IdP user", "alice@acme.test", "alice@acme.test"},
		{"another case", "ALICE@Acme.Test", "alice@acme.test"},
		{"a JIT user", "jit@acme.test", "jit@acme.test"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := problem(t, tn.in(t).do("POST", "/invitations", map[string]any{"email": c.email}), 409, "conflict")
			if d := str(p["detail"]); !strings.Contains(d, "already a member: "+c.member) {
				t.Fatalf("detail %q does not name %s", d, c.member)
			}
		})
	}
	if l := tn.must(200, "GET", "/invitations", nil); l["total"] != float64(0) {
		t.Fatalf("invitations stored: %v", l)
	}
}

// Bad invitations are 400 (404 for an unknown workspace) and store
// nothing.
func TestInvitationRequestsAreValidated(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.workspace("w")
	grant := func(role, ws string) map[string]any {
		g := map[string]any{"role": role}
		if ws != "" {
			g["workspace"] = ws
		}
		return map[string]any{"email": "x@acme.test", "bindings": []any{map[string]any{"role": "viewer", "workspace": "w"}, g}}
	}
	cases := []struct {
		name   string
		body   any
		status int
		typ    string
		detail string
	}{
		{"no email", map[string]any{}, 400, "invalid", "email is required"},
		{"not an address", map[string]any{"email": "nobody"}, 400, "invalid", "not an email address"},
		{"a display name", map[string]any{"email": "X <x@acme.test>"}, 400, "invalid", "not an email address"},
		{"a domain without a dot (a typo)", map[string]any{"email": "dave@acme"}, 400, "invalid", `"dave@acme" has no domain a mail can reach (want a name like acme.com)`},
		{"an empty domain label", map[string]any{"email": "dave@acme..com"}, 400, "invalid", "not an email address"},
		{"a trailing dot", map[string]any{"email": "dave@acme.com."}, 400, "invalid", ""},
		{"an address literal", map[string]any{"email": "dave@[10.0.0.1]"}, 400, "invalid", ""},
		{"a bad role", grant("god", ""), 400, "invalid", "initial role 2 of 2: role"},
		{"org-admin on a workspace", grant("org-admin", "w"), 400, "invalid", "initial role 2 of 2: org-admin is granted on the organization"},
		{"a workspace role without one", grant("runner", ""), 400, "invalid", "initial role 2 of 2: runner is granted on a workspace"},
		{"the only role, without its workspace", map[string]any{"email": "x@acme.test", "bindings": []any{map[string]any{"role": "viewer"}}}, 400, "invalid", "the initial role: viewer is granted on a workspace"},
		{"an unknown workspace", grant("runner", "nope"), 404, "not-found", "nope"},
		{"a bad lifetime", map[string]any{"email": "x@acme.test", "expiresIn": "soon"}, 400, "invalid", "duration"},
		{"an unknown field", map[string]any{"email": "x@acme.test", "role": "viewer"}, 400, "invalid", `unknown field "role"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := problem(t, tn.in(t).do("POST", "/invitations", c.body), c.status, c.typ)
			if !strings.Contains(str(p["detail"]), c.detail) || strings.Contains(str(p["detail"]), "bindings[") {
				t.Fatalf("detail %q does not contain %q (or names a JSON path)", p["detail"], c.detail)
			}
		})
	}
	problem(t, tn.do("GET", "/invitations?pending=yes", nil), 400, "invalid")
	if l := tn.must(200, "GET", "/invitations", nil); l["total"] != float64(0) {
		t.Fatalf("invitations stored: %v", l)
	}
	if mails, err := tn.db.Outbox(context.Background(), tn.id); err != nil || len(mails) != 0 {
		t.Fatalf("mails queued: %v %v", mails, err)
	}
}

// The Org → Users list shows pending invitations as users of status
// invited, first, paged as one list with the members; a removed member's
// address may be invited again.
func TestUsersListShowsInvitedPeople(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.scimUser("ann@acme.test")
	gone := tn.user("gone@acme.test", directory.SourceJIT)
	tn.must(204, "DELETE", "/users/"+gone.ID, nil)
	inv := tn.must(201, "POST", "/invitations", map[string]any{"email": "Zed@acme.test"})
	tn.must(201, "POST", "/invitations", map[string]any{"email": "gone@acme.test"}) // removed: no 409
	revoked := tn.must(201, "POST", "/invitations", map[string]any{"email": "rev@acme.test"})
	tn.must(204, "DELETE", "/invitations/"+str(revoked["id"]), nil)

	cases := []struct {
		name, query string
		users       []string
		statuses    []string
		total       int
	}{
		{"everyone, invitations first", "", []string{"gone@acme.test", "Zed@acme.test", "break-glass-owner", "ann@acme.test", "gone@acme.test"},
			[]string{"invited", "invited", "active", "active", "removed"}, 5},
		{"invited only", "?status=invited", []string{"gone@acme.test", "Zed@acme.test"}, []string{"invited", "invited"}, 2},
		{"search applies to invitations", "?search=zed", []string{"Zed@acme.test"}, []string{"invited"}, 1},
		{"a page across the two parts", "?offset=1&limit=2", []string{"Zed@acme.test", "break-glass-owner"}, []string{"invited", "active"}, 5},
		{"a page of members only", "?offset=3&limit=5", []string{"ann@acme.test", "gone@acme.test"}, []string{"active", "removed"}, 5},
		{"another source leaves invitations out", "?source=scim", []string{"ann@acme.test"}, []string{"active"}, 1},
		{"active leaves invitations out", "?status=active", []string{"break-glass-owner", "ann@acme.test"}, []string{"active", "active"}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := tn.must(200, "GET", "/users"+c.query, nil)
			if got := names(t, l, "userName"); !slices.Equal(got, c.users) {
				t.Fatalf("users %q, want %q", got, c.users)
			}
			if got := names(t, l, "status"); !slices.Equal(got, c.statuses) {
				t.Fatalf("statuses %q, want %q", got, c.statuses)
			}
			if l["total"] != float64(c.total) {
				t.Fatalf("total %v, want %d", l["total"], c.total)
			}
		})
	}
	l := tn.must(200, "GET", "/users?search=zed", nil)
	u := l["items"].([]any)[0].(map[string]any)
	if u["id"] != "" || u["source"] != "invitation" || u["invitation"].(map[string]any)["id"] != inv["id"] {
		t.Fatalf("invited user %v", u)
	}
	problem(t, tn.do("GET", "/users?status=pending", nil), 400, "invalid")
}

// A grant on a workspace deleted after the invitation was sent is dropped
// at acceptance; the rest of the invitation still applies.
func TestInvitationGrantOnADeletedWorkspaceIsDropped(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ctx := context.Background()
	ws := tn.workspace("gone")
	keep := tn.workspace("kept")
	inv := tn.must(201, "POST", "/invitations", map[string]any{"email": "new@acme.test",
		"bindings": []any{map[string]any{"role": "editor", "workspace": "gone"}, map[string]any{"role": "viewer", "workspace": "kept"}}})
	tn.must(204, "DELETE", "/workspaces/"+ws.ID, nil)
	secret := deliverAll(t, tn)[str(inv["id"])]
	_, member, err := tn.db.AcceptInvitation(ctx, secret, directory.Login{Email: "new@acme.test", EmailVerified: true})
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	if d := tn.authorize(member.ID, "pipes.view", keep.ID); d["allowed"] != true {
		t.Fatalf("the remaining grant did not apply: %v", d)
	}
}
