package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// The filter fixture: two organizations holding the same users and groups
// under the same ids (the primary keys are (org_id, id), so ids may repeat
// across organizations), with different memberships and display names. A
// subquery that forgot to correlate on org_id would find the other
// organization's rows and fail these tests.

const acmeURN = "urn:example:params:scim:schemas:extension:acme:2.0:User"

const (
	idAnn   = "a1a1a1a1-0000-4000-8000-000000000001"
	idBob   = "b2b2b2b2-0000-4000-8000-000000000002"
	idCarol = "c3c3c3c3-0000-4000-8000-000000000003"
	idDan   = "d4d4d4d4-0000-4000-8000-000000000004"
	idEve   = "e5e5e5e5-0000-4000-8000-000000000005"

	idEng   = "11111111-0000-4000-8000-0000000000aa"
	idSales = "22222222-0000-4000-8000-0000000000bb"
	idEmpty = "33333333-0000-4000-8000-0000000000cc"
)

// User names in insertion (seq) order, which is the default result order.
const (
	ann   = "Ann"
	bob   = "bob"
	carol = "carol@x.com"
	dan   = "dan_100%"
	eve   = "Eve"
)

var allUsers = []string{ann, bob, carol, dan, eve}

type seedUser struct {
	id, externalID   string // externalID "": NULL
	created, updated string
	doc              map[string]any
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func seedUsers() []seedUser {
	return []seedUser{
		{id: idAnn, externalID: "ext-Ann", created: "2015-01-01T00:00:00Z", updated: "2024-01-01T00:00:00Z", doc: map[string]any{
			"userName":    "Ann",
			"displayName": "Ann Archer",
			"nickName":    "annie",
			"name":        map[string]any{"givenName": "Ann", "familyName": "Archer", "formatted": "Ann Archer"},
			"emails": []any{
				map[string]any{"value": "Ann@X.com", "type": "work", "primary": true},
				map[string]any{"value": "ann@home.org", "type": "home"},
			},
			"addresses": []any{map[string]any{"type": "work", "locality": "Paris", "country": "FR"}},
			"title":     "Engineer",
			"active":    true,
			directory.EnterpriseUserURN: map[string]any{
				"department": "Eng", "employeeNumber": "1001", "manager": map[string]any{"value": idBob},
			},
			acmeURN: map[string]any{"level": 3, "startDate": "2020-01-01T00:00:00Z", "remote": true},
		}},
		// bob was created a microsecond before Microsoft's probe instant
		// 2015-10-10T14:38:21.8617979-07:00, carol a microsecond after.
		{id: idBob, externalID: "EXT-bob", created: "2015-10-10T21:38:21.861797Z", updated: "2024-06-01T00:00:00Z", doc: map[string]any{
			"userName":    "bob",
			"displayName": "Bob Baker",
			"name":        map[string]any{"givenName": "Bob", "familyName": "Baker"},
			"emails":      []any{map[string]any{"value": "bob@x.com", "type": "work"}},
			"addresses": []any{
				map[string]any{"type": "home", "locality": "Berlin", "country": "DE"},
				map[string]any{"type": "work", "locality": "Paris", "country": "FR"},
			},
			"title":                     "",
			"active":                    false,
			directory.EnterpriseUserURN: map[string]any{"department": "Sales"},
			acmeURN:                     map[string]any{"level": 5.5, "startDate": "2021-06-01T12:00:00+02:00", "remote": false},
		}},
		// carol's document is odd on purpose: no emails, a string where a
		// number is expected, an impossible date, an object where an array
		// is expected and a string where a complex attribute is expected.
		{id: idCarol, created: "2015-10-10T21:38:21.861799Z", updated: "2023-01-01T00:00:00Z", doc: map[string]any{
			"userName":         "carol@x.com",
			"name":             map[string]any{"givenName": "Carol", "familyName": "Archer"},
			"emails":           []any{},
			"active":           true,
			"phoneNumbers":     map[string]any{"value": "+1 555", "type": "work"},
			"x509Certificates": "not a list",
			acmeURN:            map[string]any{"level": "high", "startDate": "2015-02-31T00:00:00Z"},
		}},
		{id: idDan, externalID: `it's "quoted" \ back`, created: "2016-01-01T00:00:00Z", updated: "2022-01-01T00:00:00Z", doc: map[string]any{
			"userName":    "dan_100%",
			"displayName": "Dan",
			"nickName":    "",
			"emails": []any{
				map[string]any{"value": "DAN@Y.org", "type": "work"},
				map[string]any{"value": "Zoë@Ü.example", "type": "other"},
			},
			"a'->>'b":                   "hostile-key",
			"'; DROP TABLE users; --":   "drop",
			"$1":                        "dollar",
			directory.EnterpriseUserURN: "not an object",
		}},
		{id: idEve, externalID: "ext-eve", created: "2017-01-01T00:00:00Z", updated: "2025-01-01T00:00:00Z", doc: map[string]any{
			"userName":    "Eve",
			"displayName": "100% sure_thing",
			"name":        map[string]any{"familyName": "Archer"},
			"emails": []any{
				map[string]any{"value": "eve@x.com", "type": "work", "primary": true},
				map[string]any{"value": "eve@y.org", "type": "other"},
			},
			"title":                     "Manager",
			directory.EnterpriseUserURN: map[string]any{"department": "Eng", "manager": map[string]any{"value": idAnn}},
			acmeURN:                     map[string]any{"startDate": "2022-03-04T05:06:07.1234567z"},
		}},
	}
}

type fixture struct {
	db          *postgres.DB
	acme, other string // organization ids
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	db := pgtest.DB(t)
	acme, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.CreateOrganization(ctx, "other", "")
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{db: db, acme: acme.ID, other: other.ID}
	for _, org := range []string{f.acme, f.other} {
		for _, su := range seedUsers() {
			if org == f.other {
				if d, ok := su.doc["displayName"].(string); ok {
					su.doc["displayName"] = "Other " + d
				}
			}
			f.insertUser(t, org, su)
		}
		f.exec(t, `INSERT INTO groups (org_id, id, display_name, external_id, attributes, created_at, updated_at) VALUES
			($1, $2, 'Eng', 'g-eng', '{"description": "Engineering"}', '2020-01-01T00:00:00Z', '2020-02-01T00:00:00Z'),
			($1, $3, 'Sales', 'g-sales', '{}', '2021-01-01T00:00:00Z', '2021-02-01T00:00:00Z'),
			($1, $4, 'Empty Group', NULL, '{}', '2022-01-01T00:00:00Z', '2022-02-01T00:00:00Z')`, org, idEng, idSales, idEmpty)
	}
	// acme: Eng = {Ann, bob}, Sales = {bob}. other: Eng = {carol}, Sales = {Ann}.
	f.exec(t, `INSERT INTO group_members (org_id, group_id, user_id) VALUES
		($1, $3, $5), ($1, $3, $6), ($1, $4, $6),
		($2, $3, $7), ($2, $4, $5)`, f.acme, f.other, idEng, idSales, idAnn, idBob, idCarol)
	return f
}

func (f fixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := f.db.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// insertUser stores su as the store would: the columns derived from the
// document by directory.User.Derive.
func (f fixture) insertUser(t *testing.T, org string, su seedUser) {
	t.Helper()
	u := directory.User{Attributes: su.doc}
	if err := u.Derive(); err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(su.doc)
	if err != nil {
		t.Fatal(err)
	}
	f.exec(t, `INSERT INTO users (org_id, id, user_name, external_id, active, display_name,
			given_name, family_name, emails, attributes, created_at, updated_at)
		VALUES ($1, $2, $3, nullif($4, ''), $5, nullif($6, ''), nullif($7, ''), nullif($8, ''), $9, $10::jsonb, $11, $12)`,
		org, su.id, u.UserName, su.externalID, u.Active, u.DisplayName, u.GivenName, u.FamilyName,
		u.Emails, string(doc), ts(su.created), ts(su.updated))
}

// users runs the translated filter and order as the store will and
// returns the user names.
func (f fixture) users(t *testing.T, org string, flt directory.Filter, sortBy *directory.AttrPath, desc bool, page ...int) ([]string, error) {
	t.Helper()
	where, args, err := postgres.UserFilterForTest(flt, org)
	if err != nil {
		return nil, err
	}
	order, err := postgres.UserOrderForTest(sortBy, desc)
	if err != nil {
		return nil, err
	}
	// As ListUsers: SCIM sees the users whose source is scim (every
	// organization also has its break-glass owner).
	sql := "SELECT u.user_name FROM users u WHERE u.org_id = $1 AND u.source = 'scim' AND (" + where + ") ORDER BY " + order
	if len(page) == 2 {
		sql += fmt.Sprintf(" LIMIT %d OFFSET %d", page[0], page[1])
	}
	return f.strings(t, sql, args)
}

func (f fixture) groups(t *testing.T, org string, flt directory.Filter) ([]string, error) {
	t.Helper()
	where, args, err := postgres.GroupFilterForTest(flt, org)
	if err != nil {
		return nil, err
	}
	order, err := postgres.GroupOrderForTest(nil, false)
	if err != nil {
		return nil, err
	}
	return f.strings(t, "SELECT g.display_name FROM groups g WHERE g.org_id = $1 AND ("+where+") ORDER BY "+order, args)
}

func (f fixture) strings(t *testing.T, sql string, args []any) ([]string, error) {
	t.Helper()
	rows, err := f.db.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("query failed (the translator must never produce a failing query):\n%s\nargs %q\n%v", sql, args, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query failed:\n%s\nargs %q\n%v", sql, args, err)
	}
	return out, nil
}

// Attribute paths as the SCIM adapter resolves them: userName and emails
// values compare case-insensitively, other strings exactly.
var (
	aID          = directory.AttrPath{Name: "id", CaseExact: true}
	aUserName    = directory.AttrPath{Name: "userName"}
	aExternalID  = directory.AttrPath{Name: "externalId", CaseExact: true}
	aDisplayName = directory.AttrPath{Name: "displayName", CaseExact: true}
	aNickName    = directory.AttrPath{Name: "nickName", CaseExact: true}
	aTitle       = directory.AttrPath{Name: "title", CaseExact: true}
	aActive      = directory.AttrPath{Name: "active", Type: directory.TypeBoolean, CaseExact: true}
	aGivenName   = directory.AttrPath{Name: "name", Sub: "givenName", CaseExact: true}
	aFamilyName  = directory.AttrPath{Name: "name", Sub: "familyName", CaseExact: true}
	// familyName as a schema with caseExact false would declare it
	aFamilyNameCI = directory.AttrPath{Name: "name", Sub: "familyName"}
	aFormatted    = directory.AttrPath{Name: "name", Sub: "formatted", CaseExact: true}
	aName         = directory.AttrPath{Name: "name", Type: directory.TypeComplex}
	aEmails       = directory.AttrPath{Name: "emails", MultiValued: true, Type: directory.TypeComplex}
	aEmailValue   = directory.AttrPath{Name: "emails", Sub: "value", MultiValued: true}
	aEmailType    = directory.AttrPath{Name: "emails", Sub: "type", MultiValued: true, CaseExact: true}
	aEmailPrim    = directory.AttrPath{Name: "emails", Sub: "primary", MultiValued: true, Type: directory.TypeBoolean}
	aAddresses    = directory.AttrPath{Name: "addresses", MultiValued: true, Type: directory.TypeComplex}
	aLocality     = directory.AttrPath{Name: "addresses", Sub: "locality", MultiValued: true, CaseExact: true}
	aPhoneValue   = directory.AttrPath{Name: "phoneNumbers", Sub: "value", MultiValued: true, CaseExact: true}
	aX509Value    = directory.AttrPath{Name: "x509Certificates", Sub: "value", MultiValued: true, Type: directory.TypeBinary, CaseExact: true}
	aCreated      = directory.AttrPath{Name: "meta", Sub: "created", Type: directory.TypeDateTime, CaseExact: true}
	aLastMod      = directory.AttrPath{Name: "meta", Sub: "lastModified", Type: directory.TypeDateTime, CaseExact: true}
	aResType      = directory.AttrPath{Name: "meta", Sub: "resourceType", CaseExact: true}
	aGroups       = directory.AttrPath{Name: "groups", MultiValued: true, Type: directory.TypeComplex, CaseExact: true}
	aGroupsValue  = directory.AttrPath{Name: "groups", Sub: "value", MultiValued: true, CaseExact: true}
	aGroupsDisp   = directory.AttrPath{Name: "groups", Sub: "display", MultiValued: true, CaseExact: true}
	aDepartment   = directory.AttrPath{URN: directory.EnterpriseUserURN, Name: "department", CaseExact: true}
	aManager      = directory.AttrPath{URN: directory.EnterpriseUserURN, Name: "manager", Sub: "value", CaseExact: true}
	aManagerAll   = directory.AttrPath{URN: directory.EnterpriseUserURN, Name: "manager", Type: directory.TypeComplex, CaseExact: true}
	aLevel        = directory.AttrPath{URN: acmeURN, Name: "level", Type: directory.TypeDecimal, CaseExact: true}
	aStartDate    = directory.AttrPath{URN: acmeURN, Name: "startDate", Type: directory.TypeDateTime, CaseExact: true}
	aRemote       = directory.AttrPath{URN: acmeURN, Name: "remote", Type: directory.TypeBoolean}

	aMembers     = directory.AttrPath{Name: "members", MultiValued: true, Type: directory.TypeComplex, CaseExact: true}
	aMembersDisp = directory.AttrPath{Name: "members", Sub: "display", MultiValued: true, CaseExact: true}
	aDescription = directory.AttrPath{Name: "description", CaseExact: true}
)

// sub names a sub-attribute inside a value path.
func sub(name string, caseExact bool) directory.AttrPath {
	return directory.AttrPath{Name: name, CaseExact: caseExact}
}

func cmp(a directory.AttrPath, op directory.CompareOp, v any) directory.Compare {
	return directory.Compare{Attr: a, Op: op, Value: v}
}
func pr(a directory.AttrPath) directory.Compare {
	return directory.Compare{Attr: a, Op: directory.OpPr}
}
func and(l, r directory.Filter) directory.And { return directory.And{Left: l, Right: r} }
func or(l, r directory.Filter) directory.Or   { return directory.Or{Left: l, Right: r} }
func not(f directory.Filter) directory.Not    { return directory.Not{Filter: f} }
func vpath(a directory.AttrPath, f directory.Filter) directory.ValuePath {
	return directory.ValuePath{Attr: a, Filter: f}
}

const (
	eq = directory.OpEq
	ne = directory.OpNe
	co = directory.OpCo
	sw = directory.OpSw
	ew = directory.OpEw
	gt = directory.OpGt
	ge = directory.OpGe
	lt = directory.OpLt
	le = directory.OpLe
)

func none() []string { return []string{} }

func except(names ...string) []string {
	out := []string{}
	for _, u := range allUsers {
		if !slices.Contains(names, u) {
			out = append(out, u)
		}
	}
	return out
}

func TestFilterUsersSemantics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	work := cmp(sub("type", true), eq, "work")
	tests := []struct {
		name   string
		filter directory.Filter
		want   []string
	}{
		{"nil filter matches all", nil, allUsers},

		{"userName eq ignores case", cmp(aUserName, eq, "ann"), []string{ann}},
		{"userName eq upper case", cmp(aUserName, eq, "ANN"), []string{ann}},
		{"userName ne", cmp(aUserName, ne, "ann"), except(ann)},
		{"userName co", cmp(aUserName, co, "O"), []string{bob, carol}},
		{"userName sw", cmp(aUserName, sw, "C"), []string{carol}},
		{"userName ew ignores case", cmp(aUserName, ew, "@X.COM"), []string{carol}},
		{"userName gt is lexicographic on lower case", cmp(aUserName, gt, "carol"), []string{carol, dan, eve}},
		{"userName ge", cmp(aUserName, ge, "EVE"), []string{eve}},
		{"userName lt", cmp(aUserName, lt, "b"), []string{ann}},
		{"userName le", cmp(aUserName, le, "bob"), []string{ann, bob}},
		{"userName pr", pr(aUserName), allUsers},

		{"externalId eq", cmp(aExternalID, eq, "ext-Ann"), []string{ann}},
		{"externalId eq is case-exact", cmp(aExternalID, eq, "ext-ann"), none()},
		{"externalId eq with quotes and backslash", cmp(aExternalID, eq, `it's "quoted" \ back`), []string{dan}},
		{"externalId ne includes absent", cmp(aExternalID, ne, "ext-Ann"), except(ann)},
		{"externalId pr", pr(aExternalID), except(carol)},
		{"not externalId pr", not(pr(aExternalID)), []string{carol}},
		{"externalId sw is case-exact", cmp(aExternalID, sw, "EXT-"), []string{bob}},
		{"externalId co literal backslash", cmp(aExternalID, co, `\ b`), []string{dan}},
		{"externalId gt is byte order", cmp(aExternalID, gt, "ext-A"), []string{ann, dan, eve}},

		{"displayName eq is case-exact", cmp(aDisplayName, eq, "ann archer"), none()},
		{"displayName eq", cmp(aDisplayName, eq, "Ann Archer"), []string{ann}},
		{"displayName co percent is literal", cmp(aDisplayName, co, "0% s"), []string{eve}},
		{"displayName co underscore is literal", cmp(aDisplayName, co, "e_t"), []string{eve}},
		{"displayName sw", cmp(aDisplayName, sw, "100%"), []string{eve}},
		{"displayName ew", cmp(aDisplayName, ew, "Baker"), []string{bob}},
		{"displayName pr", pr(aDisplayName), except(carol)},
		{"displayName lt", cmp(aDisplayName, lt, "B"), []string{ann, eve}},

		{"active eq true", cmp(aActive, eq, true), except(bob)},
		{"active eq false", cmp(aActive, eq, false), []string{bob}},
		{"active ne true", cmp(aActive, ne, true), []string{bob}},
		{"active pr", pr(aActive), allUsers},

		{"name.givenName eq", cmp(aGivenName, eq, "Ann"), []string{ann}},
		{"name.familyName eq", cmp(aFamilyName, eq, "Archer"), []string{ann, carol, eve}},
		{"name.familyName eq is case-exact", cmp(aFamilyName, eq, "archer"), none()},
		{"name.givenName pr", pr(aGivenName), []string{ann, bob, carol}},
		{"name.givenName ne includes absent", cmp(aGivenName, ne, "Ann"), except(ann)},
		{"name.formatted eq (document)", cmp(aFormatted, eq, "Ann Archer"), []string{ann}},
		{"name pr", pr(aName), []string{ann, bob, carol, eve}},
		{"value path on a singular complex attribute", vpath(aName, cmp(sub("givenName", true), eq, "Ann")), []string{ann}},

		{"emails eq ignores case", cmp(aEmails, eq, "ann@x.com"), []string{ann}},
		{"emails.value eq ignores case", cmp(aEmailValue, eq, "ANN@X.COM"), []string{ann}},
		{"emails.value eq second email", cmp(aEmailValue, eq, "Ann@Home.org"), []string{ann}},
		// Identities compare in ASCII case only (DESIGN §9): Ë is not ë,
		// and the Kelvin sign (U+212A) or İ (U+0130) is not k or i, even
		// though the test database's LC_CTYPE folds them (see pgtest).
		{"emails eq folds ASCII letters around non-ASCII ones", cmp(aEmails, eq, "ZOë@Ü.EXAMPLE"), []string{dan}},
		{"emails eq does not fold non-ASCII case", cmp(aEmails, eq, "ZOË@Ü.EXAMPLE"), none()},
		{"emails sw folds ASCII letters around non-ASCII ones", cmp(aEmails, sw, "ZOë@"), []string{dan}},
		{"emails sw does not fold non-ASCII case", cmp(aEmails, sw, "ZOË@"), none()},
		{"emails.value eq does not fold the Kelvin sign into k", cmp(aEmailValue, eq, "\u212Aate@x.com"), none()},
		{"case-insensitive string eq folds ASCII", cmp(aFamilyNameCI, eq, "BAKER"), []string{bob}},
		{"case-insensitive string eq does not fold the Kelvin sign into k", cmp(aFamilyNameCI, eq, "Ba\u212Aer"), none()},
		{"case-insensitive string co does not fold the Kelvin sign into k", cmp(aFamilyNameCI, co, "A\u212A"), none()},
		{"case-insensitive string co folds ASCII", cmp(aFamilyNameCI, co, "AK"), []string{bob}},
		{"emails value path pins a non-ASCII value", vpath(aEmails, and(cmp(sub("type", true), eq, "other"), cmp(sub("value", false), eq, "Zoë@Ü.example"))), []string{dan}},
		{"emails co", cmp(aEmails, co, "X.Com"), []string{ann, bob, eve}},
		{"emails.value sw", cmp(aEmailValue, sw, "dan@"), []string{dan}},
		{"emails.value ew", cmp(aEmailValue, ew, ".ORG"), []string{ann, dan, eve}},
		{"emails.value gt beyond ASCII", cmp(aEmailValue, gt, "z"), []string{dan}},
		{"emails.value gt", cmp(aEmailValue, gt, "e"), []string{dan, eve}},
		{"emails pr excludes an empty list", pr(aEmails), except(carol)},
		{"emails.value ne", cmp(aEmailValue, ne, "bob@x.com"), except(bob)},
		{"emails.type eq (document)", cmp(aEmailType, eq, "home"), []string{ann}},
		{"emails.type ne: no element is work", cmp(aEmailType, ne, "work"), []string{carol}},
		{"emails.primary eq true", cmp(aEmailPrim, eq, true), []string{ann, eve}},
		{"emails.type pr", pr(aEmailType), except(carol)},
		{"emails value path with and", vpath(aEmails, and(work, cmp(sub("value", false), ew, "@x.com"))), []string{ann, bob, eve}},
		{"emails value path pins value (Entra)", vpath(aEmails, and(work, cmp(sub("value", false), eq, "ann@x.com"))), []string{ann}},
		{"emails value path: value of another type does not match", vpath(aEmails, and(work, cmp(sub("value", false), eq, "eve@y.org"))), none()},
		{"emails value path pinned value ignores case", vpath(aEmails, and(cmp(sub("type", true), eq, "other"), cmp(sub("value", false), eq, "EVE@Y.ORG"))), []string{eve}},
		{"emails value path with or", vpath(aEmails, or(cmp(sub("type", true), eq, "home"), cmp(sub("primary", false), eq, true))), []string{ann, eve}},
		{"emails value path with not", vpath(aEmails, not(work)), []string{ann, dan, eve}},
		{"emails value path with ne", vpath(aEmails, cmp(sub("type", true), ne, "work")), []string{ann, dan, eve}},
		{"emails value path and userName", and(vpath(aEmails, cmp(sub("value", false), eq, "ann@x.com")), cmp(aUserName, eq, "ann")), []string{ann}},

		{"addresses value path: both conditions on one element", vpath(aAddresses, and(cmp(sub("type", true), eq, "work"), cmp(sub("locality", true), eq, "Paris"))), []string{ann, bob}},
		{"addresses value path: conditions on different elements", vpath(aAddresses, and(cmp(sub("type", true), eq, "home"), cmp(sub("country", true), eq, "FR"))), none()},
		{"addresses.locality eq", cmp(aLocality, eq, "Berlin"), []string{bob}},
		{"addresses pr", pr(aAddresses), []string{ann, bob}},
		{"malformed object as a list", cmp(aPhoneValue, eq, "+1 555"), []string{carol}},
		{"malformed string as a list", cmp(aX509Value, eq, "not a list"), none()},

		{"title eq", cmp(aTitle, eq, "Engineer"), []string{ann}},
		{"title pr excludes empty string", pr(aTitle), []string{ann, eve}},
		{"title ne includes absent and empty", cmp(aTitle, ne, "Engineer"), except(ann)},
		{"not title eq", not(cmp(aTitle, eq, "Engineer")), except(ann)},
		{"nickName pr excludes empty string", pr(aNickName), []string{ann}},
		{"title gt", cmp(aTitle, gt, "F"), []string{eve}},

		{"extension eq", cmp(aDepartment, eq, "Eng"), []string{ann, eve}},
		{"extension ne includes absent", cmp(aDepartment, ne, "Eng"), except(ann, eve)},
		{"extension co", cmp(aDepartment, co, "al"), []string{bob}},
		{"extension pr", pr(aDepartment), []string{ann, bob, eve}},
		{"extension complex sub-attribute", cmp(aManager, eq, idBob), []string{ann}},
		{"extension complex as a whole means value", cmp(aManagerAll, eq, idAnn), []string{eve}},
		{"extension number eq", cmp(aLevel, eq, int64(3)), []string{ann}},
		{"extension number gt decimal", cmp(aLevel, gt, int64(4)), []string{bob}},
		{"extension number ge", cmp(aLevel, ge, float64(3)), []string{ann, bob}},
		{"extension number lt skips a string", cmp(aLevel, lt, int64(100)), []string{ann, bob}},
		{"extension string where a number is", cmp(aLevel, eq, "high"), []string{carol}},
		{"extension boolean eq true", cmp(aRemote, eq, true), []string{ann}},
		{"extension boolean eq false", cmp(aRemote, eq, false), []string{bob}},
		{"extension boolean ne", cmp(aRemote, ne, true), except(ann)},
		{"extension dateTime gt", cmp(aStartDate, gt, "2020-06-01T00:00:00Z"), []string{bob, eve}},
		{"extension dateTime with 7 fraction digits and lower-case z", and(cmp(aStartDate, gt, "2022-03-04T05:06:07.123Z"), cmp(aStartDate, lt, "2022-03-04T06:06:07.1235+01:00")), []string{eve}},
		{"extension dateTime eq across offsets", cmp(aStartDate, eq, "2021-06-01T10:00:00Z"), []string{bob}},
		{"extension dateTime lt skips an impossible date", cmp(aStartDate, lt, "2030-01-01T00:00:00Z"), []string{ann, bob, eve}},
		{"extension dateTime pr", pr(aStartDate), []string{ann, bob, carol, eve}},

		{"meta.created gt with 7 fraction digits and offset (Microsoft)", cmp(aCreated, gt, "2015-10-10T14:38:21.8617979-07:00"), []string{carol, dan, eve}},
		{"meta.created le", cmp(aCreated, le, "2015-10-10T21:38:21.861797Z"), []string{ann, bob}},
		{"meta.created eq", cmp(aCreated, eq, "2016-01-01T01:00:00+01:00"), []string{dan}},
		{"meta.lastModified gt", cmp(aLastMod, gt, "2024-01-01T00:00:00Z"), []string{bob, eve}},
		{"meta.lastModified ge", cmp(aLastMod, ge, "2024-01-01T00:00:00Z"), []string{ann, bob, eve}},
		{"meta.lastModified lt", cmp(aLastMod, lt, "2023-06-01T00:00:00.5Z"), []string{carol, dan}},
		{"meta.created pr", pr(aCreated), allUsers},
		{"meta.resourceType eq User", cmp(aResType, eq, "User"), allUsers},
		{"meta.resourceType eq Group", cmp(aResType, eq, "Group"), none()},

		{"id eq", cmp(aID, eq, idAnn), []string{ann}},
		{"id eq upper case", cmp(aID, eq, strings.ToUpper(idAnn)), []string{ann}},
		{"id eq not a uuid", cmp(aID, eq, "not-a-uuid"), none()},
		{"id ne not a uuid", cmp(aID, ne, "not-a-uuid"), allUsers},
		{"id eq injection-like", cmp(aID, eq, "' OR 1=1 --"), none()},
		{"id eq a group id", cmp(aID, eq, idEng), none()},
		{"id sw", cmp(aID, sw, "b2b2"), []string{bob}},
		{"id pr", pr(aID), allUsers},

		{"groups eq", cmp(aGroups, eq, idEng), []string{ann, bob}},
		{"groups.value eq", cmp(aGroupsValue, eq, idSales), []string{bob}},
		{"groups eq not a uuid", cmp(aGroups, eq, "Eng"), none()},
		{"groups ne", cmp(aGroups, ne, idEng), []string{carol, dan, eve}},
		{"groups.display eq", cmp(aGroupsDisp, eq, "Sales"), []string{bob}},
		{"groups.display sw", cmp(aGroupsDisp, sw, "E"), []string{ann, bob}},
		{"groups pr", pr(aGroups), []string{ann, bob}},
		{"not groups pr", not(pr(aGroups)), []string{carol, dan, eve}},
		{"groups value path", vpath(aGroups, and(cmp(sub("value", true), eq, idEng), cmp(sub("display", true), eq, "Eng"))), []string{ann, bob}},
		{"groups value path, other display", vpath(aGroups, and(cmp(sub("value", true), eq, idEng), cmp(sub("display", true), eq, "Sales"))), none()},

		{"and", and(cmp(aActive, eq, true), cmp(aFamilyName, eq, "Archer")), []string{ann, carol, eve}},
		{"or", or(cmp(aUserName, eq, "ann"), cmp(aUserName, eq, "bob")), []string{ann, bob}},
		{"(or) and", and(or(cmp(aUserName, eq, "ann"), cmp(aUserName, eq, "bob")), cmp(aActive, eq, true)), []string{ann}},
		{"or (and)", or(cmp(aUserName, eq, "ann"), and(cmp(aUserName, eq, "bob"), cmp(aActive, eq, true))), []string{ann}},
		{"not (or)", not(or(cmp(aUserName, eq, "ann"), cmp(aUserName, eq, "bob"))), []string{carol, dan, eve}},
		{"not not", not(not(cmp(aUserName, eq, "ann"))), []string{ann}},
		{"not on an absent attribute", not(cmp(aDepartment, eq, "Sales")), except(bob)},
		{"pointer nodes", &directory.And{Left: &directory.Compare{Attr: aUserName, Op: eq, Value: "ann"}, Right: pr(aEmails)}, []string{ann}},

		{"hostile attribute name is a key", cmp(sub("a'->>'b", true), eq, "hostile-key"), []string{dan}},
		{"drop table attribute name is a key", cmp(sub("'; DROP TABLE users; --", true), eq, "drop"), []string{dan}},
		{"placeholder-like attribute name is a key", cmp(sub("$1", true), eq, "dollar"), []string{dan}},
		{"userName co percent is literal", cmp(aUserName, co, "%"), []string{dan}},
		{"userName co underscore is literal", cmp(aUserName, co, "_"), []string{dan}},
		{"userName sw underscore is not a wildcard", cmp(aUserName, sw, "d_n"), none()},
		{"userName ew percent", cmp(aUserName, ew, "0%"), []string{dan}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := f.users(t, f.acme, tt.filter, nil, false)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFilterTenantIsolation runs filters whose subqueries would find the
// other organization's rows (same ids, other memberships and names) if
// they did not correlate on org_id.
func TestFilterTenantIsolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	users := []struct {
		name   string
		org    string
		filter directory.Filter
		want   []string
	}{
		{"groups eq in acme", f.acme, cmp(aGroups, eq, idEng), []string{ann, bob}},
		{"groups eq in other", f.other, cmp(aGroups, eq, idEng), []string{carol}},
		{"groups eq Sales in acme", f.acme, cmp(aGroups, eq, idSales), []string{bob}},
		{"groups.display in other", f.other, cmp(aGroupsDisp, eq, "Sales"), []string{ann}},
		{"displayName in other", f.other, cmp(aDisplayName, sw, "Other "), []string{ann, bob, dan, eve}},
		{"displayName of other in acme", f.acme, cmp(aDisplayName, sw, "Other "), none()},
		{"userName eq in other", f.other, cmp(aUserName, eq, "ann"), []string{ann}},
	}
	for _, tt := range users {
		t.Run("users/"+tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := f.users(t, tt.org, tt.filter, nil, false)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	groups := []struct {
		name   string
		org    string
		filter directory.Filter
		want   []string
	}{
		{"members eq in acme", f.acme, cmp(aMembers, eq, idAnn), []string{"Eng"}},
		{"members eq in other", f.other, cmp(aMembers, eq, idAnn), []string{"Sales"}},
		{"members eq of other's member", f.acme, cmp(aMembers, eq, idCarol), none()},
		{"Entra membership check in acme", f.acme, and(cmp(aID, eq, idSales), cmp(aMembers, eq, idAnn)), none()},
		{"Entra membership check in other", f.other, and(cmp(aID, eq, idSales), cmp(aMembers, eq, idAnn)), []string{"Sales"}},
		{"members.display joins in the same org", f.acme, cmp(aMembersDisp, eq, "Other Bob Baker"), none()},
		{"members.display in other", f.other, cmp(aMembersDisp, eq, "Other Ann Archer"), []string{"Sales"}},
	}
	for _, tt := range groups {
		t.Run("groups/"+tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := f.groups(t, tt.org, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFilterGroupsSemantics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	all := []string{"Eng", "Sales", "Empty Group"}
	tests := []struct {
		name   string
		filter directory.Filter
		want   []string
	}{
		{"displayName eq", cmp(aDisplayName, eq, "Eng"), []string{"Eng"}},
		{"displayName eq is case-exact", cmp(aDisplayName, eq, "eng"), []string{}},
		{"displayName co", cmp(aDisplayName, co, "e"), []string{"Sales"}},
		{"displayName sw", cmp(aDisplayName, sw, "E"), []string{"Eng", "Empty Group"}},
		{"displayName ne", cmp(aDisplayName, ne, "Eng"), []string{"Sales", "Empty Group"}},
		{"externalId eq", cmp(aExternalID, eq, "g-eng"), []string{"Eng"}},
		{"externalId pr", pr(aExternalID), []string{"Eng", "Sales"}},
		{"externalId ne includes absent", cmp(aExternalID, ne, "g-eng"), []string{"Sales", "Empty Group"}},
		{"id eq", cmp(aID, eq, idSales), []string{"Sales"}},
		{"id eq not a uuid", cmp(aID, eq, "Sales"), []string{}},
		{"id ne not a uuid", cmp(aID, ne, "Sales"), all},
		{"members eq", cmp(aMembers, eq, idBob), []string{"Eng", "Sales"}},
		{"members.value eq", cmp(directory.AttrPath{Name: "members", Sub: "value", MultiValued: true, CaseExact: true}, eq, idAnn), []string{"Eng"}},
		{"members eq not a uuid", cmp(aMembers, eq, "bob"), []string{}},
		{"members ne", cmp(aMembers, ne, idAnn), []string{"Sales", "Empty Group"}},
		{"members pr", pr(aMembers), []string{"Eng", "Sales"}},
		{"not members pr", not(pr(aMembers)), []string{"Empty Group"}},
		{"members value path", vpath(aMembers, cmp(sub("value", true), eq, idBob)), []string{"Eng", "Sales"}},
		{"members value path not a uuid", vpath(aMembers, cmp(sub("value", true), eq, "x")), []string{}},
		{"members.display eq", cmp(aMembersDisp, eq, "Ann Archer"), []string{"Eng"}},
		{"members value path with display", vpath(aMembers, and(cmp(sub("value", true), eq, idBob), cmp(sub("display", true), sw, "Bob"))), []string{"Eng", "Sales"}},
		{"Entra membership check", and(cmp(aID, eq, idEng), cmp(aMembers, eq, idBob)), []string{"Eng"}},
		{"Entra membership check, not a member", and(cmp(aID, eq, idSales), cmp(aMembers, eq, idAnn)), []string{}},
		{"Entra membership check, not a uuid", and(cmp(aID, eq, idEng), cmp(aMembers, eq, "nope")), []string{}},
		{"document attribute", cmp(aDescription, eq, "Engineering"), []string{"Eng"}},
		{"document attribute pr", pr(aDescription), []string{"Eng"}},
		{"meta.resourceType", cmp(aResType, eq, "Group"), all},
		{"meta.created ge", cmp(aCreated, ge, "2021-01-01T00:00:00Z"), []string{"Sales", "Empty Group"}},
		{"meta.lastModified lt", cmp(aLastMod, lt, "2021-01-01T00:00:00+01:00"), []string{"Eng"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := f.groups(t, f.acme, tt.filter)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFilterInvalid lists filters that cannot be translated: they must
// fail with ErrInvalid (400 invalidFilter), never with a failing query.
func TestFilterInvalid(t *testing.T) {
	t.Parallel()
	users := []struct {
		name   string
		filter directory.Filter
	}{
		{"boolean ordering", cmp(aActive, gt, true)},
		{"boolean co", cmp(aActive, co, true)},
		{"boolean attribute with a string", cmp(aActive, eq, "true")},
		{"string attribute with a boolean", cmp(aUserName, eq, true)},
		{"string attribute with a number", cmp(aExternalID, eq, int64(42))},
		{"document boolean ordering", cmp(aRemote, lt, false)},
		{"document number co", cmp(aLevel, co, int64(3))},
		{"dateTime that does not parse", cmp(aCreated, gt, "yesterday")},
		{"dateTime without offset", cmp(aLastMod, gt, "2015-10-10T14:38:21")},
		{"dateTime co", cmp(aCreated, co, "2015")},
		{"dateTime with a number", cmp(aCreated, gt, int64(2015))},
		{"document dateTime that does not parse", cmp(aStartDate, gt, "2015-02-31")},
		{"meta without sub-attribute", cmp(directory.AttrPath{Name: "meta"}, eq, "x")},
		{"meta.version", cmp(directory.AttrPath{Name: "meta", Sub: "version"}, eq, `W/"1"`)},
		{"meta.location", cmp(directory.AttrPath{Name: "meta", Sub: "location"}, eq, "x")},
		{"password", cmp(directory.AttrPath{Name: "password"}, eq, "secret")},
		{"schemas", cmp(directory.AttrPath{Name: "schemas", MultiValued: true}, eq, directory.EnterpriseUserURN)},
		{"groups.type", cmp(directory.AttrPath{Name: "groups", Sub: "type", MultiValued: true}, eq, "direct")},
		{"groups.$ref", vpath(aGroups, cmp(sub("$ref", true), eq, "x"))},
		{"sub-attribute of a simple column", cmp(directory.AttrPath{Name: "userName", Sub: "x"}, eq, "x")},
		{"nested value path", vpath(aEmails, vpath(aAddresses, cmp(sub("type", true), eq, "work")))},
		{"value path with trailing sub-attribute", vpath(directory.AttrPath{Name: "emails", Sub: "value", MultiValued: true}, work())},
		{"value path inner with sub-attribute", vpath(aEmails, cmp(directory.AttrPath{Name: "type", Sub: "x"}, eq, "work"))},
		{"unknown operator", cmp(aUserName, directory.CompareOp("like"), "x")},
		{"missing value", cmp(aUserName, eq, nil)},
		{"unsupported value type", cmp(aTitle, eq, []string{"x"})},
		{"empty operand", directory.And{Left: cmp(aUserName, eq, "x")}},
		{"nil pointer", (*directory.Compare)(nil)},
		{"NUL in a value", cmp(aUserName, eq, "a\x00b")},
		{"NUL in a name", cmp(sub("a\x00b", true), eq, "x")},
		{"invalid UTF-8", cmp(aTitle, eq, "\xff")},
	}
	for _, tt := range users {
		t.Run("users/"+tt.name, func(t *testing.T) {
			t.Parallel()
			a := []any{"org"}
			sql, args, err := postgres.UserFilterForTest(tt.filter, a...)
			if !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("err = %v (sql %q), want ErrInvalid", err, sql)
			}
			if len(args) != 1 {
				t.Errorf("a failed translation left arguments behind: %q", args)
			}
			t.Logf("%v", err)
		})
	}
	groups := []struct {
		name   string
		filter directory.Filter
	}{
		{"members.type", cmp(directory.AttrPath{Name: "members", Sub: "type", MultiValued: true}, eq, "User")},
		{"members.$ref", cmp(directory.AttrPath{Name: "members", Sub: "$ref", MultiValued: true}, eq, "x")},
		{"schemas", cmp(directory.AttrPath{Name: "schemas"}, eq, "x")},
	}
	for _, tt := range groups {
		t.Run("groups/"+tt.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := postgres.GroupFilterForTest(tt.filter, "org"); !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	for _, sortBy := range []directory.AttrPath{aTitle, aDepartment, aGroups, {Name: "meta", Sub: "version"}} {
		if _, err := postgres.UserOrderForTest(&sortBy, false); !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("sortBy %+v: err = %v, want ErrInvalid", sortBy, err)
		}
	}
	if _, err := postgres.GroupOrderForTest(&aMembers, false); !errors.Is(err, directory.ErrInvalid) {
		t.Errorf("groups sortBy members: err = %v, want ErrInvalid", err)
	}
}

func work() directory.Compare { return cmp(sub("type", true), eq, "work") }

// TestFilterInjection puts hostile text everywhere a filter can carry
// text: values, attribute names, sub-attribute names, extension URNs. Every
// hostile string carries the marker "zq", which the SQL text must never
// contain: everything from the filter travels as a parameter.
func TestFilterInjection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	hostile := []string{
		`zq'`, `zq"`, `zq'; DROP TABLE users; --`, `zq$1`, `zq$2::text`, `zq\`, `zq\'`, `zq%`, `zq_`,
		`zqa'->>'b`, `zq') OR TRUE --`, `zq" OR ""="`, `zq*/ OR /*`, `zq'::jsonb`, `zq{}`, `zq[0]`,
		`zq
newline`, `zq💥`,
	}
	type build func(h string) directory.Filter
	userFilters := map[string]build{
		"userName eq":    func(h string) directory.Filter { return cmp(aUserName, eq, h) },
		"userName co":    func(h string) directory.Filter { return cmp(aUserName, co, h) },
		"externalId sw":  func(h string) directory.Filter { return cmp(aExternalID, sw, h) },
		"displayName gt": func(h string) directory.Filter { return not(cmp(aDisplayName, gt, h)) },
		"id eq":          func(h string) directory.Filter { return cmp(aID, eq, h) },
		"id ew":          func(h string) directory.Filter { return cmp(aID, ew, h) },
		"emails eq":      func(h string) directory.Filter { return cmp(aEmails, eq, h) },
		"emails ew":      func(h string) directory.Filter { return cmp(aEmailValue, ew, h) },
		"emails value path": func(h string) directory.Filter {
			return vpath(aEmails, and(cmp(sub(h, true), eq, h), cmp(sub("value", false), eq, h)))
		},
		"groups eq":          func(h string) directory.Filter { return cmp(aGroups, eq, h) },
		"groups.display co":  func(h string) directory.Filter { return cmp(aGroupsDisp, co, h) },
		"attribute name":     func(h string) directory.Filter { return cmp(sub(h, true), eq, h) },
		"attribute name pr":  func(h string) directory.Filter { return pr(sub(h, true)) },
		"sub-attribute name": func(h string) directory.Filter { return cmp(directory.AttrPath{Name: h, Sub: h}, co, h) },
		"multi-valued name": func(h string) directory.Filter {
			return cmp(directory.AttrPath{Name: h, Sub: h, MultiValued: true}, sw, h)
		},
		"extension urn":    func(h string) directory.Filter { return cmp(directory.AttrPath{URN: h, Name: h, Sub: h}, ne, h) },
		"extension number": func(h string) directory.Filter { return cmp(directory.AttrPath{URN: h, Name: h}, gt, int64(1)) },
		"extension dateTime": func(h string) directory.Filter {
			return cmp(directory.AttrPath{URN: h, Name: h, Type: directory.TypeDateTime}, gt, "2020-01-01T00:00:00Z")
		},
		"value path name": func(h string) directory.Filter {
			return vpath(directory.AttrPath{URN: h, Name: h, MultiValued: true}, cmp(sub(h, true), ew, h))
		},
		"meta.created": func(h string) directory.Filter { return cmp(aCreated, gt, h) },
		"complex as a whole": func(h string) directory.Filter {
			return cmp(directory.AttrPath{Name: h, Type: directory.TypeComplex}, eq, h)
		},
		"hostile key, literal": func(h string) directory.Filter {
			return and(cmp(sub("a'->>'b", true), eq, "hostile-key"), not(cmp(aUserName, eq, h)))
		},
	}
	groupFilters := map[string]build{
		"displayName eq":     func(h string) directory.Filter { return cmp(aDisplayName, eq, h) },
		"members eq":         func(h string) directory.Filter { return cmp(aMembers, eq, h) },
		"members.display ew": func(h string) directory.Filter { return cmp(aMembersDisp, ew, h) },
		"members value path": func(h string) directory.Filter {
			return vpath(aMembers, or(cmp(sub("value", true), eq, h), cmp(sub("display", true), co, h)))
		},
		"attribute name":      func(h string) directory.Filter { return cmp(sub(h, true), eq, h) },
		"Entra membership":    func(h string) directory.Filter { return and(cmp(aID, eq, h), cmp(aMembers, eq, h)) },
		"document value path": func(h string) directory.Filter { return vpath(directory.AttrPath{Name: h}, cmp(sub(h, true), co, h)) },
	}
	check := func(t *testing.T, kind, name string, translate func(directory.Filter, ...any) (string, []any, error), b build) {
		for _, h := range hostile {
			flt := b(h)
			where, args, err := translate(flt, f.acme)
			if err != nil {
				if !errors.Is(err, directory.ErrInvalid) {
					t.Errorf("%s %s %q: err = %v, want nil or ErrInvalid", kind, name, h, err)
				}
				continue
			}
			if strings.Contains(where, "zq") {
				t.Errorf("%s %s %q: filter text reached the SQL:\n%s", kind, name, h, where)
			}
			alias, scope := "u", " AND u.source = 'scim'"
			if kind == "groups" {
				alias, scope = "g", ""
			}
			sql := "SELECT count(*) FROM " + kind + " " + alias + " WHERE " + alias + ".org_id = $1" + scope + " AND (" + where + ")"
			var n int
			if err := f.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
				t.Errorf("%s %s %q: query failed: %v\n%s", kind, name, h, err, sql)
				continue
			}
			want := 0
			switch {
			case name == "displayName gt": // not (displayName gt "zq…"): no name sorts after "zq"
				want = 5
			case name == "hostile key, literal":
				want = 1
			case name == "extension urn": // ne: true for every row
				want = 5
			}
			if n != want {
				t.Errorf("%s %s %q: %d rows, want %d", kind, name, h, n, want)
			}
		}
	}
	for name, b := range userFilters {
		check(t, "users", name, postgres.UserFilterForTest, b)
	}
	for name, b := range groupFilters {
		check(t, "groups", name, postgres.GroupFilterForTest, b)
	}
	var tables int
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables
		WHERE schemaname = 'public' AND tablename IN ('users', 'groups', 'group_members')`).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("tables: %d, %v", tables, err)
	}
	got, err := f.users(t, f.acme, nil, nil, false)
	if err != nil || !slices.Equal(got, allUsers) {
		t.Fatalf("users after the attack: %q, %v", got, err)
	}
}

func TestFilterOrdering(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	path := func(name, sub string) *directory.AttrPath { return &directory.AttrPath{Name: name, Sub: sub} }
	tests := []struct {
		name   string
		sortBy *directory.AttrPath
		desc   bool
		filter directory.Filter
		want   []string
	}{
		{"default is creation order", nil, false, nil, allUsers},
		{"sortOrder without sortBy is ignored", nil, true, nil, allUsers},
		{"userName ascending ignores case", path("userName", ""), false, nil, []string{ann, bob, carol, dan, eve}},
		{"userName descending", path("userName", ""), true, nil, []string{eve, dan, carol, bob, ann}},
		{"name.familyName ascending, ties by creation, absent last", path("name", "familyName"), false, nil, []string{ann, carol, eve, bob, dan}},
		{"name.familyName descending, ties still by creation, absent last", path("name", "familyName"), true, nil, []string{bob, ann, carol, eve, dan}},
		{"displayName ascending, byte order, absent last", path("displayName", ""), false, nil, []string{eve, ann, bob, dan, carol}},
		{"meta.created ascending", path("meta", "created"), false, nil, []string{ann, bob, carol, dan, eve}},
		{"meta.created descending", path("meta", "created"), true, nil, []string{eve, dan, carol, bob, ann}},
		{"meta.lastModified descending", path("meta", "lastModified"), true, nil, []string{eve, bob, ann, carol, dan}},
		{"active: ties by creation", path("active", ""), false, nil, []string{bob, ann, carol, dan, eve}},
		{"active descending: ties still by creation", path("active", ""), true, nil, []string{ann, carol, dan, eve, bob}},
		{"emails sorts by the primary value, absent last", path("emails", ""), false, nil, []string{ann, bob, dan, eve, carol}},
		{"emails.value descending", path("emails", "value"), true, nil, []string{eve, dan, bob, ann, carol}},
		{"externalId, case-exact byte order", path("externalId", ""), false, nil, []string{bob, ann, eve, dan, carol}},
		{"id", path("id", ""), false, nil, []string{ann, bob, carol, dan, eve}},
		{"meta.resourceType is creation order", path("meta", "resourceType"), true, nil, allUsers},
		{"with a filter", path("userName", ""), true, cmp(aFamilyName, eq, "Archer"), []string{eve, carol, ann}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := f.users(t, f.acme, tt.filter, tt.sortBy, tt.desc)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("pages of a sort with ties are stable", func(t *testing.T) {
		t.Parallel()
		for _, desc := range []bool{false, true} {
			sortBy := path("name", "familyName")
			full, err := f.users(t, f.acme, nil, sortBy, desc)
			if err != nil {
				t.Fatal(err)
			}
			var paged []string
			for off := 0; off < len(full); off += 2 {
				page, err := f.users(t, f.acme, nil, sortBy, desc, 2, off)
				if err != nil {
					t.Fatal(err)
				}
				paged = append(paged, page...)
			}
			if !slices.Equal(paged, full) {
				t.Errorf("desc=%v: pages %q, whole %q", desc, paged, full)
			}
		}
	})

	t.Run("groups", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			sortBy *directory.AttrPath
			desc   bool
			want   []string
		}{
			{nil, false, []string{"Eng", "Sales", "Empty Group"}},
			{path("displayName", ""), false, []string{"Empty Group", "Eng", "Sales"}},
			{path("displayName", ""), true, []string{"Sales", "Eng", "Empty Group"}},
			{path("externalId", ""), true, []string{"Sales", "Eng", "Empty Group"}},
			{path("meta", "created"), true, []string{"Empty Group", "Sales", "Eng"}},
		} {
			order, err := postgres.GroupOrderForTest(tt.sortBy, tt.desc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.strings(t, "SELECT g.display_name FROM groups g WHERE g.org_id = $1 ORDER BY "+order, []any{f.acme})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("sortBy %+v desc=%v: got %q, want %q", tt.sortBy, tt.desc, got, tt.want)
			}
		}
	})
}
