package scim

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	elimity "github.com/elimity-com/scim"
	fp "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/scim/normalize"
)

// patchError is a PATCH the server refuses, with its RFC 7644 scimType.
type patchError struct {
	scimType string
	detail   string
}

func (e *patchError) Error() string { return e.detail }

func patchErrorf(scimType, format string, args ...any) error {
	return &patchError{scimType: scimType, detail: fmt.Sprintf(format, args...)}
}

// memberOps accumulates the net change of a group PATCH's member
// operations, in order: a later operation overrides an earlier one. Ids
// compare case-insensitively; the sets keep every operation constant-time,
// so a request naming n members costs O(n).
type memberOps struct {
	replace bool
	add     idSet
	remove  idSet
	display map[string]string // display names sent with added members
}

func (m *memberOps) addIDs(ids []string) {
	for _, id := range ids {
		m.remove.delete(id)
		m.add.put(id)
	}
}

func (m *memberOps) removeIDs(ids []string) {
	for _, id := range ids {
		m.add.delete(id)
		if !m.replace {
			m.remove.put(id)
		}
	}
}

func (m *memberOps) replaceWith(ids []string) {
	m.replace, m.add, m.remove = true, idSet{}, idSet{}
	m.addIDs(ids)
}

// change is the member change the operations add up to.
func (m *memberOps) change() directory.MemberChange {
	return directory.MemberChange{Replace: m.replace, Add: m.add.list(), Remove: m.remove.list(), Display: m.display}
}

// idSet is a set of ids under case-insensitive comparison that remembers
// the order in which ids were last put, and the spelling they were last
// put with.
type idSet struct {
	at      map[string]int // foldKey(id) → index in entries
	entries []idEntry      // in order of put; deleted and re-put ids leave dead entries
}

type idEntry struct {
	id   string
	live bool
}

func (s *idSet) put(id string) {
	k := foldKey(id)
	if i, ok := s.at[k]; ok {
		s.entries[i].live = false
	}
	if s.at == nil {
		s.at = map[string]int{}
	}
	s.at[k] = len(s.entries)
	s.entries = append(s.entries, idEntry{id: id, live: true})
}

func (s *idSet) delete(id string) {
	k := foldKey(id)
	if i, ok := s.at[k]; ok {
		s.entries[i].live = false
		delete(s.at, k)
	}
}

// list returns the ids in the order they were last put; nil when empty.
func (s *idSet) list() []string {
	if len(s.at) == 0 {
		return nil
	}
	out := make([]string, 0, len(s.at))
	for _, e := range s.entries {
		if e.live {
			out = append(out, e.id)
		}
	}
	return out
}

