package scim

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	elimity "github.com/elimity-com/scim"
	fp "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/scim/normalize"
)

// Seeds are here and in testdata/fuzz/<Target>; a crasher found by
// fuzzing goes to testdata/fuzz/<Target> with the fix.

const fuzzUserDoc = `{"userName":"ann","externalId":"e1","active":true,"displayName":"Ann",
 "name":{"givenName":"Ann","familyName":"Archer"},
 "emails":[{"value":"ann@x.com","type":"work","primary":true},{"value":"a@home.org","type":"home"},"loose"],
 "phoneNumbers":[{"value":"+1","type":"work"}],"title":"Eng",
 "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Eng","manager":{"value":"m1","displayName":"Bob"}}}`

const fuzzGroupDoc = `{"displayName":"Eng","externalId":"g1","members":[{"value":"u1","display":"Ann"},{"value":"u2"}]}`

// fuzzKind picks the resource of a fuzz input.
func fuzzKind(b uint8) (normalize.Resource, *catalogue, string) {
	if b%2 == 0 {
		return normalize.User, userCatalogue, fuzzUserDoc
	}
	return normalize.Group, groupCatalogue, fuzzGroupDoc
}

func mustDoc(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// within reports whether every value of out is in in: out's maps have a
// subset of in's keys, out's lists hold elements each within some element
// of in's list. A projection only ever takes away.
func within(out, in any) bool {
	switch o := out.(type) {
	case map[string]any:
		i, ok := in.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range o {
			iv, ok := i[k]
			if !ok || !within(v, iv) {
				return false
			}
		}
		return true
	case []any:
		i, ok := in.([]any)
		if !ok {
			return false
		}
		for _, v := range o {
			found := false
			for _, iv := range i {
				if within(v, iv) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(out, in)
}

// FuzzProjection: attributes= and excludedAttributes= never fail a request
// and a projection only takes away: the response holds nothing the
// resource lacks, leaves the resource itself untouched, drops what is
// excluded, carries no top-level attribute that wants() says the handler
// may skip loading, and projecting twice changes nothing.
func FuzzProjection(f *testing.F) {
	for _, s := range [][2]string{
		{"userName,emails", ""}, {"", "emails"}, {"name.givenName", ""}, {"emails.value,emails[type eq \"work\"]", ""},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", ""},
		{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName", ""},
		{"", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"},
		{"", "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER"},
		{"urn:ietf:params:scim:schemas:core:2.0:User:name", "name.familyName"},
		{"members.display", ""}, {"displayName", "members"}, {" , ,", ""}, {"nope,name.nope", "name."},
		{"userName", "userName"}, {"emails", "emails.type"},
	} {
		f.Add(uint8(0), s[0], s[1])
		f.Add(uint8(1), s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, kb uint8, attributes, excluded string) {
		_, cat, docText := fuzzKind(kb)
		doc := mustDoc(t, docText)
		p := parseProjection(cat, attributes, excluded)
		out := p.apply(doc)
		if !reflect.DeepEqual(doc, mustDoc(t, docText)) {
			t.Fatalf("projecting %q / %q changed the resource", attributes, excluded)
		}
		if !within(out, doc) {
			t.Fatalf("projecting %q / %q gave %v, which the resource does not hold", attributes, excluded, out)
		}
		for k := range out {
			if _, isExt := cat.ext[k]; !isExt && !p.wants(k) {
				t.Fatalf("projecting %q / %q carries %s, which wants() lets the handler skip", attributes, excluded, k)
			}
		}
		for _, ex := range p.exclude {
			switch {
			case ex.urn != "" && ex.name == "":
				if _, ok := out[ex.urn]; ok {
					t.Fatalf("excluded %s is in %v", ex.urn, out)
				}
			case ex.urn == "" && ex.sub == "":
				if _, ok := out[ex.name]; ok {
					t.Fatalf("excluded %s is in %v", ex.name, out)
				}
			}
		}
		if again := p.apply(out); !reflect.DeepEqual(again, out) {
			t.Fatalf("projecting %q / %q twice: %v, then %v", attributes, excluded, out, again)
		}
	})
}

// countFilter counts a filter's comparisons and value paths.
func countFilter(f directory.Filter) (comparisons, valuePaths int) {
	switch f := f.(type) {
	case directory.Compare:
		return 1, 0
	case directory.And:
		lc, lv := countFilter(f.Left)
		rc, rv := countFilter(f.Right)
		return lc + rc, lv + rv
	case directory.Or:
		lc, lv := countFilter(f.Left)
		rc, rv := countFilter(f.Right)
		return lc + rc, lv + rv
	case directory.Not:
		return countFilter(f.Filter)
	case directory.ValuePath:
		c, v := countFilter(f.Filter)
		return c, v + 1
	}
	return 0, 0
}

// FuzzSearch: a POST .search body, at a resource endpoint or at the
// server root, is refused as a client error or planned within the filter
// bounds. searchQuery keeps what the body says (the query it makes reads
// back to the same query), a filter a resource endpoint accepts stays
// within maxFilterComparisons and maxFilterValuePaths, and the root, which
// reads an attribute a type lacks as unassigned, never refuses a filter
// that some type's endpoint accepts.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"filter":"userName eq \"ann\"","startIndex":1,"count":10}`,
		`{"filter":"displayName sw \"E\" or members[value eq \"u1\"]","sortBy":"displayName","sortOrder":"descending"}`,
		`{"filter":"emails[type eq \"work\" and value co \"@x\"] and not (active eq false)","attributes":["userName","emails.value"]}`,
		`{"filter":"nope eq 1"}`, `{"filter":"userName eq"}`, `{"sortBy":"nope"}`, `{"sortOrder":"sideways"}`,
		`{"filter":"a eq 1 or b eq 2 or c eq 3 or d eq 4 or e eq 5 or f eq 6 or g eq 7 or h eq 8 or i eq 9 or j eq 10 or k eq 11"}`,
		`{"filter":"emails[value pr] and emails[value pr] and emails[value pr] and emails[value pr]"}`,
		`{"startIndex":-5,"count":99999999999}`, `{"count":"10"}`, `{"attributes":"userName"}`, `[]`, `null`, `{`,
		`{"excludedAttributes":["members"],"filter":"members.display eq \"Ann\" and userName eq \"x\""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := searchQuery(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("searchQuery accepted invalid JSON %q", body)
		}
		if again, err := searchQuery(searchBody(t, q)); err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("searchQuery(%q) = %v, which reads back as %v, %v", body, q, again, err)
		}
		someTypeAccepts := false
		for _, rt := range rootTypes {
			raw := q.Get("filter")
			if strings.TrimSpace(raw) == "" {
				continue
			}
			norm, err := normalize.Filter(rt.kind, raw)
			if err != nil {
				continue
			}
			flt, err := parseFilter(rt.cat, norm)
			if err != nil {
				if !errors.Is(err, directory.ErrInvalid) {
					t.Fatalf("parseFilter(%q): %v is not ErrInvalid", norm, err)
				}
				continue
			}
			someTypeAccepts = true
			if c, v := countFilter(flt); c > maxFilterComparisons || v > maxFilterValuePaths {
				t.Fatalf("parseFilter(%q) accepted %d comparisons and %d value paths", norm, c, v)
			}
		}
		plans, scimType, err := planRoot(q)
		if err != nil {
			if scimType != "invalidFilter" && scimType != "invalidValue" {
				t.Fatalf("planRoot(%v): scimType %q for %v", q, scimType, err)
			}
			if scimType == "invalidFilter" && someTypeAccepts {
				t.Fatalf("planRoot refuses the filter %q, which a resource endpoint accepts: %v", q.Get("filter"), err)
			}
			return
		}
		if len(plans) != len(rootTypes) {
			t.Fatalf("planRoot: %d plans", len(plans))
		}
		if _, _, err := pageParams(q); err != nil && q.Get("startIndex") == "" && q.Get("count") == "" {
			t.Fatalf("pageParams without paging: %v", err)
		}
	})
}

// searchBody writes q back as a SearchRequest body.
func searchBody(t *testing.T, q url.Values) []byte {
	t.Helper()
	m := map[string]any{}
	for _, k := range []string{"filter", "sortBy", "sortOrder"} {
		if v := q.Get(k); v != "" {
			m[k] = v
		}
	}
	for _, k := range []string{"attributes", "excludedAttributes"} {
		if v := q.Get(k); v != "" {
			m[k] = []string{v}
		}
	}
	for _, k := range []string{"startIndex", "count"} {
		if v := q.Get(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("searchQuery made %s=%q", k, v)
			}
			m[k] = n
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patchOps decodes a normalised PatchOp body as the SCIM library hands it
// over: each operation's path parsed; nil when a path does not parse (the
// library refuses the request).
func patchOps(body []byte) []elimity.PatchOperation {
	var msg struct {
		Operations []struct {
			Op    string
			Path  *string
			Value any
		}
	}
	if json.Unmarshal(body, &msg) != nil {
		return nil
	}
	var ops []elimity.PatchOperation
	for _, o := range msg.Operations {
		op := elimity.PatchOperation{Op: o.Op, Value: o.Value}
		if o.Path != nil {
			p, err := fp.ParsePath([]byte(*o.Path))
			if err != nil {
				return nil
			}
			op.Path = &p
		}
		ops = append(ops, op)
	}
	return ops
}

// multiCounts is the number of values of each multi-valued attribute.
func multiCounts(cat *catalogue, doc map[string]any) map[string]int {
	out := map[string]int{}
	count := func(a attribute) {
		if a.multiValued {
			out[a.urn+":"+a.name] = valueCount(container(doc, a, false), a)
		}
	}
	for _, a := range cat.core {
		count(a)
	}
	for _, ext := range cat.ext {
		for _, a := range ext {
			count(a)
		}
	}
	return out
}

// FuzzPatcher runs PATCH bodies through the steps of a request (normalize,
// checkPatch, the library's decoding, prepare, apply) on a stored resource.
// It never panics; a refusal is a *patchError naming its operation; the
// document stays JSON; no multi-valued attribute grows past
// normalize.MaxMultiValues (one stored longer may keep its length); the
// document grows by no more than the body could bring to every value; a
// group's member change never both adds and removes a member. A request of
// remove and replace operations without [filters] is idempotent: applied
// again to its own result, it changes nothing.
func FuzzPatcher(f *testing.F) {
	ops := func(s ...string) []byte {
		return []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(s, ",") + `]}`)
	}
	for _, b := range [][]byte{
		ops(`{"op":"replace","path":"emails","value":[{"value":"a@x.com","primary":true},{"value":"b@x.com","primary":true}]}`),
		ops(`{"op":"add","path":"emails","value":[{"value":"ann@x.com","type":"work","primary":true}]}`),
		ops(`{"op":"replace","path":"emails[type eq \"work\"].value","value":"new@x.com"}`),
		ops(`{"op":"replace","path":"emails[type eq \"other\"].value","value":"o@x.com"}`),
		ops(`{"op":"remove","path":"emails[type eq \"work\"]"}`),
		ops(`{"op":"remove","path":"emails[type eq \"home\"].type"}`),
		ops(`{"op":"replace","value":{"displayName":"B","name.familyName":"B","active":false}}`),
		ops(`{"op":"replace","path":"name","value":{"givenName":"Z"}}`),
		ops(`{"op":"remove","path":"name.givenName"},{"op":"remove","path":"name.familyName"}`),
		ops(`{"op":"add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m2"}}`),
		ops(`{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"}`),
		ops(`{"op":"replace","path":"emails[value pr].display","value":"all"}`),
		ops(`{"op":"add","path":"members","value":[{"value":"u3"},{"value":"U3"}]},{"op":"remove","path":"members[value eq \"u3\"]"}`),
		ops(`{"op":"replace","path":"members","value":[{"value":"u9","display":"Z"}]},{"op":"remove","path":"members","value":[{"value":"u9"}]}`),
		ops(`{"op":"remove","path":"members"}`),
		ops(`{"op":"replace","path":"nope","value":1}`),
		ops(`{"op":"replace","path":"id","value":"x"}`),
	} {
		f.Add(uint8(0), []byte(nil), b)
		f.Add(uint8(1), []byte(nil), b)
	}
	f.Add(uint8(0), []byte(`{"userName":"x","emails":{"value":"not a list"},"name":"not an object"}`), ops(`{"op":"add","path":"emails","value":{"value":"z"}}`, `{"op":"replace","path":"name.givenName","value":"G"}`))
	f.Fuzz(func(t *testing.T, kb uint8, stored, body []byte) {
		kind, cat, docText := fuzzKind(kb)
		var doc map[string]any
		if json.Unmarshal(stored, &doc) != nil || doc == nil {
			doc = mustDoc(t, docText)
		}
		norm, err := normalize.Patch(kind, body)
		if err != nil || checkPatch(kind, norm) != nil {
			return
		}
		ops := patchOps(norm)
		if ops == nil {
			return
		}
		var members *memberOps
		if kind == normalize.Group {
			members = &memberOps{}
		}
		before, _ := json.Marshal(doc)
		counts := multiCounts(cat, doc)
		pl := prepare(cat, ops, members)
		err = pl.apply(doc)
		if err != nil {
			var pe *patchError
			if !errors.As(err, &pe) || pe.scimType == "" || !strings.HasPrefix(pe.detail, "operation ") {
				t.Fatalf("apply(%s) = %v (%T), not a *patchError naming its operation", norm, err, err)
			}
			return
		}
		after, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("apply(%s) left a document that is not JSON: %v", norm, err)
		}
		longest := normalize.MaxMultiValues
		for id, n := range multiCounts(cat, doc) {
			if n > normalize.MaxMultiValues && n > counts[id] {
				t.Fatalf("apply(%s): %s holds %d values, had %d", norm, id, n, counts[id])
			}
			longest = max(longest, n)
		}
		if limit := len(before) + (longest+1)*(len(norm)+16); len(after) > limit {
			t.Fatalf("apply(%s): the document grew from %d to %d bytes", norm, len(before), len(after))
		}
		if members != nil {
			mc := members.change()
			if mc.Replace && len(mc.Remove) > 0 {
				t.Fatalf("apply(%s): replace with removals %q", norm, mc.Remove)
			}
			added := map[string]bool{}
			for _, id := range mc.Add {
				if added[foldKey(id)] {
					t.Fatalf("apply(%s): %q added twice in %q", norm, id, mc.Add)
				}
				added[foldKey(id)] = true
			}
			for _, id := range mc.Remove {
				if added[foldKey(id)] {
					t.Fatalf("apply(%s): %q both added and removed", norm, id)
				}
			}
		}
		for _, st := range pl.steps {
			if st.verb == "add" || st.path.ValueExpression != nil {
				return
			}
		}
		var members2 *memberOps
		if members != nil {
			members2 = &memberOps{}
		}
		again := prepare(cat, patchOps(norm), members2)
		if err := again.apply(doc); err != nil {
			t.Fatalf("apply(%s) again: %v", norm, err)
		}
		if members != nil && !reflect.DeepEqual(members.change(), members2.change()) {
			t.Fatalf("apply(%s): member change %+v, then %+v", norm, members.change(), members2.change())
		}
		if twice, _ := json.Marshal(doc); string(twice) != string(after) {
			t.Fatalf("apply(%s) is not idempotent:\n once  %s\n twice %s", norm, after, twice)
		}
	})
}
