package normalize

import (
	"strings"
	"testing"
)

// These cases sit on the edges of the normaliser's rules (lengths, nesting,
// character classes, number syntax, escapes), where mutation testing found
// that moving a bound by one went unnoticed.

func TestFilterEdges(t *testing.T) {
	t.Parallel()
	atLimit := `userName eq "` + strings.Repeat("x", maxFilterLen-len(`userName eq ""`)) + `"`
	cases := []struct {
		name, in, want, err string // err: the error's text, "" when accepted
	}{
		{"a filter of exactly the length limit is kept", atLimit, atLimit, ""},
		{"one byte over the limit is refused", atLimit + " ", "", "invalidFilter: filter too long (4097 bytes, at most 4096)"},
		{"nesting at the depth limit is kept", strings.Repeat("(", maxFilterDepth) + "a eq 1" + strings.Repeat(")", maxFilterDepth),
			strings.Repeat("(", maxFilterDepth) + "a eq 1" + strings.Repeat(")", maxFilterDepth), ""},
		{"nesting one deeper is refused", strings.Repeat("(", maxFilterDepth+1) + "a eq 1" + strings.Repeat(")", maxFilterDepth+1),
			"", "invalidFilter: filter nests deeper than 32 levels at offset 33"},
		{"names take every letter and digit at the ends of their ranges", "aZ09 eq 1", "aZ09 eq 1", ""},
		{"names take upper case at the start of the range", "AzAZ eq 1", "AzAZ eq 1", ""},
		{"unquoted words become strings", "userName eq aZ09", `userName eq "aZ09"`, ""},
		{"a number with 0 and 9 stays a number", "userName eq 10.09", "userName eq 10.09", ""},
		{"a number ending in 9 stays a number", "userName eq 19", "userName eq 19", ""},
		{"a number with a capital exponent stays a number", "userName eq 1E5", "userName eq 1E5", ""},
		{"a number with a signed exponent stays a number", "userName eq 10e+2", "userName eq 10e+2", ""},
		{"a number without its fraction digits is a string", "userName eq 1.", `userName eq "1."`, ""},
		{"a number without its exponent digits is a string", "userName eq 12e", `userName eq "12e"`, ""},
		{"a string ending in a backslash is unterminated", `userName eq "abc\`, "", "invalidFilter: unterminated string at offset 12"},
		{"a string ending in a \\u escape is unterminated", `userName eq "\u00e9`, "", "invalidFilter: unterminated string at offset 12"},
		{"a bad \\u escape is reported where it starts", `userName eq "\u00zz"`, "", `invalidFilter: invalid \u escape in string at offset 13`},
		{"the last code point before the surrogates is kept", `userName eq "\uD7FF"`, "userName eq \"\ud7ff\"", ""},
		{"a lone low surrogate is refused", `userName eq "\uDFFF"`, "", `invalidFilter: invalid \u escape in string (unpaired surrogate) at offset 13`},
		{"the first surrogate pair decodes", `userName eq "\uD800\uDC00"`, "userName eq \"\U00010000\"", ""},
		{"the first high and last low surrogate decode", `userName eq "\uD800\uDFFF"`, "userName eq \"\U000103FF\"", ""},
		{"the last surrogate pair decodes", `userName eq "\uDBFF\uDFFF"`, "userName eq \"\U0010FFFF\"", ""},
		{"a high surrogate before a non-surrogate is refused", `userName eq "\uD800\uE000"`, "", `invalidFilter: invalid \u escape in string (unpaired surrogate) at offset 13`},
		{"groups one after the other do not add up to depth", strings.Repeat("(a eq 1) and ", 40) + "(a eq 1)", strings.Repeat("(a eq 1) and ", 40) + "(a eq 1)", ""},
		{"an invalid escape is reported where it starts", `userName eq "a\x"`, "", `invalidFilter: invalid escape \x in string at offset 14`},
		{"sub-attribute names may start with z", "name.zed eq 1", "name.zed eq 1", ""},
		{"sub-attribute names may start with Z", "name.Zed eq 1", "name.Zed eq 1", ""},
		{"sub-attribute names take a to z, A to Z, digits, - and _", "name.xazAZ09-_ eq 1", "name.xazAZ09-_ eq 1", ""},
		{"an empty URN prefix is refused as such", ":userName eq 1", "", `invalidFilter: "" is not a valid schema URN prefix at offset 0`},
		{"an empty attribute name before a dot is refused as such", ".x eq 1", "", `invalidFilter: ".x" is not a valid attribute name at offset 0`},
		{"two high surrogates are refused", `userName eq "\uD800\uDBFF"`, "", `invalidFilter: invalid \u escape in string (unpaired surrogate) at offset 13`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Filter(User, c.in)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("Filter(%.60q) = %q, %v; want the error %q", c.in, got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Filter(%.60q) = %.80q, %v; want %.80q", c.in, got, err, c.want)
			}
		})
	}
}