// foldKey maps strings that strings.EqualFold finds equal, and only those,
// to the same key: each rune becomes the smallest rune of its simple case
// folding orbit (EqualFold compares runes by that orbit).
func foldKey(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// The smallest rune of an ASCII letter's orbit is its upper case
		// (k, K and the Kelvin sign: K is the smallest).
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// patcher applies PATCH operations (RFC 7644 §3.5.2) to a resource's
// document: the attribute map with canonical names, extension data under
// its URN. For groups, operations on members go to members instead.
type patcher struct {
	cat     *catalogue
	doc     map[string]any
	members *memberOps // nil for users
}

// apply prepares and applies ops in one go.
func (p *patcher) apply(ops []elimity.PatchOperation) error {
	pl := prepare(p.cat, ops, p.members)
	return pl.apply(p.doc)
}

// plan is a PATCH request made ready before the resource is locked: paths
// resolved and checked, member operations netted out into members, the keys
// of values to add computed. What is left, the steps, depends on the
// current document and runs under the lock, each in time linear in the
// values it reads and writes.
type plan struct {
	cat   *catalogue
	steps []step
	// err is the first error found while preparing, returned once the
	// steps of the operations before it have run, so that a request with
	// several faults reports the one it reported before it was prepared.
	err error
}

// step is one operation, or one attribute of a path-less operation, on
// the document.
type step struct {
	n     int // operation number, from 1
	verb  string
	path  fp.Path
	a     attribute
	sub   string
	value any
	keys  []string // for an add to a multi-valued attribute: valueKey of each value
}

// prepare resolves ops against cat; member operations go to members (nil
// for users).
func prepare(cat *catalogue, ops []elimity.PatchOperation, members *memberOps) *plan {
	pl := &plan{cat: cat}
	for i, op := range ops {
		if err := pl.prepareOne(i+1, op, members); err != nil {
			pl.err = numbered(i+1, err)
			break
		}
	}
	return pl
}

func numbered(n int, err error) error {
	if pe, ok := err.(*patchError); ok {
		pe.detail = fmt.Sprintf("operation %d: %s", n, pe.detail)
	}
	return err
}

func (pl *plan) prepareOne(n int, op elimity.PatchOperation, members *memberOps) error {
	verb := strings.ToLower(op.Op)
	if op.Path == nil {
		// A path-less add or replace: each key of the value is a path.
		m, ok := op.Value.(map[string]interface{})
		if !ok || verb == "remove" {
			return patchErrorf("invalidValue", "%s without a path needs an object value", verb)
		}
		for key, v := range m {
			if strings.EqualFold(key, "schemas") || strings.EqualFold(key, "meta") || strings.EqualFold(key, "id") {
				continue // not writable; Okta sends id along with renames
			}
			path, err := fp.ParsePath([]byte(key))
			if err != nil {
				return patchErrorf("invalidPath", "%q is not an attribute path", key)
			}
			if err := pl.at(n, verb, path, v, members); err != nil {
				return err
			}
		}
		return nil
	}
	return pl.at(n, verb, *op.Path, op.Value, members)
}

// at prepares one operation at a parsed path.
func (pl *plan) at(n int, verb string, path fp.Path, value any, members *memberOps) error {
	ap := path.AttributePath
	a, ok := pl.cat.lookup(ap.URI(), ap.AttributeName)
	if !ok {
		return patchErrorf("invalidPath", "unknown attribute %q", path.String())
	}
	sub := ap.SubAttributeName()
	if s := path.SubAttributeName(); s != "" {
		sub = s
	}
	if sub != "" {
		s, ok := a.subs[strings.ToLower(sub)]
		if !ok {
			return patchErrorf("invalidPath", "attribute %q has no sub-attribute %q", a.name, sub)
		}
		sub = s.name
	}
	if a.name == "password" && a.urn == "" {
		return nil // writeOnly: accepted and never stored
	}
	if a.readOnly && a.urn == "" {
		return patchErrorf("mutability", "attribute %q is read-only", a.name)
	}
	if members != nil && a.name == "members" && a.urn == "" {
		return membersOp(members, verb, path, sub, value)
	}
	st := step{n: n, verb: verb, path: path, a: a, sub: sub, value: value}
	if verb == "add" && a.multiValued && sub == "" && path.ValueExpression == nil && value != nil {
		values := asList(value)
		st.keys = make([]string, len(values))
		for i, v := range values {
			st.keys[i] = valueKey(v)
		}
	}
	pl.steps = append(pl.steps, st)
	return nil
}

func asList(value any) []any {
	if values, ok := value.([]interface{}); ok {
		return values
	}
	return []interface{}{value}
}

// apply runs the steps on doc, then returns the error found while
// preparing, if any.
func (pl *plan) apply(doc map[string]any) error {
	// before holds the number of values each multi-valued attribute had
	// before its first step: an attribute may not grow past
	// normalize.MaxMultiValues, checked after each step, so that no step
	// of the request works on a longer list. One stored with more before
	// the bound existed may keep what it has, but not grow.
	before := map[string]int{} // URN:name → values
	for _, st := range pl.steps {
		id := st.a.urn + ":" + st.a.name
		if st.a.multiValued {
			if _, ok := before[id]; !ok {
				before[id] = valueCount(container(doc, st.a, false), st.a)
			}
		}
		err := run(doc, st)
		if err == nil && st.a.multiValued {
			if c := valueCount(container(doc, st.a, false), st.a); c > normalize.MaxMultiValues && c > before[id] {
				err = patchErrorf("invalidValue", "attribute %q would hold %d values, at most %d", st.a.name, c, normalize.MaxMultiValues)
			}
		}
		if err != nil {
			return numbered(st.n, err)
		}
	}
	return pl.err
}

// container is the map that holds a: the document, or its extension
// object, made if missing when create is set.
func container(doc map[string]any, a attribute, create bool) map[string]any {
	if a.urn == "" {
		return doc
	}
	ext, _ := doc[a.urn].(map[string]any)
	if ext == nil && create {
		ext = map[string]any{}
		doc[a.urn] = ext
	}
	return ext
}

func valueCount(container map[string]any, a attribute) int {
	list, _ := container[a.name].([]any)
	return len(list)
}

// run applies one step to doc.
func run(doc map[string]any, st step) error {
	a, sub, value, verb, path := st.a, st.sub, st.value, st.verb, st.path
	holder := doc
	if a.urn != "" {
		if holder = container(doc, a, verb != "remove"); holder == nil {
			return nil
		}
		defer func() {
			if len(holder) == 0 {
				delete(doc, a.urn)
			}
		}()
	}
	if path.ValueExpression != nil {
		return filtered(verb, holder, a, path.ValueExpression, sub, value)
	}
	switch {
	case sub == "":
		return whole(verb, holder, a, value, st.keys)
	case a.multiValued:
		return patchErrorf("invalidPath", "%s.%s addresses every value of %s: select values with a filter, such as %s[type eq \"work\"].%s", a.name, sub, a.name, a.name, sub)
	default:
		m, _ := holder[a.name].(map[string]any)
		if verb == "remove" {
			if m != nil {
				delete(m, sub)
				if len(m) == 0 {
					delete(holder, a.name)
				}
			}
			return nil
		}
		if value == nil {
			return patchErrorf("invalidValue", "%s %s.%s needs a value", verb, a.name, sub)
		}
		if m == nil {
			m = map[string]any{}
			holder[a.name] = m
		}
		m[sub] = value
		return nil
	}
}

// whole applies an operation to an attribute without filter or
// sub-attribute. keys are the valueKey of each value an add brings to a
// multi-valued attribute.
func whole(verb string, container map[string]any, a attribute, value any, keys []string) error {
	if verb == "remove" {
		delete(container, a.name)
		return nil
	}
	if value == nil {
		return patchErrorf("invalidValue", "%s %s needs a value", verb, a.name)
	}
	switch {
	case a.multiValued:
		values := asList(value)
		if verb == "replace" {
			container[a.name] = onePrimary(append([]any{}, values...))
			return nil
		}
		// An add of a value already there (or twice in the request) is a
		// no-op; values compare as JSON, by a key computed once each.
		if len(keys) != len(values) {
			keys = make([]string, len(values))
			for i, v := range values {
				keys[i] = valueKey(v)
			}
		}
		list, _ := container[a.name].([]any)
		seen := make(map[string]bool, len(list)+len(values))
		for _, x := range list {
			seen[valueKey(x)] = true
		}
		for i, v := range values {
			if !seen[keys[i]] {
				seen[keys[i]] = true
				list = append(list, v)
			}
		}
		container[a.name] = onePrimary(list)
	case a.typ == directory.TypeComplex:
		// Replacing or adding a complex attribute merges its sub-attributes;
		// those not given are left unchanged (RFC 7644 §3.5.2.3).
		m, ok := value.(map[string]interface{})
		if !ok {
			return patchErrorf("invalidValue", "%s needs an object value", a.name)
		}
		cur, _ := container[a.name].(map[string]any)
		if cur == nil {
			cur = map[string]any{}
		}
		for k, v := range m {
			cur[k] = v
		}
		container[a.name] = cur
	default:
		container[a.name] = value
	}
	return nil
}

// filtered applies an operation to the values of a multi-valued attribute
// that match a filter, e.g. emails[type eq "work"].value.
func filtered(verb string, container map[string]any, a attribute, f fp.Expression, sub string, value any) error {
	if !a.multiValued {
		return patchErrorf("invalidPath", "attribute %q is not multi-valued: it takes no [filter]", a.name)
	}
	list, _ := container[a.name].([]any)
	var matched []int
	hit := make([]bool, len(list))
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			continue
		}
		ok, err := matches(m, f)
		if err != nil {
			return err
		}
		if ok {
			matched = append(matched, i)
			hit[i] = true
		}
	}
	if verb == "remove" {
		if sub == "" {
			keep := list[:0:0]
			for i, el := range list {
				if !hit[i] {
					keep = append(keep, el)
				}
			}
			setList(container, a.name, keep)
			return nil
		}
		for _, i := range matched {
			delete(list[i].(map[string]any), sub)
		}
		return nil
	}
	if value == nil {
		return patchErrorf("invalidValue", "%s %s needs a value", verb, a.name)
	}
	if len(matched) == 0 {
		// Entra replaces emails[type eq "work"].value on users that have no
		// work email yet, and expects it to be created: build the new value
		// from the filter's equality tests.
		el, ok := fromEqualities(f)
		if !ok {
			return patchErrorf("noTarget", "no value of %s matches the filter, and the filter does not describe a new one", a.name)
		}
		list = append(list, el)
		matched = []int{len(list) - 1}
	}
	for _, i := range matched {
		el := list[i].(map[string]any)
		if sub != "" {
			el[sub] = value
			continue
		}
		m, ok := value.(map[string]interface{})
		if !ok {
			return patchErrorf("invalidValue", "%s[…] needs an object value", a.name)
		}
		for k, v := range m {
			el[k] = v
		}
	}
	container[a.name] = onePrimary(list)
	return nil
}

