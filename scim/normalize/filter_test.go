package normalize

import (
	"strings"
	"testing"

	fp "github.com/scim2/filter-parser/v2"
)

func assertParses(t testing.TB, filter string) fp.Expression {
	t.Helper()
	e, err := fp.ParseFilter([]byte(filter))
	if err != nil {
		t.Fatalf("fp.ParseFilter(%q): %v", filter, err)
	}
	return e
}

func TestFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Resource
		in   string
		want string
	}{
		{"quoted RFC filter is unchanged", User, `userName eq "bjensen"`, `userName eq "bjensen"`},
		{"Entra Test Connection unquoted externalId", User, `externalId eq jyoung`, `externalId eq "jyoung"`},
		{"unquoted GUID", User, `userName eq 27e6c4d1-5a0b-4c3d-8e9f-0a1b2c3d4e5f`, `userName eq "27e6c4d1-5a0b-4c3d-8e9f-0a1b2c3d4e5f"`},
		{
			"unquoted values inside parentheses end at )", User,
			`name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)`,
			`name.FamilyName eq "Employee" and (emails.Value co "example.com" or emails.Value co "example.org")`,
		},
		{"unquoted dateTime", User, `meta.Created gt 2015-10-10T14:38:21.8617979-07:00`, `meta.Created gt "2015-10-10T14:38:21.8617979-07:00"`},
		{
			"Entra tutorial example 4: id and manager unquoted", User,
			`id eq 54D6F9B5-1A2B-4C3D-9E8F-0A1B2C3D4E5F and manager eq 2819c223-7f76-453a-919d-413861904646`,
			`id eq "54D6F9B5-1A2B-4C3D-9E8F-0A1B2C3D4E5F" and manager eq "2819c223-7f76-453a-919d-413861904646"`,
		},
		{"true stays a boolean", User, `active eq true`, `active eq true`},
		{"True is lower-cased, not quoted", User, `active eq True`, `active eq true`},
		{"false and null stay literals", User, `active eq FALSE or title eq null`, `active eq false or title eq null`},
		{"integers stay numbers", User, `x eq 12`, `x eq 12`},
		{"decimals and exponents stay numbers", User, `x gt -1.5E+3`, `x gt -1.5E+3`},
		{"a leading zero is not a JSON number", User, `x eq 007`, `x eq "007"`},
		{"an overflowing number becomes a string", User, `x eq 1e999`, `x eq "1e999"`},
		{"operators and keywords are lower-cased", User, `userName EQ "a" AND not (title Pr) OR nickName Sw "b"`, `userName eq "a" and not (title pr) or nickName sw "b"`},
		{"whitespace is normalised", User, "  userName\teq  \"a\"\n and\r\n(id  eq \"b\")  ", `userName eq "a" and (id eq "b")`},
		{"not without a space", User, `not(userName eq "a")`, `not (userName eq "a")`},
		{"parentheses with inner spaces", User, `( userName eq "a" )`, `(userName eq "a")`},
		{"Entra value path with sub-attribute becomes one bracket filter", User, `emails[type eq "work"].value eq "x@y.z"`, `emails[type eq "work" and value eq "x@y.z"]`},
		{"value path with unquoted values", User, `emails[type eq work].value co example.com`, `emails[type eq "work" and value co "example.com"]`},
		{"value path kept", User, `emails[type eq "work" and value ew "@x.com"]`, `emails[type eq "work" and value ew "@x.com"]`},
		{"space before a bracket", User, `emails [type eq "work"]`, `emails[type eq "work"]`},
		{"not inside a bracket", User, `emails[not (type eq "work")]`, `emails[not (type eq "work")]`},
		{"Entra membership check", Group, `id eq "g-1" and members eq "u-1"`, `id eq "g-1" and members eq "u-1"`},
		{"unquoted membership check", Group, `id eq g-1 and members eq u-1`, `id eq "g-1" and members eq "u-1"`},
		{"Okta group lookup", Group, `displayName eq "Okta Push Test SCIMv2"`, `displayName eq "Okta Push Test SCIMv2"`},
		{"an unquoted quote and backslash are escaped", User, `userName eq ab"c\d`, `userName eq "ab\"c\\d"`},
		{"escapes are re-encoded in the form the parser accepts", User, `userName eq "\u00e9\/\t"`, `userName eq "é/\t"`},
		{"a raw tab in a string is escaped", User, "userName eq \"a\tb\"", `userName eq "a\tb"`},
		{"control characters use upper-case hex", User, `userName eq "\u0001"`, `userName eq "\u0001"`},
		{"surrogate pairs are decoded", User, `userName eq "\ud83d\ude00"`, `userName eq "😀"`},
		{"escaped quotes are kept", User, `userName eq "a \"q\" b"`, `userName eq "a \"q\" b"`},
		{"enterprise URN in another case is spelled exactly", User, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:department eq "D"`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "D"`},
		{"malformed enterprise URN is corrected", User, `urn:ietf:params:scim:schemas:extension:enterprise:2.0User:manager.value eq m`, `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m"`},
		{"core URN in another case", Group, `URN:ietf:params:scim:schemas:core:2.0:group:displayName eq "G"`, `urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "G"`},
		{"attribute named like a keyword", User, `not eq "x" or and eq "y"`, `not eq "x" or and eq "y"`},
		{"$ref attribute", Group, `members.$ref eq "x"`, `members.$ref eq "x"`},
		{"pr at the end", User, `title pr`, `title pr`},
		{"precedence is preserved", User, `a eq 1 or b eq 2 and c eq 3`, `a eq 1 or b eq 2 and c eq 3`},
		{"empty filter", User, ``, ``},
		{"blank filter", User, "  \t ", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Filter(tt.r, tt.in)
			if err != nil {
				t.Fatalf("Filter(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Filter(%q)\n got  %s\n want %s", tt.in, got, tt.want)
			}
			if got == "" {
				return
			}
			assertParses(t, got)
			again, err := Filter(tt.r, got)
			if err != nil || again != got {
				t.Errorf("not idempotent: Filter(%q) = %q, %v", got, again, err)
			}
		})
	}
}

