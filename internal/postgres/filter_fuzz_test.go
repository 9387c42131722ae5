package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// FuzzFilterSQL builds filters from fuzzed bytes (the translator takes any
// directory.Filter, not only what the SCIM parser makes), translates them
// and runs the SQL against real PostgreSQL. The oracles:
//   - a translation error is ErrInvalid and leaves the caller's
//     arguments as they were;
//   - the SQL runs without error;
//   - it never reads another organization's rows: the answer for
//     organization acme is the same in a database where organization
//     other holds the same ids with other names, documents and
//     memberships (the filter fixture's), and in one where acme is
//     alone. A subquery or join that lost its org_id correlation finds
//     other's rows in the first and not in the second;
//   - every row returned is acme's.
func FuzzFilterSQL(f *testing.F) {
	both, alone := filterDB(f, true), filterDB(f, false)
	for _, seed := range filterSeeds {
		f.Add(seed.users, seed.prog, seed.s1, seed.s2)
	}
	f.Fuzz(func(t *testing.T, users bool, prog []byte, s1, s2 string) {
		g := &filterGen{prog: prog, strs: []string{s1, s2}}
		flt := g.filter(0, false)
		translate := postgres.GroupFilterForTest
		sql := "SELECT g.org_id::text, g.id::text FROM groups g WHERE g.org_id = $1 AND ("
		if users {
			translate = postgres.UserFilterForTest
			sql = "SELECT u.org_id::text, u.id::text FROM users u WHERE u.org_id = $1 AND u.source = 'scim' AND ("
		}
		where, args, err := translate(flt, fuzzAcme)
		if err != nil {
			if !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("%#v: error %v is not ErrInvalid", flt, err)
			}
			if len(args) != 1 || args[0] != fuzzAcme {
				t.Fatalf("%#v: a failed translation changed the arguments to %q", flt, args)
			}
			return
		}
		sql += where + ") ORDER BY 2"
		got := orgRows(t, both, sql, args, flt)
		for _, r := range got {
			if r[0] != fuzzAcme {
				t.Fatalf("%#v matched %v, a row of another organization", flt, r)
			}
		}
		if want := orgRows(t, alone, sql, args, flt); !slices.Equal(got, want) {
			t.Fatalf("%#v reads other organizations' rows: with them %v, without %v\n%s\nargs %q", flt, got, want, sql, args)
		}
		// The handlers' own statements (a key's index probed first, then
		// filtered, sorted and paged) find exactly what the filter does.
		var listed []string
		q := directory.ListQuery{Filter: flt, StartIndex: 1, Count: 100}
		if users {
			list, total, err := both.ListUsers(context.Background(), fuzzAcme, q)
			if err != nil {
				t.Fatalf("%#v: ListUsers: %v", flt, err)
			}
			for _, u := range list {
				listed = append(listed, u.ID)
			}
			if total != len(list) {
				t.Fatalf("%#v: ListUsers counts %d for %d rows", flt, total, len(list))
			}
		} else {
			list, total, err := both.ListGroups(context.Background(), fuzzAcme, q)
			if err != nil {
				t.Fatalf("%#v: ListGroups: %v", flt, err)
			}
			for _, g := range list {
				listed = append(listed, g.ID)
			}
			if total != len(list) {
				t.Fatalf("%#v: ListGroups counts %d for %d rows", flt, total, len(list))
			}
		}
		slices.Sort(listed)
		var ids []string
		for _, r := range got {
			ids = append(ids, r[1])
		}
		if !slices.Equal(listed, ids) {
			t.Fatalf("%#v: the list statements find %v, the filter %v", flt, listed, ids)
		}
	})
}

// orgRows runs sql and returns its (org_id, id) rows.
func orgRows(t *testing.T, db *postgres.DB, sql string, args []any, flt directory.Filter) [][2]string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%#v: the query fails:\n%s\nargs %q\n%v", flt, sql, args, err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var r [2]string
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%#v: the query fails:\n%s\nargs %q\n%v", flt, sql, args, err)
	}
	return out
}

// The organizations of the fuzz databases, under fixed ids so that the
// same id names acme in both.
const (
	fuzzAcme  = "aaaaaaaa-0000-4000-8000-00000000a0a0"
	fuzzOther = "bbbbbbbb-0000-4000-8000-00000000b0b0"
)

