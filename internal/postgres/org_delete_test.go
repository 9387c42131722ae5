package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// populate gives an organization rows in every table the service writes,
// through the store as the adapters write them, and returns it.
func populate(t *testing.T, db *postgres.DB, slug string) directory.Organization {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("populate %s: %v", slug, err)
		}
	}
	idp := directory.Actor{Kind: "scim-token", Name: "idp"}
	org, err := db.CreateOrganization(ctx, slug, "") // users, role_bindings, audit_events
	must(err)
	person := func(name string) directory.User {
		t.Helper()
		u, err := db.CreateUser(ctx, idp, directory.User{OrgID: org.ID, ExternalID: "ext-" + name, // user_counts
			Attributes: map[string]any{"userName": name, "active": true, "emails": []any{map[string]any{"value": name, "primary": true}}}})
		must(err)
		return u
	}
	ann, bob := person("ann@"+slug+".test"), person("bob@"+slug+".test")
	_, err = db.CreateGroup(ctx, idp, directory.Group{OrgID: org.ID, DisplayName: "Data", ExternalID: "ext-data", Attributes: map[string]any{}},
		directory.MemberChange{Add: []string{ann.ID, bob.ID}}) // groups, group_members
	must(err)
	ws, err := db.CreateWorkspace(ctx, tester, org.ID, "data", []directory.Target{{Cluster: "prod", Namespace: slug}}) // workspaces, workspace_targets
	must(err)
	_, err = db.CreateBinding(ctx, tester, directory.Binding{OrgID: org.ID, Role: directory.RoleEditor, WorkspaceID: ws.ID, UserID: ann.ID})
	must(err)
	_, _, err = db.CreateSCIMToken(ctx, org.ID, "okta", 0) // scim_tokens
	must(err)
	_, _, err = db.CreateAPIToken(ctx, tester, org.ID, ann.ID, "ci", 0) // api_tokens
	must(err)
	_, err = db.CreateInvitation(ctx, tester, org.ID, "new@"+slug+".test", false, nil, 0) // invitations, outbox
	must(err)
	_, err = db.CreateServiceAccount(ctx, tester, org.ID, "robot", "", "")
	must(err)
	ingest(t, db, org, obs(slug+"/repo", sha1, "ann@"+slug+".test", "ann")) // git_identities, git_identity_repos, git_commits
	ids, _, err := db.GitIdentities(ctx, org.ID, postgres.GitIdentityQuery{Limit: 10})
	must(err)
	_, err = db.MapGitIdentity(ctx, tester, org.ID, ids[0].ID, ann.ID)
	must(err)
	_, _, err = db.CreateBreakGlassLink(ctx, tester, org.ID) // breakglass_links
	must(err)
	must(db.SetWebhookSecret(ctx, tester, org.ID, "github", []byte("sealed"), false)) // webhook_secrets
	_, _, err = db.IngestWebhookDelivery(ctx, org.ID, postgres.WebhookDelivery{Provider: "github", ID: "d-1", Body: []byte(slug)},
		[]directory.GitObservation{obs(slug+"/repo", sha2, "bob@"+slug+".test", "bob")}) // webhook_deliveries
	must(err)
	_, err = db.SetIdPSettings(ctx, tester, directory.IdPSettings{OrgID: org.ID, Issuer: "https://idp.example/" + slug, ClientID: "c",
		ClientSecretSealed: []byte("sealed"), JIT: directory.JITPolicy{Mode: directory.JITAny}}) // idp_settings
	must(err)
	u, _, err := db.LinkLogin(ctx, org.ID, directory.LoginClaims{Issuer: "https://idp.example/" + slug, Subject: "s-1",
		Email: "jit@" + slug + ".test", EmailVerified: true, Groups: []string{"Data"}}, directory.JITPolicy{Mode: directory.JITAny}) // user_links, login_groups
	must(err)
	_, err = db.CreateSession(ctx, org.ID, u.ID, time.Hour) // sessions
	must(err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO reconcile_runs (org_id, started_at, finished_at, outcome) VALUES ($1, now(), now(), 'ok')`, org.ID)
	must(err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO reconcile_conflicts (org_id, kind, identity_id, detail) VALUES ($1, 'ambiguous-email', $2, 'x')`, org.ID, ids[0].ID)
	must(err)
	return org
}