// TestFilterInjectionValuesStayOneValue checks that values which look like SQL
// reach the handler as one string compared to one attribute.
func TestFilterInjectionValuesStayOneValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in        string
		wantValue string // as the parser returns it (escapes not decoded)
	}{
		{`userName eq "x' OR 1=1 --"`, `x' OR 1=1 --`},
		{`userName eq x';DROP`, `x';DROP`},
		{`userName eq x';DROP TABLE users;--`, ``}, // the space ends the token: refused
		{`userName eq 1;DELETE`, `1;DELETE`},
		{`userName eq "a\" or userName pr or \"b"`, `a\" or userName pr or \"b`},
		{`userName eq a"or"b`, `a\"or\"b`},
		{`userName eq x)--`, ``}, // ")" ends the token: refused
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Filter(User, tt.in)
			if tt.wantValue == "" {
				if err == nil {
					t.Fatalf("Filter(%q) = %q, want an error", tt.in, got)
				}
				assertError(t, err, "invalidFilter")
				return
			}
			if err != nil {
				t.Fatalf("Filter(%q): %v", tt.in, err)
			}
			e, ok := assertParses(t, got).(*fp.AttributeExpression)
			if !ok {
				t.Fatalf("Filter(%q) = %q parses as %T, want one comparison", tt.in, got, e)
			}
			if e.AttributePath.AttributeName != "userName" || e.Operator != fp.EQ || e.CompareValue != tt.wantValue {
				t.Errorf("Filter(%q) = %q parses as %v %v %#v, want userName eq %q", tt.in, got, e.AttributePath, e.Operator, e.CompareValue, tt.wantValue)
			}
		})
	}
}

func TestFilterRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		fragments []string
	}{
		{"too long", `userName eq "` + strings.Repeat("a", 4100) + `"`, []string{"filter too long"}},
		{"too long once quoted", `userName eq "` + strings.Repeat("\t", 4000) + `"`, []string{"too long once its values are quoted"}},
		{"nested too deep", strings.Repeat("(", 33) + `a pr` + strings.Repeat(")", 33), []string{"deeper than 32"}},
		{"nested not too deep", strings.Repeat("not (", 33) + `a pr` + strings.Repeat(")", 33), []string{"deeper than 32"}},
		{"missing value", `userName eq`, []string{`expected a value after "eq"`}},
		{"missing value before )", `(userName eq )`, []string{`expected a value after "eq", found ")"`}},
		{"missing operator", `userName`, []string{`expected a comparison operator after "userName"`}},
		{"unknown operator", `userName is "x"`, []string{`after "userName", found "is"`}},
		{"unbalanced (", `(userName eq "x"`, []string{`expected ")"`}},
		{"unbalanced )", `userName eq "x")`, []string{`expected "and" or "or", found ")"`}},
		{"dangling and", `userName eq "x" and`, []string{"expected an expression"}},
		{"junk after expression", `userName eq "x" foo`, []string{`expected "and" or "or", found "foo"`}},
		{"unterminated string", `userName eq "x`, []string{"unterminated string"}},
		{"bad escape", `userName eq "\x"`, []string{`invalid escape \x`}},
		{"bad unicode escape", `userName eq "\u12"`, []string{`invalid \u escape`}},
		{"lone surrogate", `userName eq "\ud800"`, []string{"unpaired surrogate"}},
		{"not without parentheses", `not userName eq "x"`, []string{`"not" must be followed by a parenthesised filter`}},
		{"bad attribute name", `1abc eq "x"`, []string{`"1abc" is not a valid attribute name`}},
		{"too many dots", `a.b.c eq "x"`, []string{"not a valid attribute path"}},
		{"bad URN", `urn::x:a eq "x"`, []string{"not a valid schema URN prefix"}},
		{"three comparisons in brackets", `emails[type eq "a" and value eq "b" and primary eq true]`, []string{"at most two comparisons"}},
		{"parentheses in brackets", `emails[(type eq "a")]`, []string{"parentheses inside []"}},
		{"nested brackets", `emails[x[y eq 1]]`, []string{"cannot be nested"}},
		{"compound bracket with sub-attribute comparison", `emails[type eq "a" or type eq "b"].value eq "x"`, []string{"must be a single comparison"}},
		{"sub-attribute after bracket without operator", `emails[type eq "a"].value`, []string{"expected a comparison operator"}},
		{"bad sub-attribute after bracket", `emails[type eq "a"].1 eq "x"`, []string{"not a sub-attribute name"}},
		{"unclosed bracket", `emails[type eq "a"`, []string{`expected "]"`}},
		{"invalid UTF-8", "userName eq \"\xff\"", []string{"not valid UTF-8"}},
		{"operator glued to value is a different word", `userName eqx`, []string{`found "eqx"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Filter(User, tt.in)
			if err == nil {
				t.Fatalf("Filter(%q) = %q, want an error", tt.in, got)
			}
			assertError(t, err, "invalidFilter", tt.fragments...)
		})
	}
}

func TestFilterDepthLimitIsInclusive(t *testing.T) {
	t.Parallel()
	in := strings.Repeat("(", 32) + `a pr` + strings.Repeat(")", 32)
	got, err := Filter(User, in)
	if err != nil {
		t.Fatalf("32 levels: %v", err)
	}
	assertParses(t, got)
}

func TestFilterUnknownResource(t *testing.T) {
	t.Parallel()
	_, err := Filter(Resource(-1), `a pr`)
	assertError(t, err, "invalidValue", "unknown resource type")
}
