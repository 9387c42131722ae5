package scim

import (
	"encoding/json"
	"reflect"
	"testing"

	elimity "github.com/elimity-com/scim"
	fp "github.com/scim2/filter-parser/v2"
)

func op(verb, path string, value any) elimity.PatchOperation {
	o := elimity.PatchOperation{Op: verb, Value: value}
	if path != "" {
		p, err := fp.ParsePath([]byte(path))
		if err != nil {
			panic(err)
		}
		o.Path = &p
	}
	return o
}

func doc(s string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

func TestPatcherAppliesRFC7644Operations(t *testing.T) {
	t.Parallel()
	const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	base := `{"userName":"ann","name":{"givenName":"Ann","familyName":"Lee"},
		"emails":[{"value":"ann@work.com","type":"work","primary":true},{"value":"ann@home.com","type":"home"}]}`
	cases := []struct {
		name string
		ops  []elimity.PatchOperation
		want string
	}{
		{"replace a simple attribute", []elimity.PatchOperation{op("replace", "userName", "ann2")},
			`{"userName":"ann2","name":{"givenName":"Ann","familyName":"Lee"},"emails":[{"value":"ann@work.com","type":"work","primary":true},{"value":"ann@home.com","type":"home"}]}`},
		{"replace a sub-attribute", []elimity.PatchOperation{op("replace", "name.givenName", "Anne")},
			`{"userName":"ann","name":{"givenName":"Anne","familyName":"Lee"},"emails":[{"value":"ann@work.com","type":"work","primary":true},{"value":"ann@home.com","type":"home"}]}`},
		{"replace of a complex attribute merges", []elimity.PatchOperation{op("replace", "name", map[string]any{"familyName": "Li"})},
			`{"userName":"ann","name":{"givenName":"Ann","familyName":"Li"},"emails":[{"value":"ann@work.com","type":"work","primary":true},{"value":"ann@home.com","type":"home"}]}`},
		{"replace a filtered value's sub-attribute", []elimity.PatchOperation{op("replace", `emails[type eq "work"].value`, "ann@new.com")},
			`{"userName":"ann","name":{"givenName":"Ann","familyName":"Lee"},"emails":[{"value":"ann@new.com","type":"work","primary":true},{"value":"ann@home.com","type":"home"}]}`},
		{"replace with no match creates the value (Entra)", []elimity.PatchOperation{op("replace", `emails[type eq "other"].value`, "x@o.com")},
			`{"userName":"ann","name":{"givenName":"Ann","familyName":"Lee"},"emails":[{"value":"ann@work.com","type":"work","primary":true},{"value":"ann@home.com","type":"home"},{"type":"other","value":"x@o.com"}]}`},
		{"remove filtered values", []elimity.PatchOperation{op("remove", `emails[type eq "home"]`, nil)},
			`{"userName":"ann","name":{"givenName":"Ann","familyName":"Lee"},"emails":[{"value":"ann@work.com","type":"work","primary":true}]}`},
		{"add to a multi-valued attribute keeps one primary", []elimity.PatchOperation{op("add", "emails", []any{map[string]any{"value": "p@x.com", "primary": true}})},
			`{"userName":"ann","name":{"givenName":"Ann","familyName":"Lee"},"emails":[{"value":"ann@work.com","type":"work","primary":false},{"value":"ann@home.com","type":"home"},{"value":"p@x.com","primary":true}]}`},
		{"add of a value already there is a no-op", []elimity.PatchOperation{op("add", "emails", []any{map[string]any{"value": "ann@home.com", "type": "home"}})},
			base},
		{"remove an attribute", []elimity.PatchOperation{op("remove", "name", nil)},
			`{"userName":"ann","emails":[{"value":"ann@work.com","type":"work","primary":true},{"value":"ann@home.com","type":"home"}]}`},
		{"extension attribute by URN path", []elimity.PatchOperation{op("add", ent+":department", "R&D"), op("replace", ent+":manager", map[string]any{"value": "m1"})},
			`{"userName":"ann","name":{"givenName":"Ann","familyName":"Lee"},"emails":[{"value":"ann@work.com","type":"work","primary":true},{"value":"ann@home.com","type":"home"}],"` + ent + `":{"department":"R&D","manager":{"value":"m1"}}}`},
		{"path-less replace with dotted and URN keys", []elimity.PatchOperation{op("replace", "", map[string]any{"name.familyName": "Wu", ent + ":department": "Ops", "id": "ignored"})},
			`{"userName":"ann","name":{"givenName":"Ann","familyName":"Wu"},"emails":[{"value":"ann@work.com","type":"work","primary":true},{"value":"ann@home.com","type":"home"}],"` + ent + `":{"department":"Ops"}}`},
		{"password is accepted and not stored", []elimity.PatchOperation{op("replace", "password", "hunter2")}, base},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := doc(base)
			if err := (&patcher{cat: userCatalogue, doc: d}).apply(c.ops); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalJSON(d), normalJSON(doc(c.want))) {
				got, _ := json.Marshal(d)
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func normalJSON(m map[string]any) any {
	b, _ := json.Marshal(m)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func TestPatcherRefusesWhatItCannotHonour(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		op       elimity.PatchOperation
		scimType string
	}{
		{"read-only attribute", op("replace", "groups", []any{map[string]any{"value": "g"}}), "mutability"},
		{"sub-attribute of every value", op("replace", "emails.value", "x"), "invalidPath"},
		{"filter on a singular attribute", op("replace", `userName[value eq "x"]`, "x"), "invalidPath"},
		{"unknown attribute", op("replace", "nope", "x"), "invalidPath"},
		{"no match and no equality to build one", op("replace", `emails[value sw "z"].type`, "work"), "noTarget"},
		{"path-less remove", elimity.PatchOperation{Op: "remove"}, "invalidValue"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := doc(`{"userName":"ann","emails":[{"value":"a@b.c","type":"work"}]}`)
			err := (&patcher{cat: userCatalogue, doc: d}).apply([]elimity.PatchOperation{c.op})
			pe, ok := err.(*patchError)
			if !ok || pe.scimType != c.scimType {
				t.Fatalf("err = %v, want scimType %s", err, c.scimType)
			}
		})
	}
}

func TestMemberOperationsNetOut(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name            string
		ops             []elimity.PatchOperation
		replace         bool
		add, remove     []string
		wantErrScimType string
	}{
		{"add", []elimity.PatchOperation{op("add", "members", []any{map[string]any{"value": "a"}, map[string]any{"value": "b"}})}, false, []string{"a", "b"}, nil, ""},
		{"Entra remove names members", []elimity.PatchOperation{op("remove", "members", []any{map[string]any{"value": "a"}})}, false, nil, []string{"a"}, ""},
		{"remove by filter with or", []elimity.PatchOperation{op("remove", `members[value eq "a" or value eq "b"]`, nil)}, false, nil, []string{"a", "b"}, ""},
		{"remove without value removes all", []elimity.PatchOperation{op("remove", "members", nil)}, true, nil, nil, ""},
		{"replace", []elimity.PatchOperation{op("replace", "members", []any{map[string]any{"value": "c"}})}, true, []string{"c"}, nil, ""},
		{"add then remove cancels", []elimity.PatchOperation{op("add", "members", []any{map[string]any{"value": "a"}}), op("remove", `members[value eq "a"]`, nil)}, false, nil, []string{"a"}, ""},
		{"filter on display is refused", []elimity.PatchOperation{op("remove", `members[display eq "x"]`, nil)}, false, nil, nil, "invalidPath"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			mo := &memberOps{}
			err := (&patcher{cat: groupCatalogue, doc: map[string]any{"displayName": "g"}, members: mo}).apply(c.ops)
			if c.wantErrScimType != "" {
				if pe, ok := err.(*patchError); !ok || pe.scimType != c.wantErrScimType {
					t.Fatalf("err = %v, want %s", err, c.wantErrScimType)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if mo.replace != c.replace || !sameIDs(mo.add, c.add) || !sameIDs(mo.remove, c.remove) {
				t.Fatalf("got replace=%v add=%v remove=%v", mo.replace, mo.add, mo.remove)
			}
		})
	}
}

func sameIDs(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b)) }
