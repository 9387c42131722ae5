package scim

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	elimity "github.com/elimity-com/scim"
	fp "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/scim/normalize"
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
			mc := mo.change()
			if mc.Replace != c.replace || !sameIDs(mc.Add, c.add) || !sameIDs(mc.Remove, c.remove) {
				t.Fatalf("got replace=%v add=%v remove=%v", mc.Replace, mc.Add, mc.Remove)
			}
		})
	}
}

func sameIDs(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b)) }

func TestFoldKeyEqualsExactlyWhatEqualFoldEquals(t *testing.T) {
	t.Parallel()
	words := []string{
		"", "k", "K", "\u212a", "s", "S", "\u017f", "ß", "ẞ", "ss", "σ", "Σ", "ς", "é", "É", "e",
		"\xff", "\ufffd", "\xfe", "İ", "i", "I", "ı",
		"3F2504E0-4F89-11D3-9A0C-0305E82C3301", "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "3f2504e0-4f89-11d3-9a0c-0305e82c3302",
	}
	// Pairs of words and two-word strings, so that a key that merged or
	// split runes would show.
	var all []string
	for _, a := range words {
		all = append(all, a)
		for _, b := range words[:8] {
			all = append(all, a+b)
		}
	}
	for _, a := range all {
		for _, b := range all {
			if got, want := foldKey(a) == foldKey(b), strings.EqualFold(a, b); got != want {
				t.Errorf("foldKey(%q) == foldKey(%q) is %v, EqualFold is %v", a, b, got, want)
			}
		}
	}
}

func TestValueKeyEqualsExactlyWhatDeepEqualEquals(t *testing.T) {
	t.Parallel()
	values := []any{
		nil, true, false, "true", "", "n", 0.0, math.Copysign(0, -1), 1, int64(1), 1.0, json.Number("1.0"), json.Number("1e0"), 1.5, "1",
		[]any{}, []any{nil}, []any{"a", "b"}, []any{"b", "a"}, []any{"a,b"}, []any{[]any{"a"}, "b"}, []any{"a", []any{"b"}},
		map[string]any{}, map[string]any{"a": nil},
		map[string]any{"value": "x@y.com", "type": "work"},
		map[string]any{"type": "work", "value": "x@y.com"},
		map[string]any{"type": "work", "value": "x@y.com", "primary": false},
		map[string]any{"value": "X@y.com", "type": "work"},
		map[string]any{"a": "b", "c": "d"},
		map[string]any{"a": `b","c":"d`},
		map[string]any{`a":"b","c`: "d"},
		map[string]any{`a:"b",c`: "d"},
		map[string]any{"n": map[string]any{"x": 1}},
		map[string]any{"n": map[string]any{"x": 1.0}},
		map[string]any{"n": []any{1, "2"}},
	}
	for _, a := range values {
		for _, b := range values {
			want := reflect.DeepEqual(directory.NormalJSON(a), directory.NormalJSON(b))
			if got := valueKey(a) == valueKey(b); got != want {
				t.Errorf("valueKey(%#v) == valueKey(%#v) is %v, DeepEqual is %v", a, b, got, want)
			}
		}
	}
}

// oneAtATime is the member netting as first written: clear, and
// quadratic. The sets must give the same result.
type oneAtATime struct {
	replace     bool
	add, remove []string
}

func dropFold(list []string, id string) []string {
	var out []string
	for _, x := range list {
		if !strings.EqualFold(x, id) {
			out = append(out, x)
		}
	}
	return out
}

func (m *oneAtATime) addIDs(ids []string) {
	for _, id := range ids {
		m.remove = dropFold(m.remove, id)
		m.add = append(dropFold(m.add, id), id)
	}
}

func (m *oneAtATime) removeIDs(ids []string) {
	for _, id := range ids {
		m.add = dropFold(m.add, id)
		if !m.replace {
			m.remove = append(dropFold(m.remove, id), id)
		}
	}
}

