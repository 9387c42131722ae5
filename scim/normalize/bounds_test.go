package normalize

import (
	"fmt"
	"strings"
	"testing"
)

// repeat joins n results of f(i) with commas.
func repeat(n int, f func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = f(i)
	}
	return strings.Join(parts, ",")
}

// opsN is a PatchOp body of n operations f(i).
func opsN(n int, f func(i int) string) string {
	return `{` + patchSchemas + `,"Operations":[` + repeat(n, f) + `]}`
}

func memberList(n int) string {
	return "[" + repeat(n, func(i int) string { return fmt.Sprintf(`{"value":"u%d"}`, i) }) + "]"
}

func emailList(n int) string {
	return "[" + repeat(n, func(i int) string { return fmt.Sprintf(`{"value":"e%d@x.com"}`, i) }) + "]"
}

// TestPatchBounds checks each bound at its limit (accepted) and one past
// it (refused with invalidValue, naming the limit).
func TestPatchBounds(t *testing.T) {
	t.Parallel()
	title := func(int) string { return `{"op":"replace","path":"title","value":"x"}` }
	remove := func(i int) string { return fmt.Sprintf(`{"op":"remove","path":"members[value eq \"u%d\"]"}`, i) }
	pathless := func(n int) string {
		keys := repeat(n, func(i int) string {
			return fmt.Sprintf(`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:a%d":"x"`, i)
		})
		return `{"op":"replace","value":{` + keys + `}}`
	}
	tests := []struct {
		name      string
		r         Resource
		atLimit   string
		overLimit string
		fragments []string
	}{
		{"operations", User,
			opsN(MaxOperations, title),
			opsN(MaxOperations+1, title),
			[]string{"operation 201: more than 200 operations"}},
		{"operations as sent, refused before they are read", Group,
			opsN(MaxMemberValues, remove),
			opsN(MaxOperations+MaxMemberValues+1, title),
			[]string{"10201 operations in one PATCH, at most 200 (and 10000 more on a group's members)"}},
		{"operations once a path-less value is split", User,
			ops(pathless(MaxOperations)),
			ops(pathless(MaxOperations + 1)),
			[]string{"operation 1: more than 200 operations", "path-less"}},
		{"members in one operation", Group,
			ops(`{"op":"add","path":"members","value":` + memberList(MaxMemberValues) + `}`),
			ops(`{"op":"add","path":"members","value":` + memberList(MaxMemberValues+1) + `}`),
			[]string{"operation 1: more than 10000 members"}},
		{"members over several operations, Entra's remove included", Group,
			ops(`{"op":"add","path":"members","value":`+memberList(MaxMemberValues-2)+`}`, `{"op":"Remove","path":"members","value":[{"value":"a"}]}`, remove(1)),
			ops(`{"op":"add","path":"members","value":`+memberList(MaxMemberValues-2)+`}`, `{"op":"Remove","path":"members","value":[{"value":"a"},{"value":"b"}]}`, remove(1)),
			[]string{"operation 3: more than 10000 members"}},
		{"members named by or-ed filters", Group,
			ops(`{"op":"add","path":"members","value":`+memberList(MaxMemberValues-2)+`}`, `{"op":"remove","path":"members[value eq \"a\" or value eq \"b\"]"}`),
			ops(`{"op":"add","path":"members","value":`+memberList(MaxMemberValues-1)+`}`, `{"op":"remove","path":"members[value eq \"a\" or value eq \"b\"]"}`),
			[]string{"operation 2: more than 10000 members"}},
		{"operations on members count as the members they name", Group,
			opsN(MaxMemberValues, remove),
			opsN(MaxMemberValues+1, remove),
			[]string{"operation 10001: more than 10000 members"}},
		{"an operation on members that names none counts as one", Group,
			ops(`{"op":"add","path":"members","value":`+memberList(MaxMemberValues-1)+`}`, `{"op":"remove","path":"members"}`),
			ops(`{"op":"add","path":"members","value":`+memberList(MaxMemberValues)+`}`, `{"op":"remove","path":"members"}`),
			[]string{"operation 2: more than 10000 members"}},
		{"values of a multi-valued attribute in one operation", User,
			ops(`{"op":"add","path":"emails","value":` + emailList(MaxMultiValues) + `}`),
			ops(`{"op":"add","path":"emails","value":` + emailList(MaxMultiValues+1) + `}`),
			[]string{`operation 1: 101 values for "emails", at most 100`}},
		{"values of a multi-valued attribute in a path-less value", User,
			ops(`{"op":"replace","value":{"phoneNumbers":` + emailList(MaxMultiValues) + `}}`),
			ops(`{"op":"replace","value":{"phoneNumbers":` + emailList(MaxMultiValues+1) + `}}`),
			[]string{`101 values for "phoneNumbers"`}},
		{"values of a multi-valued attribute removed by value", User,
			ops(`{"op":"remove","path":"roles","value":` + emailList(MaxMultiValues) + `}`),
			ops(`{"op":"remove","path":"roles","value":` + emailList(MaxMultiValues+1) + `}`),
			[]string{`101 values for "roles"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Patch(tt.r, []byte(tt.atLimit)); err != nil {
				t.Fatalf("at the limit: %v", err)
			}
			out, err := Patch(tt.r, []byte(tt.overLimit))
			if err == nil {
				t.Fatalf("past the limit, Patch accepted it: %.200s…", out)
			}
			assertError(t, err, "invalidValue", tt.fragments...)
		})
	}
}

func TestBodyBoundsMultiValuedAttributes(t *testing.T) {
	t.Parallel()
	for _, attr := range primaryAttrs {
		t.Run(attr, func(t *testing.T) {
			t.Parallel()
			body := func(n int) []byte { return []byte(`{"userName":"u","` + attr + `":` + emailList(n) + `}`) }
			if _, err := Body(User, body(MaxMultiValues)); err != nil {
				t.Fatalf("at the limit: %v", err)
			}
			_, err := Body(User, body(MaxMultiValues+1))
			assertError(t, err, "invalidValue", fmt.Sprintf("101 values for %q, at most 100", attr))
		})
	}
	t.Run("group members are bounded by the body size only", func(t *testing.T) {
		t.Parallel()
		if _, err := Body(Group, []byte(`{"displayName":"g","members":`+memberList(MaxMemberValues+1)+`}`)); err != nil {
			t.Fatal(err)
		}
	})
}