// filterDB is a database holding the filter fixture's organizations acme
// and, when withOther, other: the same users and groups under the same
// ids, other's display names prefixed "Other ", with other memberships
// (acme: Eng = {Ann, bob}, Sales = {bob}; other: Eng = {carol}, Sales =
// {Ann}).
func filterDB(t testing.TB, withOther bool) *postgres.DB {
	t.Helper()
	db := pgtest.DB(t)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool.Exec(context.Background(), sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	orgs := []string{fuzzAcme}
	if withOther {
		orgs = append(orgs, fuzzOther)
	}
	for _, org := range orgs {
		slug := map[string]string{fuzzAcme: "acme", fuzzOther: "other"}[org]
		exec(`INSERT INTO organizations (id, slug, name) VALUES ($1, $2, $2)`, org, slug)
		for _, su := range seedUsers() {
			if org == fuzzOther {
				if d, ok := su.doc["displayName"].(string); ok {
					su.doc["displayName"] = "Other " + d
				}
			}
			u := directory.User{Attributes: su.doc}
			if err := u.Derive(); err != nil {
				t.Fatal(err)
			}
			doc, err := json.Marshal(su.doc)
			if err != nil {
				t.Fatal(err)
			}
			exec(`INSERT INTO users (org_id, id, user_name, external_id, active, display_name,
					given_name, family_name, emails, attributes, created_at, updated_at)
				VALUES ($1, $2, $3, nullif($4, ''), $5, nullif($6, ''), nullif($7, ''), nullif($8, ''), $9, $10::jsonb, $11, $12)`,
				org, su.id, u.UserName, su.externalID, u.Active, u.DisplayName, u.GivenName, u.FamilyName,
				u.Emails, string(doc), ts(su.created), ts(su.updated))
		}
		exec(`INSERT INTO groups (org_id, id, display_name, external_id, attributes, created_at, updated_at) VALUES
			($1, $2, $5 || 'Eng', 'g-eng', '{"description": "Engineering"}', '2020-01-01T00:00:00Z', '2020-02-01T00:00:00Z'),
			($1, $3, $5 || 'Sales', 'g-sales', '{}', '2021-01-01T00:00:00Z', '2021-02-01T00:00:00Z'),
			($1, $4, $5 || 'Empty Group', NULL, '{}', '2022-01-01T00:00:00Z', '2022-02-01T00:00:00Z')`,
			org, idEng, idSales, idEmpty, map[string]string{fuzzAcme: "", fuzzOther: "Other "}[org])
	}
	exec(`INSERT INTO group_members (org_id, group_id, user_id) VALUES ($1, $2, $4), ($1, $2, $5), ($1, $3, $5)`,
		fuzzAcme, idEng, idSales, idAnn, idBob)
	if withOther {
		exec(`INSERT INTO group_members (org_id, group_id, user_id) VALUES ($1, $2, $4), ($1, $3, $5)`,
			fuzzOther, idEng, idSales, idCarol, idAnn)
	}
	return db
}

// filterGen decodes a filter from fuzzed bytes; past the end it reads
// zeros, which close every branch with a comparison.
type filterGen struct {
	prog []byte
	pos  int
	strs []string // the fuzzed strings, first in the value pool
}

func (g *filterGen) next() int {
	if g.pos >= len(g.prog) {
		return 0
	}
	g.pos++
	return int(g.prog[g.pos-1])
}

// fuzzAttrs are the attribute paths the SCIM adapter resolves filters to,
// and a few it refuses; the last entry (index len) is built from the
// fuzzed strings.
var fuzzAttrs = []directory.AttrPath{
	aID, aUserName, aExternalID, aDisplayName, aNickName, aTitle, aActive, aGivenName, aFamilyName, aFamilyNameCI,
	aFormatted, aName, aEmails, aEmailValue, aEmailType, aEmailPrim, aAddresses, aLocality, aPhoneValue, aX509Value,
	aCreated, aLastMod, aResType, aGroups, aGroupsValue, aGroupsDisp, aDepartment, aManager, aManagerAll, aLevel,
	aStartDate, aRemote, aMembers, aMembersDisp, aDescription,
	{Name: "members", Sub: "value", MultiValued: true, CaseExact: true},
	{Name: "emails", MultiValued: true, Type: directory.TypeComplex, CaseExact: true},
	{Name: "meta"}, {Name: "meta", Sub: "version"}, {Name: "password"}, {Name: "schemas"}, {Name: "id", Sub: "x"},
}

// fuzzSubs are the sub-attributes compared inside a value path.
var fuzzSubs = []string{"value", "type", "primary", "display", "locality", "givenName", "country", "nope", ""}

var fuzzOps = []directory.CompareOp{eq, ne, co, sw, ew, directory.OpPr, gt, ge, lt, le, "zz"}

// fuzzValues follow the two fuzzed strings in the value pool: the
// fixture's values, so that comparisons hit rows, and other's names,
// which only a leak can match.
var fuzzValues = []string{"ann", "ANN@X.COM", "work", "Archer", "Paris", "Eng", "Sales", "Other Ann Archer", "Other Eng",
	"Other Sales", idAnn, idBob, idCarol, idEng, idSales, "2015-10-10T14:38:21.8617979-07:00", "2020-01-01T00:00:00Z",
	"", "%", "_", "\\", "a\x00b", "\xff"}

func (g *filterGen) str() string {
	i := g.next() % (len(g.strs) + len(fuzzValues))
	if i < len(g.strs) {
		return g.strs[i]
	}
	return fuzzValues[i-len(g.strs)]
}

func (g *filterGen) filter(depth int, inValuePath bool) directory.Filter {
	k := g.next() % 8
	if depth >= 6 {
		k = 0
	}
	switch k {
	case 1:
		return directory.And{Left: g.filter(depth+1, inValuePath), Right: g.filter(depth+1, inValuePath)}
	case 2:
		return directory.Or{Left: g.filter(depth+1, inValuePath), Right: g.filter(depth+1, inValuePath)}
	case 3:
		return directory.Not{Filter: g.filter(depth+1, inValuePath)}
	case 4:
		return directory.ValuePath{Attr: g.attr(), Filter: g.filter(depth+1, true)}
	case 5:
		c := g.compare(inValuePath)
		return &c
	case 6:
		if depth > 0 {
			return nil // an empty operand
		}
	}
	return g.compare(inValuePath)
}

func (g *filterGen) compare(inValuePath bool) directory.Compare {
	var a directory.AttrPath
	if inValuePath {
		a = directory.AttrPath{Name: fuzzSubs[g.next()%len(fuzzSubs)], CaseExact: g.next()%2 == 1}
	} else {
		a = g.attr()
	}
	return directory.Compare{Attr: a, Op: fuzzOps[g.next()%len(fuzzOps)], Value: g.value()}
}

func (g *filterGen) attr() directory.AttrPath {
	i := g.next() % (len(fuzzAttrs) + 1)
	if i < len(fuzzAttrs) {
		return fuzzAttrs[i]
	}
	a := directory.AttrPath{Name: g.str(), Sub: g.str(), MultiValued: g.next()%2 == 1, Type: directory.AttrType(g.next() % 8), CaseExact: g.next()%2 == 1}
	if g.next()%2 == 1 {
		a.URN = g.str()
	}
	return a
}

func (g *filterGen) value() any {
	switch g.next() % 9 {
	case 0:
		return nil
	case 1, 2:
		return g.str()
	case 3:
		return g.next()%2 == 1
	case 4:
		return int64(int8(g.next()))
	case 5:
		return float64(int8(g.next())) / 4
	case 6:
		return g.next()
	case 7:
		return int32(g.next())
	}
	return []byte("unsupported")
}

// Seed programs, spelt with the generator's choices.
func sAttr(a directory.AttrPath) byte {
	for i, x := range fuzzAttrs {
		if x == a {
			return byte(i)
		}
	}
	panic("no such fuzz attribute")
}

func sOp(op directory.CompareOp) byte { return byte(slices.Index(fuzzOps, op)) }

func sStr(v string) []byte { return []byte{1, byte(2 + slices.Index(fuzzValues, v))} }

func sCmp(a directory.AttrPath, op directory.CompareOp, v []byte) []byte {
	return append([]byte{0, sAttr(a), sOp(op)}, v...)
}

func sSub(name string, op directory.CompareOp, v []byte) []byte {
	return append([]byte{0, byte(slices.Index(fuzzSubs, name)), 0, sOp(op)}, v...)
}

func sJoin(k byte, parts ...[]byte) []byte { return slices.Concat(append([][]byte{{k}}, parts...)...) }

var filterSeeds = []struct {
	users  bool
	prog   []byte
	s1, s2 string
}{
	{true, sCmp(aUserName, eq, sStr("ann")), "", ""},
	{true, sCmp(aGroupsDisp, eq, sStr("Other Eng")), "", ""},
	{true, sCmp(aGroupsDisp, co, sStr("Eng")), "", ""},
	{true, sCmp(aGroupsValue, eq, sStr(idSales)), "", ""},
	{true, sCmp(aGroups, ne, sStr(idEng)), "", ""},
	{true, sJoin(4, []byte{sAttr(aGroups)}, sSub("display", eq, sStr("Other Sales"))), "", ""},
	{true, sJoin(4, []byte{sAttr(aEmails)}, sJoin(1, sSub("type", eq, sStr("work")), sSub("value", eq, sStr("ANN@X.COM")))), "", ""},
	{true, sJoin(2, sCmp(aDisplayName, sw, sStr("Other")), sJoin(3, sCmp(aActive, eq, []byte{3, 1}))), "", ""},
	{true, sCmp(aLevel, gt, []byte{4, 12}), "", ""},
	{true, sCmp(aStartDate, ge, sStr("2020-01-01T00:00:00Z")), "", ""},
	{true, sCmp(aCreated, lt, sStr("2015-10-10T14:38:21.8617979-07:00")), "", ""},
	{true, sCmp(aDepartment, co, []byte{1, 0}), "' OR 1=1 --", ""},
	{true, []byte{0, byte(len(fuzzAttrs)), 0, 1, 0, 0, sOp(eq), 1, 1}, "a'->>'b", "hostile-key"},
	{true, sJoin(1, sCmp(aUserName, eq, []byte{1, 0}), []byte{6}), "x", ""},
	{true, sJoin(4, []byte{sAttr(aEmails)}, sJoin(4, []byte{sAttr(aEmails)}, sSub("value", directory.OpPr, nil))), "", ""},
	{false, sCmp(aMembersDisp, eq, sStr("Other Ann Archer")), "", ""},
	{false, sCmp(aMembers, eq, sStr(idAnn)), "", ""},
	{false, sJoin(4, []byte{sAttr(aMembers)}, sSub("display", sw, sStr("Other"))), "", ""},
	{false, sJoin(3, sCmp(aMembers, directory.OpPr, nil)), "", ""},
	{false, sCmp(aDisplayName, ew, sStr("Eng")), "", ""},
}
