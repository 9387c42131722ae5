package sync_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
	reconcile "github.com/scimbridge/scimbridge/sync"
)

// declaredEnv is an organization "acme" with workspaces data-eng and web.
type declaredEnv struct {
	*env
	file string
	ws   map[string]directory.Workspace
}

func newDeclaredEnv(t *testing.T) *declaredEnv {
	e := &declaredEnv{env: newEnv(t), file: filepath.Join(t.TempDir(), "service-accounts.yaml"), ws: map[string]directory.Workspace{}}
	for _, name := range []string{"data-eng", "web"} {
		w, err := e.db.CreateWorkspace(e.ctx, tester, e.org.ID, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.ws[name] = w
	}
	return e
}

func (e *declaredEnv) write(yaml string) {
	e.t.Helper()
	if err := os.WriteFile(e.file, []byte(yaml), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// runFile runs once with the file; it returns the service-accounts job
// and the run's error.
func (e *declaredEnv) runFile(dry bool) (reconcile.JobSummary, error) {
	e.t.Helper()
	sum, err := e.reconciler(reconcile.Config{ServiceAccountsFile: e.file}).RunOnce(e.ctx, e.org.Slug, dry)
	if len(sum.Orgs) != 1 {
		e.t.Fatalf("run: %v\n%s", err, sum)
	}
	return job(sum.Orgs[0], reconcile.JobServiceAccounts), err
}

func (e *declaredEnv) mustRun(dry bool) reconcile.JobSummary {
	e.t.Helper()
	j, err := e.runFile(dry)
	if err != nil || j.Error != "" {
		e.t.Fatalf("run: %v: %s", err, j.Error)
	}
	return j
}

func (e *declaredEnv) account(name string) directory.User {
	e.t.Helper()
	u, err := e.db.ServiceAccount(e.ctx, e.org.ID, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// bindings renders an account's bindings, sorted: "runner on data-eng".
func (e *declaredEnv) bindings(u directory.User) []string {
	e.t.Helper()
	list, err := e.db.Bindings(e.ctx, e.org.ID, postgres.BindingFilter{UserID: u.ID})
	if err != nil {
		e.t.Fatal(err)
	}
	names := map[string]string{}
	for n, w := range e.ws {
		names[w.ID] = n
	}
	var out []string
	for _, b := range list {
		s := b.Role.String()
		if b.WorkspaceID != "" {
			s += " on " + names[b.WorkspaceID]
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (e *declaredEnv) mapped(u directory.User) []string {
	e.t.Helper()
	list, _, err := e.db.GitIdentities(e.ctx, e.org.ID, postgres.GitIdentityQuery{UserID: u.ID})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, g := range list {
		out = append(out, g.Provider+" "+g.Email+" "+g.Login)
	}
	slices.Sort(out)
	return out
}

const declaredTables = "users role_bindings git_identities audit_events"

func (e *declaredEnv) digestAll() string {
	e.t.Helper()
	return e.digest(strings.Fields(declaredTables)...)
}

const validFile = `serviceAccounts:
  - name: ci-robot
    org: acme
    description: builds main
    bindings:
      - role: runner
        workspace: data-eng
      - role: org-admin
    gitIdentities:
      - provider: github
        email: ci@acme.example
        login: acme-ci
      - email: deploy@acme.example
  - name: docs-bot
    org: acme
`

func TestDeclaredCreatesThenRerunChangesNothing(t *testing.T) {
	e := newDeclaredEnv(t)
	// One identity was seen on a commit already; the other is new.
	seen := e.seenIn(e.org, "deploy@acme.example", "")
	e.write(validFile)
	j := e.mustRun(false)
	if j.Counts["created"] != 2 || j.Counts["bindings-added"] != 2 || j.Counts["identities-mapped"] != 2 || j.Counts["identities-created"] != 1 {
		t.Fatalf("counts %v", j.Counts)
	}
	if j.Changed != j.Planned || j.Changed != 6 {
		t.Fatalf("planned %d changed %d", j.Planned, j.Changed)
	}
	ci := e.account("ci-robot")
	if !postgres.IsDeclared(ci) || ci.Attributes["description"] != "builds main" || !ci.Active || ci.Kind != directory.KindService {
		t.Fatalf("ci-robot %+v", ci)
	}
	if got := e.bindings(ci); !slices.Equal(got, []string{"org-admin", "runner on data-eng"}) {
		t.Fatalf("bindings %v", got)
	}
	if got := e.mapped(ci); !slices.Equal(got, []string{"github ci@acme.example acme-ci", "github deploy@acme.example "}) {
		t.Fatalf("mapped %v", got)
	}
	if g := e.identity(seen.ID); g.UserID != ci.ID || g.MappedBy != reconcile.Actor.String() {
		t.Fatalf("the seen identity %+v", g)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE org_id = $1 AND actor = $2`, e.org.ID, reconcile.Actor.String()); n < 6 {
		t.Fatalf("%d audit events by the reconciler", n)
	}
	before := e.digestAll()
	j = e.mustRun(false)
	if j.Planned != 0 || j.Changed != 0 {
		t.Fatalf("rerun planned %d changed %d %v", j.Planned, j.Changed, j.Counts)
	}
	if after := e.digestAll(); after != before {
		t.Fatal("a rerun wrote rows")
	}
}

func TestDeclaredUpdatesDescriptionBindingsAndIdentities(t *testing.T) {
	e := newDeclaredEnv(t)
	e.write(validFile)
	e.mustRun(false)
	e.write(`serviceAccounts:
  - name: ci-robot
    org: acme
    description: builds everything
    bindings:
      - role: editor
        workspace: web
      - role: runner
        workspace: data-eng
    gitIdentities:
      - email: ci@acme.example
        login: acme-ci
  - name: docs-bot
    org: acme
    description: docs
`)
	j := e.mustRun(false)
	if j.Counts["updated"] != 2 || j.Counts["bindings-added"] != 1 || j.Counts["bindings-removed"] != 1 || j.Counts["identities-unmapped"] != 1 {
		t.Fatalf("counts %v", j.Counts)
	}
	ci := e.account("ci-robot")
	if ci.Attributes["description"] != "builds everything" {
		t.Fatalf("description %v", ci.Attributes["description"])
	}
	if got := e.bindings(ci); !slices.Equal(got, []string{"editor on web", "runner on data-eng"}) {
		t.Fatalf("bindings %v", got)
	}
	if got := e.mapped(ci); !slices.Equal(got, []string{"github ci@acme.example acme-ci"}) {
		t.Fatalf("mapped %v", got)
	}
	if j := e.mustRun(false); j.Planned != 0 {
		t.Fatalf("not converged: %v", j.Counts)
	}
}

func TestDeclaredAccountLeftOutIsDisabledNotDeleted(t *testing.T) {
	e := newDeclaredEnv(t)
	handMade, err := e.db.CreateServiceAccount(e.ctx, tester, e.org.ID, "hand-made", "", "")
	if err != nil {
		t.Fatal(err)
	}
	e.write(validFile)
	e.mustRun(false)
	e.write("serviceAccounts:\n  - name: ci-robot\n    org: acme\n    description: builds main\n    bindings:\n      - role: runner\n        workspace: data-eng\n      - role: org-admin\n    gitIdentities:\n      - email: ci@acme.example\n        login: acme-ci\n      - email: deploy@acme.example\n")
	j := e.mustRun(false)
	if j.Counts["disabled"] != 1 || j.Changed != 1 {
		t.Fatalf("counts %v changed %d", j.Counts, j.Changed)
	}
	docs := e.account("docs-bot")
	if docs.Active || docs.RemovedAt != nil {
		t.Fatalf("docs-bot active %v removed %v", docs.Active, docs.RemovedAt)
	}
	if hm := e.account("hand-made"); !hm.Active || hm.ID != handMade.ID {
		t.Fatal("a hand-made account was touched")
	}
	// Listed again: enabled.
	e.write(validFile)
	if j := e.mustRun(false); j.Counts["enabled"] != 1 {
		t.Fatalf("counts %v", j.Counts)
	}
	if !e.account("docs-bot").Active {
		t.Fatal("docs-bot is still disabled")
	}
	// An empty list disables every declared account.
	e.write("serviceAccounts: []\n")
	if j := e.mustRun(false); j.Counts["disabled"] != 2 {
		t.Fatalf("counts %v", j.Counts)
	}
}

func TestDeclaredDoesNotTakeOverHandMadeAccount(t *testing.T) {
	e := newDeclaredEnv(t)
	if _, err := e.db.CreateServiceAccount(e.ctx, tester, e.org.ID, "ci-robot", "mine", ""); err != nil {
		t.Fatal(err)
	}
	e.write(validFile)
	j, err := e.runFile(false)
	if err == nil || !strings.Contains(j.Error, "not created from the file") || !strings.Contains(j.Error, "line 2") {
		t.Fatalf("err %v job error %q", err, j.Error)
	}
	if ci := e.account("ci-robot"); ci.Attributes["description"] != "mine" || postgres.IsDeclared(ci) {
		t.Fatal("the hand-made account was changed")
	}
	e.account("docs-bot") // the other account was still created
}

func TestDeclaredDryRunChangesNothing(t *testing.T) {
	e := newDeclaredEnv(t)
	e.write(validFile)
	before := e.digestAll()
	j := e.mustRun(true)
	if j.Planned != 6 || j.Changed != 0 || j.Counts["created"] != 2 {
		t.Fatalf("dry: planned %d changed %d %v", j.Planned, j.Changed, j.Counts)
	}
	if e.digestAll() != before {
		t.Fatal("a dry run wrote rows")
	}
	e.mustRun(false)
	e.write("serviceAccounts: []\n")
	before = e.digestAll()
	if j := e.mustRun(true); j.Counts["disabled"] != 2 || j.Changed != 0 {
		t.Fatalf("dry: %v", j.Counts)
	}
	if e.digestAll() != before {
		t.Fatal("a dry run wrote rows")
	}
}

func TestDeclaredInvalidFileIsRejectedWhole(t *testing.T) {
	cases := []struct {
		name, file string
		want       []string // substrings of the error
	}{
		{"bad yaml", "serviceAccounts:\n  - name: a\n    org: acme: x\n", []string{"yaml:3:", "not YAML"}},
		{"empty", "", []string{"yaml:1:", "empty"}},
		{"not a list", "serviceAccounts: robot\n", []string{"yaml:1:", "want a list"}},
		{"unknown top key", "serviceAccounts: []\nrobots: []\n", []string{"yaml:2:", `unknown key "robots"`}},
		{"unknown key", "serviceAccounts:\n  - name: a\n    org: acme\n    team: bob\n", []string{"yaml:4:", `unknown key "team"`}},
		{"unknown owner", "serviceAccounts:\n  - name: a\n    org: acme\n    owner: nobody\n", []string{"yaml:4:", `owner "nobody": organization acme has no user`}},
		{"owner is a service account", "serviceAccounts:\n  - name: a\n    org: acme\n    owner: robot-x\n", []string{"yaml:4:", `owner "robot-x" is a service account`}},
		{"owner was removed", "serviceAccounts:\n  - name: a\n    org: acme\n    owner: gone\n", []string{"yaml:4:", `owner "gone" was removed`}},
		{"empty owner", "serviceAccounts:\n  - name: a\n    org: acme\n    owner: \"\"\n", []string{"yaml:4:", "owner: want the userName"}},
		{"owner of another organization", "serviceAccounts:\n  - name: a\n    org: acme\n    owner: stranger\n", []string{"yaml:4:", `owner "stranger": organization acme has no user`}},
		{"unknown role", "serviceAccounts:\n  - name: a\n    org: acme\n    bindings:\n      - role: god\n        workspace: web\n", []string{"yaml:5:", `role "god"`}},
		{"workspace needed", "serviceAccounts:\n  - name: a\n    org: acme\n    bindings:\n      - role: runner\n", []string{"yaml:5:", "name one"}},
		{"org-admin on a workspace", "serviceAccounts:\n  - name: a\n    org: acme\n    bindings:\n      - role: org-admin\n        workspace: web\n", []string{"yaml:6:", "not on a workspace"}},
		{"unknown org", "serviceAccounts:\n  - name: a\n    org: acme\n  - name: b\n    org: nowhere\n", []string{"yaml:4:", `no organization "nowhere"`}},
		{"unknown workspace", "serviceAccounts:\n  - name: a\n    org: acme\n    bindings:\n      - role: viewer\n        workspace: mobile\n", []string{"yaml:5:", `no workspace "mobile"`}},
		{"duplicate names", "serviceAccounts:\n  - name: a\n    org: acme\n  - name: A\n    org: acme\n", []string{"yaml:4:", "declared twice (also on line 2)"}},
		{"bad name", "serviceAccounts:\n  - name: a b\n    org: acme\n", []string{"yaml:2:", "no spaces"}},
		{"no name", "serviceAccounts:\n  - org: acme\n", []string{"yaml:2:", "needs a name"}},
		{"bad email", "serviceAccounts:\n  - name: a\n    org: acme\n    gitIdentities:\n      - email: not-an-email\n", []string{"yaml:5:", "not an email address"}},
		{"bad provider", "serviceAccounts:\n  - name: a\n    org: acme\n    gitIdentities:\n      - provider: svn\n        login: x\n", []string{"yaml:5:", "github or gitlab"}},
		{"identity twice", "serviceAccounts:\n  - name: a\n    org: acme\n    gitIdentities:\n      - login: x\n  - name: b\n    org: acme\n    gitIdentities:\n      - login: X\n", []string{"yaml:9:", "declared twice"}},
		{"every problem", "serviceAccounts:\n  - name: a\n    org: acme\n    color: red\n  - name: b\n    org: acme\n    bindings:\n      - role: god\n", []string{"yaml:4:", "yaml:8:"}},
	}
	e := newDeclaredEnv(t)
	if _, err := e.db.CreateServiceAccount(e.ctx, tester, e.org.ID, "robot-x", "", ""); err != nil {
		t.Fatal(err)
	}
	gone := e.member("gone", "gone@example.com")
	e.remove(gone)
	e.userIn(e.newOrg("elsewhere"), "stranger", "stranger@example.com")
	e.write(validFile)
	e.mustRun(false)
	before := e.digestAll()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The valid file's accounts are not listed in these files:
			// a file that were accepted would disable them.
			e.write(c.file)
			j, err := e.runFile(false)
			if err == nil || j.Error == "" {
				t.Fatalf("accepted: %v", j.Counts)
			}
			for _, w := range c.want {
				if !strings.Contains(j.Error, w) {
					t.Errorf("error lacks %q:\n%s", w, j.Error)
				}
			}
			if e.digestAll() != before {
				t.Fatal("an invalid file changed rows")
			}
		})
	}
}

// owner returns the id and display of an account's owner attribute.
func owner(u directory.User) (string, string) {
	m, _ := u.Attributes[postgres.OwnerAttr].(map[string]any)
	id, _ := m["value"].(string)
	display, _ := m["display"].(string)
	return id, display
}

func TestDeclaredOwnerIsSetChangedAndRemoved(t *testing.T) {
	e := newDeclaredEnv(t)
	ann := e.member("ann", "ann@example.com")
	bob := e.user("bob", "bob@example.com")
	file := func(owner string) string {
		f := "serviceAccounts:\n  - name: ci-robot\n    org: acme\n    description: builds main\n"
		if owner != "" {
			f += "    owner: " + owner + "\n"
		}
		return f
	}
	steps := []struct {
		name      string
		owner     string // as written in the file
		wantID    string
		wantShown string
		counts    map[string]int
	}{
		{"created with an owner", "ANN", ann.ID, "ann", map[string]int{"created": 1}},
		{"owner changed", "bob", bob.ID, "bob", map[string]int{"updated": 1}},
		{"owner removed from the file", "", "", "", map[string]int{"updated": 1}},
		{"owner set again", "ann", ann.ID, "ann", map[string]int{"updated": 1}},
	}
	for _, st := range steps {
		e.write(file(st.owner))
		j := e.mustRun(false)
		for k, v := range st.counts {
			if j.Counts[k] != v || j.Changed != 1 {
				t.Fatalf("%s: counts %v changed %d", st.name, j.Counts, j.Changed)
			}
		}
		ci := e.account("ci-robot")
		if id, shown := owner(ci); id != st.wantID || shown != st.wantShown || postgres.ServiceAccountOwner(ci) != st.wantID {
			t.Fatalf("%s: owner %q (%q), want %q (%q)", st.name, id, shown, st.wantID, st.wantShown)
		}
		if ci.Attributes["description"] != "builds main" {
			t.Fatalf("%s: description %v", st.name, ci.Attributes["description"])
		}
		if j := e.mustRun(false); j.Planned != 0 {
			t.Fatalf("%s: not converged: %v", st.name, j.Counts)
		}
	}
	// Stored as the API and the CLI store it.
	byHand, err := e.db.CreateServiceAccount(e.ctx, tester, e.org.ID, "by-hand", "", ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	hid, hshown := owner(byHand)
	if id, shown := owner(e.account("ci-robot")); id != hid || shown != hshown {
		t.Fatalf("declared owner %q %q, by hand %q %q", id, shown, hid, hshown)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE org_id = $1 AND action = 'sa.update' AND actor = $2`, e.org.ID, reconcile.Actor.String()); n != 3 {
		t.Fatalf("%d sa.update audit events, want 3", n)
	}
}

// failIdentity makes the store fail when the identity with this email is
// created: a crash in the middle of an account's change.
func (e *declaredEnv) failIdentity(email string) (undo func()) {
	e.t.Helper()
	e.exec(`CREATE FUNCTION fail_identity() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.email = '` + email + `' THEN RAISE EXCEPTION 'simulated crash'; END IF;
			RETURN NEW;
		END $$`)
	e.exec(`CREATE TRIGGER fail_identity BEFORE INSERT ON git_identities FOR EACH ROW EXECUTE FUNCTION fail_identity()`)
	return func() {
		e.exec(`DROP TRIGGER fail_identity ON git_identities`)
		e.exec(`DROP FUNCTION fail_identity()`)
	}
}

func TestDeclaredAccountChangesWholeOrNotAtAll(t *testing.T) {
	cases := []struct {
		name   string
		before string // applied first ("" none)
		file   string // its last new identity fails
		check  func(e *declaredEnv)
	}{
		{"a new account", "", `serviceAccounts:
  - name: ci-robot
    org: acme
    description: builds main
    bindings:
      - role: runner
        workspace: data-eng
    gitIdentities:
      - email: ci@acme.example
      - email: boom@acme.example
`, func(e *declaredEnv) {
			if _, err := e.db.ServiceAccount(e.ctx, e.org.ID, "ci-robot"); err == nil {
				e.t.Fatal("half an account was created")
			}
		}},
		{"an update of an existing account", validFile, `serviceAccounts:
  - name: ci-robot
    org: acme
    description: builds everything
    bindings:
      - role: editor
        workspace: web
    gitIdentities:
      - email: ci@acme.example
        login: acme-ci
      - email: boom@acme.example
  - name: docs-bot
    org: acme
`, func(e *declaredEnv) {
			ci := e.account("ci-robot")
			if ci.Attributes["description"] != "builds main" {
				e.t.Fatalf("description %v", ci.Attributes["description"])
			}
			if got := e.bindings(ci); !slices.Equal(got, []string{"org-admin", "runner on data-eng"}) {
				e.t.Fatalf("bindings %v", got)
			}
			if got := e.mapped(ci); len(got) != 2 {
				e.t.Fatalf("mapped %v", got)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newDeclaredEnv(t)
			if tc.before != "" {
				e.write(tc.before)
				e.mustRun(false)
			}
			before := e.digestAll()
			undo := e.failIdentity("boom@acme.example")
			e.write(tc.file)
			j, err := e.runFile(false)
			if err == nil || !strings.Contains(j.Error, "service account ci-robot") || !strings.Contains(j.Error, "simulated crash") {
				t.Fatalf("err %v, job error %q", err, j.Error)
			}
			if j.Changed != 0 {
				t.Fatalf("changed %d in an account that failed", j.Changed)
			}
			if e.digestAll() != before {
				t.Fatal("the failed account's first steps were kept")
			}
			tc.check(e)
			// Fixed, the next run makes the whole change.
			undo()
			j = e.mustRun(false)
			if j.Changed == 0 || j.Changed != j.Planned {
				t.Fatalf("after the fix: planned %d changed %d", j.Planned, j.Changed)
			}
			ci := e.account("ci-robot")
			if got := e.mapped(ci); !slices.Contains(got, "github boom@acme.example ") {
				t.Fatalf("mapped %v", got)
			}
			if j := e.mustRun(false); j.Planned != 0 {
				t.Fatalf("not converged: %v", j.Counts)
			}
		})
	}
}