// orgRowCounts counts the rows of orgID in every table with an org_id
// column, found in the catalog as DeleteOrganization finds them (but by
// a query of its own).
func orgRowCounts(t *testing.T, db *postgres.DB, orgID string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Pool.Query(ctx, `SELECT table_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name = 'org_id'
		AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, n := range names {
		var k int64
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{n}.Sanitize()+` WHERE org_id = $1`, orgID).Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[n] = k
	}
	return out
}

// Deleting an organization deletes every row of it, in every table with an
// org_id column (tables added after this code included, whether their
// foreign keys cascade or not), in one transaction, and not one row of
// another organization. It is on the operator's trail, which survives it.
func TestDeleteOrganizationRemovesEveryRowOfItAndNothingElse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	// Tables as a later migration might add them: one with no foreign key
	// at all (and a name that needs quoting), and two whose foreign keys
	// do not cascade (they refuse the deletion of a row they reference),
	// one referencing the other; and a log that a trigger writes when a
	// user is deleted, as a table of events might be written, so that the
	// sweep itself adds rows of the organization to a table it may have
	// swept already.
	if _, err := db.Pool.Exec(ctx, `
		CREATE TABLE later_parent (org_id uuid NOT NULL, id int NOT NULL, PRIMARY KEY (org_id, id));
		CREATE TABLE later_child (org_id uuid NOT NULL, parent int NOT NULL, user_id uuid NOT NULL,
			FOREIGN KEY (org_id, parent) REFERENCES later_parent (org_id, id),
			FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id));
		CREATE TABLE "Later Quoted" (org_id uuid NOT NULL, note uuid);
		CREATE TABLE later_log (org_id uuid NOT NULL, what text NOT NULL);
		CREATE FUNCTION log_user_delete() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN INSERT INTO later_log VALUES (OLD.org_id, 'user deleted'); RETURN NULL; END $$;
		CREATE TRIGGER log_user_delete AFTER DELETE ON users FOR EACH ROW EXECUTE FUNCTION log_user_delete()`); err != nil {
		t.Fatal(err)
	}
	doomed, kept := populate(t, db, "doomed"), populate(t, db, "kept")
	for _, o := range []directory.Organization{doomed, kept} {
		owner, err := db.FindMember(ctx, o.ID, postgres.BreakGlassUserName)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`INSERT INTO later_parent SELECT $1, 1 WHERE $2::uuid IS NOT NULL`, `INSERT INTO later_child VALUES ($1, 1, $2)`,
			`INSERT INTO "Later Quoted" VALUES ($1, $2)`, `INSERT INTO later_log SELECT $1, 'before' WHERE $2::uuid IS NOT NULL`} {
			if _, err := db.Pool.Exec(ctx, q, o.ID, owner.ID); err != nil {
				t.Fatal(err)
			}
		}
	}

	before := orgRowCounts(t, db, doomed.ID)
	keptBefore := orgRowCounts(t, db, kept.ID)
	var empty []string
	for name, n := range before {
		if n == 0 {
			empty = append(empty, name)
		}
	}
	slices.Sort(empty)
	// Every table of today holds rows of the organization, so that the
	// test proves their deletion; a table added later that the fixture
	// does not fill is still checked below, and named here.
	known := []string{"api_tokens", "audit_events", "breakglass_links", "git_commits", "git_identities", "git_identity_repos",
		"group_members", "groups", "idp_settings", "invitations", "login_groups", "outbox", "reconcile_conflicts", "reconcile_runs",
		"role_bindings", "scim_tokens", "sessions", "user_counts", "user_links", "users", "webhook_deliveries", "webhook_secrets",
		"workspace_targets", "workspaces", "later_parent", "later_child", "Later Quoted", "later_log"}
	for _, name := range known {
		if before[name] == 0 {
			t.Errorf("the fixture left %s without rows of the organization (%d tables with org_id)", name, len(before))
		}
	}
	if len(empty) > 0 {
		t.Logf("tables with org_id the fixture does not fill: %s", strings.Join(empty, ", "))
	}

	actor := directory.Actor{Kind: "operator-token", Name: "00000000-0000-0000-0000-00000000000b"}
	d, err := db.DeleteOrganization(ctx, actor, "doomed")
	if err != nil {
		t.Fatal(err)
	}
	// What was deleted is what the organization held, table by table,
	// and what the planted trigger wrote meanwhile: the count trigger
	// wrote nothing (migration 00031), nor anything else.
	if d.Org.ID != doomed.ID {
		t.Fatalf("deleted %+v", d.Org)
	}
	for name, n := range before {
		want := n
		if name == "later_log" {
			want += before["users"]
		}
		if d.Rows[name] != want {
			t.Errorf("deleted %d rows of %s, want %d", d.Rows[name], name, want)
		}
	}
	for name, n := range orgRowCounts(t, db, doomed.ID) {
		if n != 0 {
			t.Errorf("%s still holds %d rows of the deleted organization", name, n)
		}
	}
	if after := orgRowCounts(t, db, kept.ID); fmt.Sprint(after) != fmt.Sprint(keptBefore) {
		t.Errorf("the other organization changed:\nbefore %v\nafter  %v", keptBefore, after)
	}
	if _, err := db.Organization(ctx, "doomed"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("the organization is still there: %v", err)
	}
	if _, err := db.Organization(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	ops, err := db.OperatorAuditEvents(ctx, "doomed", 10)
	if err != nil || len(ops) != 1 || ops[0].Action != "org.delete" || ops[0].Actor != actor.String() || ops[0].OrganizationID != doomed.ID ||
		ops[0].Before["slug"] != "doomed" || ops[0].After["rows"].(map[string]any)["users"] != float64(before["users"]) {
		t.Fatalf("the operator's trail: %+v, %v", ops, err)
	}
	if _, err := db.DeleteOrganization(ctx, actor, "doomed"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("deleting it again: %v", err)
	}
	// The slug is free again.
	if _, err := db.CreateOrganization(ctx, "doomed", ""); err != nil {
		t.Fatal(err)
	}
}

// A deletion that fails part way deletes nothing and is not on the
// operator's trail.
func TestDeleteOrganizationIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name, sabotage, want string
	}{
		{"a table swept late refuses", `
			CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
			CREATE TRIGGER refuse BEFORE DELETE ON workspaces FOR EACH ROW EXECUTE FUNCTION refuse()`, "refused"},
		{"a trigger writes rows of it for ever", `
			CREATE TABLE later_log (org_id uuid NOT NULL);
			INSERT INTO later_log SELECT id FROM organizations;
			CREATE FUNCTION again() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO later_log VALUES (OLD.org_id); RETURN NULL; END $$;
			CREATE TRIGGER again AFTER DELETE ON later_log FOR EACH ROW EXECUTE FUNCTION again()`, "reappear"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.DB(t)
			doomed := populate(t, db, "doomed")
			if _, err := db.Pool.Exec(ctx, c.sabotage); err != nil {
				t.Fatal(err)
			}
			before := orgRowCounts(t, db, doomed.ID)
			if _, err := db.DeleteOrganization(ctx, operatorActor, "doomed"); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("delete: %v, want an error saying %q", err, c.want)
			}
			if after := orgRowCounts(t, db, doomed.ID); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("a failed deletion deleted rows:\nbefore %v\nafter  %v", before, after)
			}
			if _, err := db.Organization(ctx, "doomed"); err != nil {
				t.Fatal(err)
			}
			if ops, err := db.OperatorAuditEvents(ctx, "", 10); err != nil || len(ops) != 0 {
				t.Fatalf("a failed deletion is on the trail: %+v, %v", ops, err)
			}
		})
	}
	t.Run("an unknown organization", func(t *testing.T) {
		t.Parallel()
		db := pgtest.DB(t)
		if _, err := db.DeleteOrganization(ctx, operatorActor, "no-such-org"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("an unknown organization: %v", err)
		}
	})
}

// Renaming changes the display name only, audited on both trails.
func TestRenameOrganization(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	o, err := db.CreateOrganization(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, slug, to string
		want           error
	}{
		{"renamed", "acme", "Acme Corporation", nil},
		{"unicode", "acme", "Ächme ∑ 株式会社", nil},
		{"empty", "acme", "", directory.ErrInvalid},
		{"too long", "acme", strings.Repeat("é", 201), directory.ErrInvalid},
		{"a control character", "acme", "Acme\x00", directory.ErrInvalid},
		{"unknown", "nope", "Nope", directory.ErrNotFound},
	}
	for _, c := range cases {
		got, err := db.RenameOrganization(ctx, operatorActor, c.slug, c.to)
		if !errors.Is(err, c.want) || c.want == nil && (got.Name != c.to || got.Slug != "acme" || got.ID != o.ID) {
			t.Errorf("%s: %+v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if got, _ := db.Organization(ctx, "acme"); got.Name != "Ächme ∑ 株式会社" {
		t.Fatalf("stored name %q", got.Name)
	}
	evs, err := db.AuditEvents(ctx, o.ID, "Organization", o.ID)
	if err != nil || len(evs) != 3 || evs[1].Action != "org.rename" || evs[1].Before["name"] != "Acme" || evs[1].After["name"] != "Acme Corporation" {
		t.Fatalf("the organization's trail: %+v, %v", evs, err)
	}
	if ops, err := db.OperatorAuditEvents(ctx, "acme", 10); err != nil || len(ops) != 2 || ops[0].After["name"] != "Ächme ∑ 株式会社" {
		t.Fatalf("the operator's trail: %+v, %v", ops, err)
	}
}

// The list is by slug, paged, with the total.
func TestOrganizationPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	for _, s := range []string{"c", "a", "e", "b", "d"} {
		if _, err := db.CreateOrganization(ctx, s, ""); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		offset, limit int
		want          string
	}{
		{0, 100, "a,b,c,d,e"},
		{0, 2, "a,b"},
		{2, 2, "c,d"},
		{4, 2, "e"},
		{5, 2, ""},
		{0, 0, "a,b,c,d,e"}, // the default page
	}
	for _, c := range cases {
		orgs, total, err := db.OrganizationPage(ctx, c.offset, c.limit)
		var slugs []string
		for _, o := range orgs {
			slugs = append(slugs, o.Slug)
		}
		if err != nil || total != 5 || strings.Join(slugs, ",") != c.want {
			t.Errorf("offset %d limit %d: %v of %d, %v; want %s", c.offset, c.limit, slugs, total, err, c.want)
		}
	}
}