func setList(container map[string]any, name string, list []any) {
	if len(list) == 0 {
		delete(container, name)
		return
	}
	container[name] = list
}

// valueKey is a key of v as a JSON value: two values have the same key
// exactly when reflect.DeepEqual finds them equal once NormalJSON has
// made their numbers float64 (the comparison an add uses to skip values
// already there). Object keys are sorted; strings are quoted, so no
// separator can be forged.
func valueKey(v any) string {
	var b strings.Builder
	writeKey(&b, directory.NormalJSON(v))
	return b.String()
}

func writeKey(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteByte('n')
	case bool:
		if x {
			b.WriteByte('t')
		} else {
			b.WriteByte('f')
		}
	case float64:
		if x == 0 {
			x = 0 // DeepEqual finds -0 equal to 0 (JSON has no NaN)
		}
		b.WriteByte('d')
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case string:
		b.WriteString(strconv.Quote(x))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			writeKey(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(k))
			b.WriteByte(':')
			writeKey(b, x[k])
		}
		b.WriteByte('}')
	default:
		// Not produced by JSON decoding; the type keeps it apart from the
		// JSON kinds above.
		fmt.Fprintf(b, "?%T%#v", x, x)
	}
}

// onePrimary keeps at most one value marked primary: the last one set
// (RFC 7643 §2.4, "primary" may be true for one value only).
func onePrimary(list []any) []any {
	last := -1
	for i, el := range list {
		if m, ok := el.(map[string]any); ok && m["primary"] == true {
			last = i
		}
	}
	for i, el := range list {
		if m, ok := el.(map[string]any); ok && i != last && m["primary"] == true {
			m["primary"] = false
		}
	}
	return list
}

