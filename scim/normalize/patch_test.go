package normalize

import (
	"strings"
	"testing"
)

const (
	patchSchemas = `"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`
	extURN       = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// ops wraps operations in a PatchOp body.
func ops(operations ...string) string {
	return `{` + patchSchemas + `,"Operations":[` + strings.Join(operations, ",") + `]}`
}

func TestPatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Resource
		in   string
		want string
	}{
		{
			name: "RFC body is unchanged",
			r:    User,
			in:   ops(`{"op":"replace","path":"displayName","value":"X"}`),
			want: ops(`{"op":"replace","path":"displayName","value":"X"}`),
		},
		{
			name: "missing schemas gets the PatchOp URN",
			r:    User,
			in:   `{"Operations":[{"op":"add","path":"nickName","value":"B"}]}`,
			want: ops(`{"op":"add","path":"nickName","value":"B"}`),
		},
		{
			name: "extra schema URIs are dropped next to PatchOp",
			r:    User,
			in:   `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp","urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"add","path":"nickName","value":"B"}]}`,
			want: ops(`{"op":"add","path":"nickName","value":"B"}`),
		},
		{
			name: "operations key in lower case is output as Operations",
			r:    User,
			in:   `{` + patchSchemas + `,"operations":[{"op":"add","path":"nickName","value":"B"}]}`,
			want: ops(`{"op":"add","path":"nickName","value":"B"}`),
		},
		{
			name: "Entra capitalised ops are lower-cased",
			r:    User,
			in:   ops(`{"op":"Add","path":"nickName","value":"B"}`, `{"op":"Replace","path":"title","value":"T"}`, `{"op":"REMOVE","path":"locale"}`),
			want: ops(`{"op":"add","path":"nickName","value":"B"}`, `{"op":"replace","path":"title","value":"T"}`, `{"op":"remove","path":"locale"}`),
		},
		{
			name: "member keys of an operation in any case",
			r:    User,
			in:   ops(`{"OP":"replace","Path":"title","VALUE":"T"}`),
			want: ops(`{"op":"replace","path":"title","value":"T"}`),
		},
		{
			name: "Okta path-less deactivate becomes a replace of active",
			r:    User,
			in:   ops(`{"op":"replace","value":{"active":false}}`),
			want: ops(`{"op":"replace","path":"active","value":false}`),
		},
		{
			name: "Okta group rename drops id and keeps displayName",
			r:    Group,
			in:   ops(`{"op":"replace","value":{"id":"g-1","displayName":"New name"}}`),
			want: ops(`{"op":"replace","path":"displayName","value":"New name"}`),
		},
		{
			name: "path-less value drops schemas and meta too",
			r:    User,
			in:   ops(`{"op":"replace","value":{"schemas":["x"],"meta":{"version":"1"},"ID":"u","title":"T"}}`),
			want: ops(`{"op":"replace","path":"title","value":"T"}`),
		},
		{
			name: "path-less add expands a complex value under its key",
			r:    User,
			in:   ops(`{"op":"add","value":{"name":{"givenName":"A","familyName":"B"},"emails":[{"value":"a@b.c","type":"work"}]}}`),
			want: ops(`{"op":"add","path":"name","value":{"givenName":"A","familyName":"B"}}`, `{"op":"add","path":"emails","value":[{"value":"a@b.c","type":"work"}]}`),
		},
		{
			name: "path-less string boolean after expansion",
			r:    User,
			in:   ops(`{"op":"Replace","value":{"active":"False"}}`),
			want: ops(`{"op":"replace","path":"active","value":false}`),
		},
		{
			name: "Entra aadOptscim062020 path-less replace with dotted and URN keys",
			r:    User,
			in: ops(`{"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","name.familyName":"Unua",` +
				`"` + extURN + `:employeeNumber":"Aklq","` + extURN + `:department":"Theme Park",` +
				`"` + extURN + `:manager":{"value":"m-1"}}}`),
			want: ops(`{"op":"replace","path":"displayName","value":"Bjfe"}`,
				`{"op":"replace","path":"name.givenName","value":"Kkom"}`,
				`{"op":"replace","path":"name.familyName","value":"Unua"}`,
				`{"op":"replace","path":"`+extURN+`:employeeNumber","value":"Aklq"}`,
				`{"op":"replace","path":"`+extURN+`:department","value":"Theme Park"}`,
				`{"op":"replace","path":"`+extURN+`:manager","value":{"value":"m-1"}}`),
		},
		{
			name: "path-less extension container becomes one operation per inner key",
			r:    User,
			in:   ops(`{"op":"add","value":{"` + extURN + `":{"department":"D","manager":"m-2"}}}`),
			want: ops(`{"op":"add","path":"`+extURN+`:department","value":"D"}`, `{"op":"add","path":"`+extURN+`:manager","value":{"value":"m-2"}}`),
		},
		{
			name: "malformed and differently cased extension keys are canonicalised",
			r:    User,
			in:   ops(`{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0User:department":"D","URN:ietf:params:scim:schemas:extension:enterprise:2.0:user":{"division":"V"}}}`),
			want: ops(`{"op":"replace","path":"`+extURN+`:department","value":"D"}`, `{"op":"replace","path":"`+extURN+`:division","value":"V"}`),
		},
		{
			name: "extension container as path is expanded like a path-less value",
			r:    User,
			in:   ops(`{"op":"replace","path":"` + extURN + `","value":{"costCenter":"C"}}`),
			want: ops(`{"op":"replace","path":"` + extURN + `:costCenter","value":"C"}`),
		},
		{
			name: "extension container as path with its schemas key: the key is ignored",
			r:    User,
			in:   ops(`{"op":"add","path":"` + extURN + `","value":{"schemas":["` + extURN + `"],"department":"D"}}`),
			want: ops(`{"op":"add","path":"` + extURN + `:department","value":"D"}`),
		},
		{
			name: "remove of the extension container removes each of its attributes",
			r:    User,
			in:   ops(`{"op":"remove","path":"` + strings.ToUpper(extURN[:3]) + extURN[3:] + `"}`),
			want: ops(`{"op":"remove","path":"`+extURN+`:employeeNumber"}`, `{"op":"remove","path":"`+extURN+`:costCenter"}`,
				`{"op":"remove","path":"`+extURN+`:organization"}`, `{"op":"remove","path":"`+extURN+`:division"}`,
				`{"op":"remove","path":"`+extURN+`:department"}`, `{"op":"remove","path":"`+extURN+`:manager"}`),
		},
		{
			name: "Entra string booleans on active",
			r:    User,
			in:   ops(`{"op":"Replace","path":"active","value":"False"}`, `{"op":"Replace","path":"Active","value":"TRUE"}`),
			want: ops(`{"op":"replace","path":"active","value":false}`, `{"op":"replace","path":"Active","value":true}`),
		},
		{
			name: "string boolean on URN-qualified active",
			r:    User,
			in:   ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:active","value":"true"}`),
			want: ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:active","value":true}`),
		},
		{
			name: "string boolean on primary sub-attributes",
			r:    User,
			in:   ops(`{"op":"replace","path":"emails[type eq \"work\"].primary","value":"True"}`, `{"op":"replace","path":"phoneNumbers.Primary","value":"false"}`),
			want: ops(`{"op":"replace","path":"emails[type eq \"work\"].primary","value":true}`, `{"op":"replace","path":"phoneNumbers.Primary","value":false}`),
		},
		{
			name: "string boolean primary inside email objects",
			r:    User,
			in:   ops(`{"op":"add","path":"emails","value":[{"value":"a@b.c","primary":"true"}]}`, `{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"x@y.z","primary":"False"}}`),
			want: ops(`{"op":"add","path":"emails","value":[{"value":"a@b.c","primary":true}]}`, `{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"x@y.z","primary":false}}`),
		},
		{
			name: "active on a Group is not converted",
			r:    Group,
			in:   ops(`{"op":"replace","path":"active","value":"False"}`),
			want: ops(`{"op":"replace","path":"active","value":"False"}`),
		},
		{
			name: "Entra manager as a plain string becomes {value}",
			r:    User,
			in:   ops(`{"op":"Add","path":"` + extURN + `:manager","value":"m-1"}`),
			want: ops(`{"op":"add","path":"` + extURN + `:manager","value":{"value":"m-1"}}`),
		},
		{
			name: "manager {value} is kept",
			r:    User,
			in:   ops(`{"op":"replace","path":"` + extURN + `:manager","value":{"value":"m-1"}}`),
			want: ops(`{"op":"replace","path":"` + extURN + `:manager","value":{"value":"m-1"}}`),
		},
		{
			name: "manager replaced with an empty string is a remove",
			r:    User,
			in:   ops(`{"op":"Replace","path":"` + extURN + `:manager","value":""}`),
			want: ops(`{"op":"remove","path":"` + extURN + `:manager"}`),
		},
		{
			name: "Entra remove of manager without value stays a remove",
			r:    User,
			in:   ops(`{"op":"Remove","path":"` + extURN + `:manager"}`),
			want: ops(`{"op":"remove","path":"` + extURN + `:manager"}`),
		},
		{
			name: "Entra tutorial example 5: path manager without URN and a list value",
			r:    User,
			in:   ops(`{"op":"Add","path":"manager","value":[{"$ref":"http://.../scim/Users/m-1","value":"m-1"}]}`),
			want: ops(`{"op":"add","path":"` + extURN + `:manager","value":{"$ref":"http://.../scim/Users/m-1","value":"m-1"}}`),
		},
		{
			name: "manager.value keeps a string value",
			r:    User,
			in:   ops(`{"op":"replace","path":"` + extURN + `:manager.value","value":"m-1"}`),
			want: ops(`{"op":"replace","path":"` + extURN + `:manager.value","value":"m-1"}`),
		},
		{
			name: "unqualified enterprise attribute path is qualified on a User",
			r:    User,
			in:   ops(`{"op":"replace","path":"department","value":"D"}`),
			want: ops(`{"op":"replace","path":"` + extURN + `:department","value":"D"}`),
		},
		{
			name: "malformed URN in a path is canonicalised",
			r:    User,
			in:   ops(`{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0User:department","value":"D"}`),
			want: ops(`{"op":"replace","path":"` + extURN + `:department","value":"D"}`),
		},
		{
			name: "Entra member removal with a value list becomes one filtered remove per member",
			r:    Group,
			in:   ops(`{"op":"Remove","path":"members","value":[{"value":"a"},{"value":"b"}]}`),
			want: ops(`{"op":"remove","path":"members[value eq \"a\"]"}`, `{"op":"remove","path":"members[value eq \"b\"]"}`),
		},
		{
			name: "member removal entries with $ref null, display and a single object",
			r:    Group,
			in:   ops(`{"op":"Remove","path":"members","value":[{"$ref":null,"value":"a","display":"A"}]}`, `{"op":"remove","path":"Members","value":{"value":"b"}}`),
			want: ops(`{"op":"remove","path":"members[value eq \"a\"]"}`, `{"op":"remove","path":"Members[value eq \"b\"]"}`),
		},
		{
			name: "member ids with quotes are escaped in the filter",
			r:    Group,
			in:   ops(`{"op":"remove","path":"members","value":[{"value":"a\"b\\c"}]}`),
			want: ops(`{"op":"remove","path":"members[value eq \"a\\\"b\\\\c\"]"}`),
		},
		{
			name: "remove members without value removes all members (RFC)",
			r:    Group,
			in:   ops(`{"op":"remove","path":"members"}`),
			want: ops(`{"op":"remove","path":"members"}`),
		},
		{
			name: "remove members with an empty list or null removes all members",
			r:    Group,
			in:   ops(`{"op":"remove","path":"members","value":[]}`, `{"op":"remove","path":"members","value":null}`),
			want: ops(`{"op":"remove","path":"members"}`, `{"op":"remove","path":"members"}`),
		},
		{
			name: "Okta remove by filter plus add",
			r:    Group,
			in:   ops(`{"op":"remove","path":"members[value eq \"u1\"]"}`, `{"op":"add","path":"members","value":[{"value":"u3","display":"carol"}]}`),
			want: ops(`{"op":"remove","path":"members[value eq \"u1\"]"}`, `{"op":"add","path":"members","value":[{"value":"u3","display":"carol"}]}`),
		},
		{
			name: "members add accepts a single object, strings, and drops $ref null",
			r:    Group,
			in:   ops(`{"op":"add","path":"members","value":{"value":"a"}}`, `{"op":"Add","path":"members","value":["b",{"$ref":null,"value":"c"}]}`),
			want: ops(`{"op":"add","path":"members","value":[{"value":"a"}]}`, `{"op":"add","path":"members","value":[{"value":"b"},{"value":"c"}]}`),
		},
		{
			name: "members replace with a list (Okta full replace) and with an empty list",
			r:    Group,
			in:   ops(`{"op":"replace","path":"members","value":[{"value":"u1"}]}`, `{"op":"replace","path":"members","value":[]}`),
			want: ops(`{"op":"replace","path":"members","value":[{"value":"u1"}]}`, `{"op":"replace","path":"members","value":[]}`),
		},
		{
			name: "remove of roles with a value list removes only those roles",
			r:    User,
			in:   ops(`{"op":"Remove","path":"roles","value":[{"value":"admin"}]}`),
			want: ops(`{"op":"remove","path":"roles[value eq \"admin\"]"}`),
		},
		{
			name: "replace with null is a remove",
			r:    User,
			in:   ops(`{"op":"replace","path":"title","value":null}`),
			want: ops(`{"op":"remove","path":"title"}`),
		},
		{
			name: "path-less replace with a null attribute is a remove of it",
			r:    User,
			in:   ops(`{"op":"replace","value":{"title":null,"nickName":"N"}}`),
			want: ops(`{"op":"remove","path":"title"}`, `{"op":"replace","path":"nickName","value":"N"}`),
		},
		{
			name: "null sub-attribute in a complex replace is a remove of the sub-attribute",
			r:    User,
			in:   ops(`{"op":"replace","path":"name","value":{"givenName":"A","middleName":null}}`),
			want: ops(`{"op":"replace","path":"name","value":{"givenName":"A"}}`, `{"op":"remove","path":"name.middleName"}`),
		},
		{
			name: "null sub-attribute of a filtered element",
			r:    User,
			in:   ops(`{"op":"replace","path":"emails[type eq work]","value":{"value":"a@b.c","display":null}}`),
			want: ops(`{"op":"replace","path":"emails[type eq \"work\"]","value":{"value":"a@b.c"}}`, `{"op":"remove","path":"emails[type eq \"work\"].display"}`),
		},
		{
			name: "complex value of only nulls is only removes",
			r:    User,
			in:   ops(`{"op":"replace","path":"name","value":{"middleName":null}}`),
			want: ops(`{"op":"remove","path":"name.middleName"}`),
		},
		{
			name: "nulls inside new multi-valued elements are dropped",
			r:    User,
			in:   ops(`{"op":"add","path":"emails","value":[{"value":"a@b.c","display":null},null]}`, `{"op":"add","path":"name","value":{"givenName":"A","middleName":null}}`),
			want: ops(`{"op":"add","path":"emails","value":[{"value":"a@b.c"}]}`, `{"op":"add","path":"name","value":{"givenName":"A"}}`),
		},
		{
			name: "unquoted filter values in paths are quoted",
			r:    User,
			in:   ops(`{"op":"replace","path":"emails[type eq work].value","value":"a@b.c"}`, `{"op":"remove","path":"addresses[type EQ home]"}`),
			want: ops(`{"op":"replace","path":"emails[type eq \"work\"].value","value":"a@b.c"}`, `{"op":"remove","path":"addresses[type eq \"home\"]"}`),
		},
		{
			name: "Entra emails filter path is kept",
			r:    User,
			in:   ops(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@x.com"}`),
			want: ops(`{"op":"replace","path":"emails[type eq \"work\"].value","value":"new@x.com"}`),
		},
		{
			name: "numbers are kept exactly",
			r:    User,
			in:   ops(`{"op":"replace","path":"x","value":1.50}`),
			want: ops(`{"op":"replace","path":"x","value":1.50}`),
		},
		{
			name: "other members of the body and of an operation are not carried over",
			r:    User,
			in:   `{` + patchSchemas + `,"id":"x","Operations":[{"op":"add","path":"nickName","value":"B","from":"y"}]}`,
			want: ops(`{"op":"add","path":"nickName","value":"B"}`),
		},
		{
			name: "whitespace around op and path is trimmed",
			r:    User,
			in:   ops(`{"op":" add ","path":" nickName ","value":"B"}`),
			want: ops(`{"op":"add","path":"nickName","value":"B"}`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Patch(tt.r, []byte(tt.in))
			if err != nil {
				t.Fatalf("Patch: %v", err)
			}
			assertJSONEqual(t, got, tt.want)
		})
	}
}

func TestPatchRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		r         Resource
		in        string
		scimType  string
		fragments []string
	}{
		{"malformed JSON", User, `{"Operations":[`, "invalidSyntax", []string{"not valid JSON"}},
		{"top level is a list", User, `[]`, "invalidSyntax", []string{"JSON object"}},
		{"schemas without PatchOp", User, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"add","path":"a","value":"b"}]}`, "invalidValue", []string{"must contain urn:ietf:params:scim:api:messages:2.0:PatchOp"}},
		{"schemas holding a number", User, `{"schemas":[1],"Operations":[]}`, "invalidValue", []string{"list of strings"}},
		{"no Operations", User, `{` + patchSchemas + `}`, "invalidValue", []string{"no operations"}},
		{"empty Operations", User, ops(), "invalidValue", []string{"no operations"}},
		{"Operations is an object", User, `{"Operations":{"op":"add"}}`, "invalidValue", []string{`"Operations" must be a list`}},
		{"Operations twice in different case", User, `{"Operations":[],"operations":[]}`, "invalidSyntax", []string{"differ only in case"}},
		{"operation is not an object", User, ops(`{"op":"add","path":"a","value":"b"}`, `"x"`), "invalidValue", []string{"operation 2 must be an object"}},
		{"unknown op names the operation", User, ops(`{"op":"add","path":"a","value":"b"}`, `{"op":"delete","path":"a"}`), "invalidValue", []string{`operation 2: op "delete" is not add, remove or replace`}},
		{"missing op", User, ops(`{"path":"a","value":"b"}`), "invalidValue", []string{"operation 1: op is missing"}},
		{"op is a number", User, ops(`{"op":1,"path":"a"}`), "invalidValue", []string{"op must be a string"}},
		{"op given twice", User, ops(`{"op":"add","Op":"remove","path":"a","value":"b"}`), "invalidSyntax", []string{"operation 1:", "differ only in case"}},
		{"remove without path", User, ops(`{"op":"Remove","value":{"active":false}}`), "noTarget", []string{"operation 1: remove needs a path"}},
		{"add with path and no value", User, ops(`{"op":"add","path":"nickName"}`), "invalidValue", []string{`operation 1: add of "nickName" needs a value`}},
		{"add with a null value", User, ops(`{"op":"add","path":"nickName","value":null}`), "invalidValue", []string{`add of "nickName" has a null value`}},
		{"path-less add with a string value", User, ops(`{"op":"add","value":"x"}`), "invalidValue", []string{"operation 1: add without a path needs an object value, not a string"}},
		{"path-less replace without value", User, ops(`{"op":"replace"}`), "invalidValue", []string{"not no value"}},
		{"path-less value with only id", Group, ops(`{"op":"replace","value":{"id":"g"}}`), "invalidValue", []string{"operation 1:", "no attribute that can be changed"}},
		{"path-less key that is no path", User, ops(`{"op":"replace","value":{"a b":"x"}}`), "invalidPath", []string{`operation 1: attribute "a b"`}},
		{"path is a number", User, ops(`{"op":"add","path":5,"value":"x"}`), "invalidPath", []string{"path must be a string"}},
		{"unparsable path", User, ops(`{"op":"replace","path":"emails[type eq]","value":"x"}`), "invalidPath", []string{`operation 1: path "emails[type eq]"`}},
		{"path with three comparisons in brackets", User, ops(`{"op":"remove","path":"emails[a eq 1 and b eq 2 and c eq 3]"}`), "invalidPath", []string{"at most two comparisons"}},
		{"non-boolean active", User, ops(`{"op":"replace","path":"active","value":"yes"}`), "invalidValue", []string{`operation 1: attribute "active": "yes" is not a boolean`}},
		{"non-boolean active after expansion", User, ops(`{"op":"replace","path":"title","value":"x"}`, `{"op":"replace","value":{"active":"no"}}`), "invalidValue", []string{`operation 2: attribute "active": "no" is not a boolean`}},
		{"non-boolean primary in an object", User, ops(`{"op":"add","path":"emails","value":[{"value":"a","primary":"y"}]}`), "invalidValue", []string{`"emails.primary": "y" is not a boolean`}},
		{"manager with two values", User, ops(`{"op":"add","path":"manager","value":["a","b"]}`), "invalidValue", []string{"single-valued"}},
		{"manager as a boolean", User, ops(`{"op":"add","path":"manager","value":true}`), "invalidValue", []string{"a boolean"}},
		{"add of an empty manager", User, ops(`{"op":"add","path":"manager","value":""}`), "invalidValue", []string{"has an empty value"}},
		{"members removal entry without value", Group, ops(`{"op":"remove","path":"members","value":[{"value":"a"},{"display":"B"}]}`), "invalidValue", []string{`operation 1: members entry 2 has no "value"`}},
		{"members removal entry with a numeric value", Group, ops(`{"op":"remove","path":"members","value":[{"value":3}]}`), "invalidValue", []string{"entry 1", "a number"}},
		{"members removal entry that is null", Group, ops(`{"op":"remove","path":"members","value":[null]}`), "invalidValue", []string{"entry 1 is null"}},
		{"members removal value that is a number", Group, ops(`{"op":"remove","path":"members","value":1}`), "invalidValue", []string{"must be a list"}},
		{"members add entry that is a number", Group, ops(`{"op":"add","path":"members","value":[1]}`), "invalidValue", []string{"operation 1: members entry 1"}},
		{"remove value of only nulls", User, ops(`{"op":"remove","path":"addresses","value":[null]}`), "invalidValue", []string{"holds only nulls"}},
		{"extension container holding an unknown attribute", User, ops(`{"op":"replace","path":"` + extURN + `","value":{"schemas":[],"bogus":"x"}}`), "invalidPath", []string{`operation 1: "bogus"`, "not an attribute of the enterprise extension"}},
		{"extension container holding only schemas", User, ops(`{"op":"add","path":"` + extURN + `","value":{"schemas":["` + extURN + `"]}}`), "invalidValue", []string{"operation 1:", "no attribute that can be changed"}},
		{"remove of the extension container with a value", User, ops(`{"op":"remove","path":"` + extURN + `","value":{"department":"D"}}`), "invalidValue", []string{"operation 1:", "takes no value"}},
		{"extension container that is not an object", User, ops(`{"op":"replace","value":{"` + extURN + `":"x"}}`), "invalidValue", []string{"must be an object"}},
		{"generated member path too long", Group, ops(`{"op":"remove","path":"members","value":[{"value":"` + strings.Repeat("x", 4090) + `"}]}`), "invalidPath", []string{"operation 1: path too long once normalised"}},
		{"path too long", User, ops(`{"op":"remove","path":"` + strings.Repeat("a", 4097) + `"}`), "invalidPath", []string{"path too long"}},
		{"null sub-attribute with a bad name", User, ops(`{"op":"replace","path":"name","value":{"a b":null}}`), "invalidPath", []string{"not a valid sub-attribute name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := Patch(tt.r, []byte(tt.in))
			if err == nil {
				t.Fatalf("Patch accepted it: %s", out)
			}
			assertError(t, err, tt.scimType, tt.fragments...)
		})
	}
}
