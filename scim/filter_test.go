package scim

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	fp "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scimbridge/internal/directory"
)

func TestParseFilterResolvesNamesAndTypes(t *testing.T) {
	t.Parallel()
	ent := directory.EnterpriseUserURN
	cases := []struct {
		in   string
		want directory.Filter
	}{
		{`USERNAME eq "Ann"`, directory.Compare{Attr: directory.AttrPath{Name: "userName", Type: directory.TypeString}, Op: "eq", Value: "Ann"}},
		{`emails.Value co "x.com"`, directory.Compare{Attr: directory.AttrPath{Name: "emails", Sub: "value", MultiValued: true, Type: directory.TypeString}, Op: "co", Value: "x.com"}},
		{`emails eq "a@x.com"`, directory.Compare{Attr: directory.AttrPath{Name: "emails", Sub: "value", MultiValued: true, Type: directory.TypeString}, Op: "eq", Value: "a@x.com"}},
		{`externalId eq "E"`, directory.Compare{Attr: directory.AttrPath{Name: "externalId", Type: directory.TypeString, CaseExact: true}, Op: "eq", Value: "E"}},
		{`active eq true`, directory.Compare{Attr: directory.AttrPath{Name: "active", Type: directory.TypeBoolean, CaseExact: true}, Op: "eq", Value: true}},
		{`meta.lastModified gt "2020-01-01T00:00:00Z"`, directory.Compare{Attr: directory.AttrPath{Name: "meta", Sub: "lastModified", Type: directory.TypeDateTime, CaseExact: true}, Op: "gt", Value: "2020-01-01T00:00:00Z"}},
		{ent + `:department eq "Eng"`, directory.Compare{Attr: directory.AttrPath{URN: ent, Name: "department", Type: directory.TypeString, CaseExact: true}, Op: "eq", Value: "Eng"}},
		{`userName eq "a" and department eq "Eng"`, directory.And{ // core and extension mixed, extension unprefixed
			Left:  directory.Compare{Attr: directory.AttrPath{Name: "userName", Type: directory.TypeString}, Op: "eq", Value: "a"},
			Right: directory.Compare{Attr: directory.AttrPath{URN: ent, Name: "department", Type: directory.TypeString, CaseExact: true}, Op: "eq", Value: "Eng"}}},
		{`emails[type eq "work" and value ew "@x.com"]`, directory.ValuePath{
			Attr: directory.AttrPath{Name: "emails", MultiValued: true, Type: directory.TypeComplex},
			Filter: directory.And{
				Left:  directory.Compare{Attr: directory.AttrPath{Name: "type", Type: directory.TypeString, CaseExact: true}, Op: "eq", Value: "work"},
				Right: directory.Compare{Attr: directory.AttrPath{Name: "value", Type: directory.TypeString}, Op: "ew", Value: "@x.com"}}}},
		{`not (userName pr)`, directory.Not{Filter: directory.Compare{Attr: directory.AttrPath{Name: "userName", Type: directory.TypeString}, Op: "pr"}}},
		{`title eq "say \"hi\""`, directory.Compare{Attr: directory.AttrPath{Name: "title", Type: directory.TypeString, CaseExact: true}, Op: "eq", Value: `say "hi"`}},
	}
	for _, c := range cases {
		got, err := parseFilter(userCatalogue, c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got  %#v\n want %#v", c.in, got, c.want)
		}
	}
}

func TestParseFilterRejectsWhatItCannotTranslate(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`bogus eq "x"`,
		`emails[bogus eq "x"]`,
		`bogus[type eq "x"]`,
		`userName[value eq "x"]`,
		`name.nope eq "x"`,
		`active gt true`,
		`active eq "yes"`,
		`userName eq`,
		`(userName eq "x"`,
		`emails[type eq "w"][value eq "x"]`,
	} {
		_, err := parseFilter(userCatalogue, in)
		if !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", in, err)
		}
	}
	if _, err := parseFilter(groupCatalogue, `members[value eq "u"] and displayName eq "g"`); err != nil {
		t.Errorf("group filter: %v", err)
	}
	if _, err := parseFilter(groupCatalogue, `userName eq "u"`); err == nil {
		t.Error("userName accepted on groups")
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "x"`, `emails[type eq "work" and value ew "@x.com"]`, `not (a pr)`,
		`name.givenName sw "A" or (title co "x" and active eq true)`, `meta.created gt "2015-10-10T14:38:21.8617979-07:00"`,
		`id eq "g" and members eq "u"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []*catalogue{userCatalogue, groupCatalogue} {
			f, err := parseFilter(c, s)
			if err == nil && f == nil {
				t.Fatalf("%q: nil filter without error", s)
			}
			if err != nil && !errors.Is(err, directory.ErrInvalid) {
				t.Fatalf("%q: error %v is not ErrInvalid", s, err)
			}
		}
	})
}

func TestSimpleEqualityFastPathMatchesTheParser(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`userName eq "Ann"`, `externalId eq "27e6c4d1"`, `emails.value eq "a@x.com"`, `name.givenName eq "x\"y"`, `displayName eq ""`, `bogus eq "x"`} {
		if !simpleEq.MatchString(s) {
			t.Fatalf("%s: not on the fast path", s)
		}
		fast, ferr := parseFilter(userCatalogue, s)
		expr, err := fp.ParseFilter([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		slow, serr := userCatalogue.convert(expr, nil, 0, &filterBudget{})
		if !reflect.DeepEqual(fast, slow) || (ferr == nil) != (serr == nil) {
			t.Errorf("%s: fast %#v (%v), parser %#v (%v)", s, fast, ferr, slow, serr)
		}
	}
}

func TestFilterCostIsBounded(t *testing.T) {
	t.Parallel()
	clauses := func(n int, clause string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(clause, i)
		}
		return strings.Join(parts, " or ")
	}
	for _, c := range []struct {
		name, filter string
		ok           bool
	}{
		{"two comparisons", `id eq "g" and userName eq "u"`, true},
		{"ten comparisons", clauses(10, `userName eq "u%d"`), true},
		{"eleven comparisons", clauses(11, `userName eq "u%d"`), false},
		{"a hundred and fifty value filters", clauses(150, `emails[type co "%d"]`), false},
		{"three value filters", clauses(3, `emails[type co "%d"]`), true},
		{"four value filters", clauses(4, `emails[type co "%d"]`), false},
		{"comparisons inside value filters count", `emails[type eq "a" or type eq "b" or type eq "c" or type eq "d" or type eq "e" or type eq "f"] or ` + clauses(5, `userName eq "u%d"`), false},
	} {
		_, err := parseFilter(userCatalogue, c.filter)
		if c.ok && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, directory.ErrInvalid) {
			t.Errorf("%s: got %v, want an invalid filter", c.name, err)
		}
	}
}
