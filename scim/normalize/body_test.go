package normalize

import (
	"strings"
	"testing"
)

func TestBody(t *testing.T) {
	t.Parallel()
	const (
		core = `"urn:ietf:params:scim:schemas:core:2.0:User"`
		grp  = `"urn:ietf:params:scim:schemas:core:2.0:Group"`
		ext  = `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
	)
	tests := []struct {
		name string
		r    Resource
		in   string
		want string
	}{
		{
			name: "missing schemas gets the User core URN",
			r:    User,
			in:   `{"userName":"bjensen"}`,
			want: `{"schemas":[` + core + `],"userName":"bjensen"}`,
		},
		{
			name: "missing schemas gets the Group core URN",
			r:    Group,
			in:   `{"displayName":"Admins"}`,
			want: `{"schemas":[` + grp + `],"displayName":"Admins"}`,
		},
		{
			name: "schemas with only the extension URN gets the core URN first",
			r:    User,
			in:   `{"schemas":[` + ext + `],"userName":"u"}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u"}`,
		},
		{
			name: "schemas given as one string becomes a list",
			r:    User,
			in:   `{"schemas":` + core + `,"userName":"u"}`,
			want: `{"schemas":[` + core + `],"userName":"u"}`,
		},
		{
			name: "schemas key and URN in another case are canonicalised and deduplicated",
			r:    User,
			in:   `{"Schemas":["URN:ietf:params:scim:schemas:core:2.0:user",` + core + `],"userName":"u"}`,
			want: `{"schemas":[` + core + `],"userName":"u"}`,
		},
		{
			name: "Entra's extra Group schema URI is kept",
			r:    Group,
			in:   `{"schemas":[` + grp + `,"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"displayName":"G","externalId":"e"}`,
			want: `{"schemas":[` + grp + `,"http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],"displayName":"G","externalId":"e"}`,
		},
		{
			name: "extension object adds its URN to schemas",
			r:    User,
			in:   `{"schemas":[` + core + `],"userName":"u",` + ext + `:{"department":"D"}}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"department":"D"}}`,
		},
		{
			name: "nulls are removed at every level (Entra create)",
			r:    User,
			in:   `{"userName":"u","title":null,"addresses":null,"name":{"givenName":"J","middleName":null},"emails":[null,{"value":"a@b.c","display":null}]}`,
			want: `{"schemas":[` + core + `],"userName":"u","name":{"givenName":"J"},"emails":[{"value":"a@b.c"}]}`,
		},
		{
			name: "null schemas counts as missing",
			r:    User,
			in:   `{"schemas":null,"userName":"u"}`,
			want: `{"schemas":[` + core + `],"userName":"u"}`,
		},
		{
			name: "numbers are kept exactly",
			r:    User,
			in:   `{"userName":"u","x":12345678901234567890123,"y":1.50}`,
			want: `{"schemas":[` + core + `],"userName":"u","x":12345678901234567890123,"y":1.50}`,
		},
		{
			name: "string booleans for active, any case",
			r:    User,
			in:   `{"userName":"u","active":"False"}`,
			want: `{"schemas":[` + core + `],"userName":"u","active":false}`,
		},
		{
			name: "capitalised Active key and TRUE",
			r:    User,
			in:   `{"userName":"u","Active":"TRUE"}`,
			want: `{"schemas":[` + core + `],"userName":"u","Active":true}`,
		},
		{
			name: "real booleans are kept",
			r:    User,
			in:   `{"userName":"u","active":true}`,
			want: `{"schemas":[` + core + `],"userName":"u","active":true}`,
		},
		{
			name: "primary strings in every multi-valued attribute, keys in any case",
			r:    User,
			in: `{"userName":"u","EMAILS":[{"value":"a","Primary":"true"},{"value":"b","primary":"False"}],` +
				`"phoneNumbers":[{"value":"1","primary":"True"}],"ims":[{"value":"i","primary":"false"}],` +
				`"photos":[{"value":"p","primary":"true"}],"addresses":[{"locality":"L","primary":"true"}],` +
				`"entitlements":[{"value":"e","primary":"true"}],"roles":[{"value":"r","primary":"false"}],` +
				`"x509Certificates":[{"value":"Y2VydA==","primary":"true"}]}`,
			want: `{"schemas":[` + core + `],"userName":"u","EMAILS":[{"value":"a","Primary":true},{"value":"b","primary":false}],` +
				`"phoneNumbers":[{"value":"1","primary":true}],"ims":[{"value":"i","primary":false}],` +
				`"photos":[{"value":"p","primary":true}],"addresses":[{"locality":"L","primary":true}],` +
				`"entitlements":[{"value":"e","primary":true}],"roles":[{"value":"r","primary":false}],` +
				`"x509Certificates":[{"value":"Y2VydA==","primary":true}]}`,
		},
		{
			name: "a single email object becomes a list of one",
			r:    User,
			in:   `{"userName":"u","emails":{"value":"a@b.c","primary":"True"}}`,
			want: `{"schemas":[` + core + `],"userName":"u","emails":[{"value":"a@b.c","primary":true}]}`,
		},
		{
			name: "active on a Group is not touched",
			r:    Group,
			in:   `{"displayName":"G","active":"yes"}`,
			want: `{"schemas":[` + grp + `],"displayName":"G","active":"yes"}`,
		},
		{
			name: "manager as a plain string becomes {value}",
			r:    User,
			in:   `{"userName":"u",` + ext + `:{"manager":"m-1"}}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"manager":{"value":"m-1"}}}`,
		},
		{
			name: "manager as {value} is kept",
			r:    User,
			in:   `{"userName":"u",` + ext + `:{"manager":{"value":"m-1","displayName":"M"}}}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"manager":{"value":"m-1","displayName":"M"}}}`,
		},
		{
			name: "manager as a one-element list (Entra tutorial example 5) is unwrapped",
			r:    User,
			in:   `{"userName":"u",` + ext + `:{"manager":[{"$ref":"../Users/m","value":"m"}]}}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"manager":{"$ref":"../Users/m","value":"m"}}}`,
		},
		{
			name: "empty manager is removed, and an extension left empty disappears",
			r:    User,
			in:   `{"userName":"u",` + ext + `:{"manager":""}}`,
			want: `{"schemas":[` + core + `],"userName":"u"}`,
		},
		{
			name: "extension holding only nulls disappears but a listed URN stays",
			r:    User,
			in:   `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"manager":null,"department":null}}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u"}`,
		},
		{
			name: "flattened extension keys move into the extension object",
			r:    User,
			in:   `{"userName":"u",` + ext[:len(ext)-1] + `:department":"D",` + ext[:len(ext)-1] + `:manager.value":"m"}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"department":"D","manager":{"value":"m"}}}`,
		},
		{
			name: "flattened keys merge with an existing extension object",
			r:    User,
			in:   `{"userName":"u",` + ext + `:{"department":"D","manager":{"displayName":"M"}},` + ext[:len(ext)-1] + `:costCenter":"C",` + ext[:len(ext)-1] + `:manager.value":"m"}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"department":"D","manager":{"displayName":"M","value":"m"},"costCenter":"C"}}`,
		},
		{
			name: "the same value given flattened and nested is accepted once",
			r:    User,
			in:   `{"userName":"u",` + ext + `:{"department":"D"},` + ext[:len(ext)-1] + `:department":"D"}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"department":"D"}}`,
		},
		{
			name: "extension key in another case is renamed to the exact URN",
			r:    User,
			in:   `{"userName":"u","URN:IETF:params:scim:schemas:extension:enterprise:2.0:user":{"division":"X"}}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"division":"X"}}`,
		},
		{
			name: "Entra's malformed URN ...:2.0User as key and in schemas means the extension",
			r:    User,
			in: `{"schemas":[` + core + `,"urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],"userName":"u",` +
				`"urn:ietf:params:scim:schemas:extension:enterprise:2.0User":{"employeeNumber":"7"},` +
				`"urn:ietf:params:scim:schemas:extension:enterprise:2.0User:department":"D"}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"employeeNumber":"7","department":"D"}}`,
		},
		{
			name: "top-level department and manager (Entra tutorial create) move into the extension",
			r:    User,
			in:   `{"userName":"u","department":"D","Manager":"m"}`,
			want: `{"schemas":[` + core + `,` + ext + `],"userName":"u",` + ext + `:{"department":"D","Manager":{"value":"m"}}}`,
		},
		{
			name: "password, id, meta and groups are left in place",
			r:    User,
			in:   `{"id":"x","userName":"u","password":"p","groups":[],"meta":{"resourceType":"User"}}`,
			want: `{"schemas":[` + core + `],"id":"x","userName":"u","password":"p","groups":[],"meta":{"resourceType":"User"}}`,
		},
		{
			name: "members entry with $ref null, display and type",
			r:    Group,
			in:   `{"displayName":"G","members":[{"$ref":null,"value":"u1","display":"Alice","type":"User"}]}`,
			want: `{"schemas":[` + grp + `],"displayName":"G","members":[{"value":"u1","display":"Alice","type":"User"}]}`,
		},
		{
			name: "a member's displayName becomes display (Microsoft's tests)",
			r:    Group,
			in:   `{"displayName":"G","members":[{"value":"u1","displayName":"Alice"},{"value":"u2","display":"Bob","displayName":"B"}]}`,
			want: `{"schemas":[` + grp + `],"displayName":"G","members":[{"value":"u1","display":"Alice"},{"value":"u2","display":"Bob","displayName":"B"}]}`,
		},
		{
			name: "members entries as plain strings become {value}",
			r:    Group,
			in:   `{"displayName":"G","members":["u1",{"value":"u2"}]}`,
			want: `{"schemas":[` + grp + `],"displayName":"G","members":[{"value":"u1"},{"value":"u2"}]}`,
		},
		{
			name: "members as a single object is wrapped in a list",
			r:    Group,
			in:   `{"displayName":"G","Members":{"value":"u1"}}`,
			want: `{"schemas":[` + grp + `],"displayName":"G","Members":[{"value":"u1"}]}`,
		},
		{
			name: "empty members list is kept (Okta group create)",
			r:    Group,
			in:   `{"schemas":[` + grp + `],"displayName":"G","members":[]}`,
			want: `{"schemas":[` + grp + `],"displayName":"G","members":[]}`,
		},
		{
			name: "enterprise-looking keys on a Group are not touched",
			r:    Group,
			in:   `{"displayName":"G","department":"D"}`,
			want: `{"schemas":[` + grp + `],"displayName":"G","department":"D"}`,
		},
		{
			name: "HTML characters are not escaped",
			r:    User,
			in:   `{"userName":"a<b>&c"}`,
			want: `{"schemas":[` + core + `],"userName":"a<b>&c"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Body(tt.r, []byte(tt.in))
			if err != nil {
				t.Fatalf("Body: %v", err)
			}
			assertJSONEqual(t, got, tt.want)
		})
	}
}

func TestBodyRefuses(t *testing.T) {
	t.Parallel()
	const ext = `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
	tests := []struct {
		name      string
		r         Resource
		in        string
		scimType  string
		fragments []string
	}{
		{"malformed JSON", User, `{"userName":`, "invalidSyntax", []string{"not valid JSON"}},
		{"empty body", User, ``, "invalidSyntax", []string{"empty"}},
		{"top level is a list", User, `[{"userName":"u"}]`, "invalidSyntax", []string{"JSON object", "a list"}},
		{"top level is a string", Group, `"x"`, "invalidSyntax", []string{"JSON object"}},
		{"trailing data", User, `{"userName":"u"} {}`, "invalidSyntax", []string{"after the JSON value"}},
		{"duplicate key", User, `{"userName":"u","userName":"v"}`, "invalidSyntax", []string{`"userName" appears twice`}},
		{"keys differing only in case", User, `{"active":true,"Active":false}`, "invalidSyntax", []string{`"active" and "Active"`}},
		{"non-boolean string for active", User, `{"active":"yes"}`, "invalidValue", []string{`attribute "active": "yes" is not a boolean`}},
		{"non-boolean string for primary", User, `{"emails":[{"value":"a","primary":"1"}]}`, "invalidValue", []string{`attribute "emails.primary": "1" is not a boolean`}},
		{"extension is not an object", User, `{` + ext + `:"D"}`, "invalidValue", []string{"must be an object"}},
		{"conflicting flattened and nested values", User, `{` + ext + `:{"department":"A"},` + ext[:len(ext)-1] + `:department":"B"}`, "invalidValue", []string{`"department"`, "more than once"}},
		{"manager with two values", User, `{` + ext + `:{"manager":["a","b"]}}`, "invalidValue", []string{"single-valued"}},
		{"manager as a number", User, `{` + ext + `:{"manager":7}}`, "invalidValue", []string{`"manager"`, "a number"}},
		{"bad flattened extension path", User, `{` + ext[:len(ext)-1] + `:manager.value.x":"m"}`, "invalidValue", []string{"not a valid enterprise extension attribute"}},
		{"schemas is a number", User, `{"schemas":1}`, "invalidValue", []string{`"schemas"`}},
		{"schemas holds a number", User, `{"schemas":[1]}`, "invalidValue", []string{"list of strings"}},
		{"Group URN in a User body", User, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]}`, "invalidValue", []string{"in a User request"}},
		{"members entry is a number", Group, `{"members":[1]}`, "invalidValue", []string{"members entry 1"}},
		{"members entry is an empty string", Group, `{"members":[""]}`, "invalidValue", []string{"members entry 1 is an empty string"}},
		{"members is a number", Group, `{"members":1}`, "invalidValue", []string{"members must be a list"}},
		// Found by mutation testing: "DISPLAY" beside "display" passed, and
		// the output named display twice.
		{"member display names differing only in case", Group, `{"members":[{"value":"u","display":"A","DISPLAY":"B","displayName":"C"}]}`, "invalidSyntax", []string{`"display" and "DISPLAY"`}},
		{"member displayName twice in two cases", Group, `{"members":[{"value":"u","displayName":"A","DisplayName":"B"}]}`, "invalidSyntax", []string{`"displayName" and "DisplayName"`}},
		{"nested too deep", User, `{"a":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, "invalidSyntax", []string{"deeper than"}},
		{"unknown resource", Resource(7), `{}`, "invalidValue", []string{"unknown resource type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Body(tt.r, []byte(tt.in))
			if err == nil {
				t.Fatalf("Body accepted it: %s", out)
			}
			assertError(t, err, tt.scimType, tt.fragments...)
		})
	}
}