func TestMemberSetsNetOutLikeOneOperationAtATime(t *testing.T) {
	t.Parallel()
	pool := []string{"a", "A", "b", "B", "c", "\u212a", "k", "K"}
	rnd := rand.New(rand.NewPCG(1, 2))
	for run := range 2000 {
		var got memberOps
		var want oneAtATime
		var trace []string
		for range 1 + rnd.IntN(8) {
			ids := make([]string, rnd.IntN(4))
			for i := range ids {
				ids[i] = pool[rnd.IntN(len(pool))]
			}
			switch rnd.IntN(5) {
			case 0, 1:
				got.addIDs(ids)
				want.addIDs(ids)
				trace = append(trace, fmt.Sprint("add", ids))
			case 2, 3:
				got.removeIDs(ids)
				want.removeIDs(ids)
				trace = append(trace, fmt.Sprint("remove", ids))
			default:
				got.replaceWith(ids)
				want.replace, want.add, want.remove = true, nil, nil
				want.addIDs(ids)
				trace = append(trace, fmt.Sprint("replace", ids))
			}
		}
		mc := got.change()
		if mc.Replace != want.replace || !sameIDs(mc.Add, want.add) || !sameIDs(mc.Remove, want.remove) {
			t.Fatalf("run %d, %v: got replace=%v add=%q remove=%q, want %v %q %q", run, trace, mc.Replace, mc.Add, mc.Remove, want.replace, want.add, want.remove)
		}
	}
}

func TestPatchBoundsTheValuesAUserIsLeftWith(t *testing.T) {
	t.Parallel()
	emails := func(n int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"value": fmt.Sprintf("e%d@x.com", i), "type": "work"}
		}
		return out
	}
	extra := []any{map[string]any{"value": "new@x.com"}}
	cases := []struct {
		name     string
		have     int
		ops      []elimity.PatchOperation
		refused  bool
		finalLen int
	}{
		{"an add up to the bound", normalize.MaxMultiValues - 1, []elimity.PatchOperation{op("add", "emails", extra)}, false, normalize.MaxMultiValues},
		{"an add past the bound", normalize.MaxMultiValues, []elimity.PatchOperation{op("add", "emails", extra)}, true, 0},
		{"an add of a value already there", normalize.MaxMultiValues, []elimity.PatchOperation{op("add", "emails", emails(1))}, false, normalize.MaxMultiValues},
		{"a filter that creates a value past the bound", normalize.MaxMultiValues, []elimity.PatchOperation{op("replace", `emails[type eq "home"].value`, "h@x.com")}, true, 0},
		{"a past-the-bound step undone later is still refused", normalize.MaxMultiValues, []elimity.PatchOperation{op("add", "emails", extra), op("remove", `emails[value eq "new@x.com"]`, nil)}, true, 0},
		{"a replace within the bound", normalize.MaxMultiValues + 50, []elimity.PatchOperation{op("replace", "emails", emails(3))}, false, 3},
		{"a user stored past the bound keeps its values", normalize.MaxMultiValues + 50, []elimity.PatchOperation{op("replace", "userName", "bob")}, false, normalize.MaxMultiValues + 50},
		{"a user stored past the bound may lose values", normalize.MaxMultiValues + 50, []elimity.PatchOperation{op("remove", `emails[value eq "e0@x.com"]`, nil)}, false, normalize.MaxMultiValues + 49},
		{"a user stored past the bound may not grow", normalize.MaxMultiValues + 50, []elimity.PatchOperation{op("add", "emails", extra)}, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := map[string]any{"userName": "ann", "emails": emails(c.have)}
			err := (&patcher{cat: userCatalogue, doc: d}).apply(c.ops)
			if c.refused {
				pe, ok := err.(*patchError)
				if !ok || pe.scimType != "invalidValue" || !strings.Contains(pe.detail, `"emails" would hold`) || !strings.Contains(pe.detail, "at most 100") {
					t.Fatalf("err = %v, want invalidValue naming emails and the bound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := len(d["emails"].([]any)); got != c.finalLen {
				t.Fatalf("%d emails, want %d", got, c.finalLen)
			}
		})
	}
}

// TestPatchRefusesInTheOrderOfTheOperations: a request is prepared before
// the resource is read, but a fault found then is still reported after
// the faults of earlier operations that only the resource reveals.
func TestPatchRefusesInTheOrderOfTheOperations(t *testing.T) {
	t.Parallel()
	d := doc(`{"userName":"ann","emails":[{"value":"a@b.c","type":"work"}]}`)
	err := (&patcher{cat: userCatalogue, doc: d}).apply([]elimity.PatchOperation{
		op("replace", "title", "x"),
		op("replace", `emails[value sw "z"].type`, "work"), // noTarget: depends on the user
		op("replace", "nope", "x"),                         // invalidPath: known without the user
	})
	pe, ok := err.(*patchError)
	if !ok || pe.scimType != "noTarget" || !strings.HasPrefix(pe.detail, "operation 2:") {
		t.Fatalf("err = %v, want operation 2's noTarget", err)
	}
}