// fromEqualities builds a value from a filter of and-ed equalities.
func fromEqualities(f fp.Expression) (map[string]any, bool) {
	out := map[string]any{}
	var walk func(fp.Expression) bool
	walk = func(e fp.Expression) bool {
		switch x := e.(type) {
		case *fp.LogicalExpression:
			return strings.EqualFold(string(x.Operator), "and") && walk(x.Left) && walk(x.Right)
		case *fp.AttributeExpression:
			if !strings.EqualFold(string(x.Operator), "eq") || x.AttributePath.SubAttribute != nil {
				return false
			}
			v := x.CompareValue
			if s, ok := v.(string); ok {
				v = unescape(s)
			}
			out[x.AttributePath.AttributeName] = v
			return true
		}
		return false
	}
	return out, walk(f)
}

// matches evaluates a value filter on one element of a multi-valued
// attribute. String comparisons ignore case: IdPs write type values in
// either case.
func matches(el map[string]any, f fp.Expression) (bool, error) {
	switch x := f.(type) {
	case *fp.LogicalExpression:
		l, err := matches(el, x.Left)
		if err != nil {
			return false, err
		}
		r, err := matches(el, x.Right)
		if err != nil {
			return false, err
		}
		if strings.EqualFold(string(x.Operator), "or") {
			return l || r, nil
		}
		return l && r, nil
	case *fp.NotExpression:
		v, err := matches(el, x.Expression)
		return !v, err
	case *fp.AttributeExpression:
		var got any
		for k, v := range el {
			if strings.EqualFold(k, x.AttributePath.AttributeName) {
				got = v
			}
		}
		want := x.CompareValue
		if s, ok := want.(string); ok {
			want = unescape(s)
		}
		return compareValue(got, strings.ToLower(string(x.Operator)), want), nil
	}
	return false, patchErrorf("invalidFilter", "unsupported filter in path")
}

