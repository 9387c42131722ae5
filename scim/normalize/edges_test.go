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
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Body(c.resource, []byte(c.in))
			if err != nil || string(got) != c.want {
				t.Fatalf("Body(%s) = %s, %v; want %s", c.in, got, err, c.want)
			}
		})
	}
}