func TestBodyEdges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		resource Resource
		in, want string
	}{
		{"primary given first is still made a boolean", User,
			`{"userName":"u","emails":[{"primary":"True","value":"a"}]}`,
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u","emails":[{"primary":true,"value":"a"}]}`},
		{"a member's displayName given first becomes display", Group,
			`{"displayName":"g","members":[{"displayName":"B","value":"u"}]}`,
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g","members":[{"display":"B","value":"u"}]}`},
		{"a member's display given first wins over displayName", Group,
			`{"displayName":"g","members":[{"display":"A","displayName":"B","value":"u"}]}`,
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"g","members":[{"display":"A","displayName":"B","value":"u"}]}`},
		{"an array nested to the depth limit is kept", User,
			`{"userName":"u","x":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`,
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u","x":` + strings.Repeat("[", maxJSONDepth-1) + strings.Repeat("]", maxJSONDepth-1) + `}`},
		{"an array nested one deeper is refused", User,
			`{"userName":"u","x":` + strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth) + `}`,
			"invalidSyntax: the body nests deeper than 64 levels"},
		{"objects nested past the depth limit are refused", User,
			`{"userName":"u","x":` + strings.Repeat(`{"a":`, maxJSONDepth+5) + "1" + strings.Repeat("}", maxJSONDepth+5) + `}`,
			"invalidSyntax: the body nests deeper than 64 levels"},
		{"a body cut inside a string ends early", User, `{"userName":"u`, "invalidSyntax: the body is not valid JSON: unexpected end"},
		{"a body cut after a member ends early", User, `{"userName":"u",`, "invalidSyntax: the body is not valid JSON: unexpected end"},
		{"the bare enterprise prefix is no attribute", User,
			`{"userName":"u","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:":"x"}`,
			`invalidValue: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:" is not a valid enterprise extension attribute`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Body(c.resource, []byte(c.in))
			if err != nil {
				got = []byte(err.Error())
			}
			if string(got) != c.want {
				t.Fatalf("Body(%.80s) = %.120s; want %.120s", c.in, got, c.want)
			}
		})
	}
}

func TestPatchEdges(t *testing.T) {
	t.Parallel()
	ops := func(s ...string) string {
		return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(s, ",") + `]}`
	}
	pathAt := func(n int) string { // a remove at a path of n bytes, already normal
		return `{"op":"remove","path":"emails[value eq \"` + strings.Repeat("x", n-len(`emails[value eq ""]`)) + `\"]"}`
	}
	many := func(n int) string {
		list := make([]string, n)
		for i := range list {
			list[i] = `{"op":"add","path":"members","value":[{"value":"u"}]}`
		}
		return ops(list...)
	}
	cases := []struct {
		name     string
		resource Resource
		in, want string // want: the output, or the error's text
	}{
		{"path given first is read", User, ops(`{"path":"userName","op":"replace","value":"x"}`), ops(`{"op":"replace","path":"userName","value":"x"}`)},
		{"value given first is read", User, ops(`{"value":"x","op":"replace","path":"userName"}`), ops(`{"op":"replace","path":"userName","value":"x"}`)},
		{"an empty object replaces a complex attribute", User, ops(`{"op":"replace","path":"name","value":{}}`), ops(`{"op":"replace","path":"name","value":{}}`)},
		{"a manager id becomes its object", User, ops(`{"op":"replace","path":"manager","value":"m"}`),
			ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m"}}`)},
		{"a member id becomes its object", Group, ops(`{"op":"add","path":"members","value":["u1"]}`), ops(`{"op":"add","path":"members","value":[{"value":"u1"}]}`)},
		{"an empty member id is refused", Group, ops(`{"op":"add","path":"members","value":[""]}`), "invalidValue: operation 1: members entry 1 is an empty string"},
		{"members removed by id become filtered removes", Group, ops(`{"op":"remove","path":"members","value":["u1"]}`), ops(`{"op":"remove","path":"members[value eq \"u1\"]"}`)},
		{"an empty member id to remove is refused", Group, ops(`{"op":"remove","path":"members","value":[""]}`), "invalidValue: operation 1: members entry 1 is an empty string"},
		{"a manager removed by id keeps its object", User, ops(`{"op":"remove","path":"manager","value":"m"}`),
			ops(`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m"}}`)},
		{"a manager removed by a number is refused", User, ops(`{"op":"remove","path":"manager","value":5}`),
			`invalidValue: operation 1: attribute "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": manager must be an object with "value" or a string id, not a number`},
		{"a null in a group's members value is dropped, not a remove", Group, ops(`{"op":"replace","path":"members","value":{"value":"u1","display":null}}`),
			ops(`{"op":"replace","path":"members","value":[{"value":"u1"}]}`)},
		{"a path of exactly the length limit is kept", User, ops(pathAt(maxFilterLen)), ops(pathAt(maxFilterLen))},
		{"a path one byte longer is refused", User, ops(pathAt(maxFilterLen + 1)), "…: path too long (4097 bytes, at most 4096)"},
		{"operations up to both bounds are counted one by one", Group, many(MaxOperations + MaxMemberValues),
			"invalidValue: operation 10001: more than 10000 members named in one PATCH (an operation on members that names none counts as one): send the change in several requests"},
		{"operations past both bounds are refused at once", Group, many(MaxOperations + MaxMemberValues + 1),
			"invalidValue: 10201 operations in one PATCH, at most 200 (and 10000 more on a group's members): send them in several requests"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Patch(c.resource, []byte(c.in))
			if err != nil {
				got = []byte(err.Error())
			}
			if suffix, ok := strings.CutPrefix(c.want, "…"); ok && strings.HasSuffix(string(got), suffix) {
				return
			}
			if string(got) != c.want {
				t.Fatalf("Patch(%.100s) = %.200s; want %.200s", c.in, got, c.want)
			}
		})
	}
}