func compareValue(got any, op string, want any) bool {
	if op == "pr" {
		return got != nil && got != ""
	}
	if gb, ok := got.(bool); ok {
		wb, ok := want.(bool)
		if !ok {
			if ws, isStr := want.(string); isStr {
				wb, ok = strings.EqualFold(ws, "true"), strings.EqualFold(ws, "true") || strings.EqualFold(ws, "false")
			}
		}
		switch op {
		case "eq":
			return ok && gb == wb
		case "ne":
			return !ok || gb != wb
		}
		return false
	}
	g := strings.ToLower(fmt.Sprint(directory.NormalJSON(got)))
	w := strings.ToLower(fmt.Sprint(directory.NormalJSON(want)))
	if got == nil {
		return op == "ne"
	}
	switch op {
	case "eq":
		return g == w
	case "ne":
		return g != w
	case "co":
		return strings.Contains(g, w)
	case "sw":
		return strings.HasPrefix(g, w)
	case "ew":
		return strings.HasSuffix(g, w)
	case "gt":
		return g > w
	case "ge":
		return g >= w
	case "lt":
		return g < w
	case "le":
		return g <= w
	}
	return false
}

// membersOp turns an operation on a group's members into a member change.
func membersOp(members *memberOps, verb string, path fp.Path, sub string, value any) error {
	if sub != "" {
		return patchErrorf("invalidPath", "members.%s cannot be changed: add or remove members by value", sub)
	}
	if path.ValueExpression != nil {
		if verb != "remove" {
			return patchErrorf("invalidPath", "%s members[…] is not supported: add or remove members by value", verb)
		}
		ids, ok := memberIDs(path.ValueExpression)
		if !ok {
			return patchErrorf("invalidPath", "members[…] filters must test value with eq, such as members[value eq \"id\"]")
		}
		members.removeIDs(ids)
		return nil
	}
	if verb == "remove" {
		if value != nil {
			ids, _, err := memberValues(value)
			if err != nil {
				return err
			}
			if len(ids) > 0 {
				members.removeIDs(ids) // only those named: never all of them
				return nil
			}
		}
		members.replaceWith(nil)
		return nil
	}
	ids, display, err := memberValues(value)
	if err != nil {
		return err
	}
	for id, d := range display {
		if members.display == nil {
			members.display = map[string]string{}
		}
		members.display[id] = d
	}
	if verb == "replace" {
		members.replaceWith(ids)
	} else {
		members.addIDs(ids)
	}
	return nil
}

// memberValues reads member ids, and the display names sent with them,
// from a members value.
func memberValues(value any) (ids []string, display map[string]string, err error) {
	list, ok := value.([]interface{})
	if !ok {
		if value == nil {
			return nil, nil, nil
		}
		list = []interface{}{value}
	}
	ids = make([]string, 0, len(list))
	for _, el := range list {
		switch v := el.(type) {
		case map[string]interface{}:
			id, ok := v["value"].(string)
			if !ok || id == "" {
				return nil, nil, patchErrorf("invalidValue", "each member needs a value (the user's id)")
			}
			ids = append(ids, id)
			if d, ok := v["display"].(string); ok && d != "" {
				if display == nil {
					display = map[string]string{}
				}
				display[id] = d
			}
		case string:
			ids = append(ids, v)
		default:
			return nil, nil, patchErrorf("invalidValue", "each member needs a value (the user's id)")
		}
	}
	return ids, display, nil
}

// memberIDs reads the ids from value eq "a" [or value eq "b" …].
func memberIDs(f fp.Expression) ([]string, bool) {
	switch x := f.(type) {
	case *fp.LogicalExpression:
		if !strings.EqualFold(string(x.Operator), "or") {
			return nil, false
		}
		l, ok := memberIDs(x.Left)
		if !ok {
			return nil, false
		}
		r, ok := memberIDs(x.Right)
		return append(l, r...), ok
	case *fp.AttributeExpression:
		s, ok := x.CompareValue.(string)
		if !ok || !strings.EqualFold(x.AttributePath.AttributeName, "value") || !strings.EqualFold(string(x.Operator), "eq") {
			return nil, false
		}
		return []string{unescape(s)}, true
	}
	return nil, false
}
