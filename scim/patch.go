package scim

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	elimity "github.com/elimity-com/scim"
	fp "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scimbridge/internal/directory"
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
// operations, in order: a later operation overrides an earlier one.
type memberOps struct {
	replace bool
	add     []string
	remove  []string
	display map[string]string // display names sent with added members
}

func without(list []string, id string) []string {
	out := list[:0]
	for _, x := range list {
		if !strings.EqualFold(x, id) {
			out = append(out, x)
		}
	}
	return out
}

func (m *memberOps) addIDs(ids []string) {
	for _, id := range ids {
		m.remove = without(m.remove, id)
		m.add = append(without(m.add, id), id)
	}
}

func (m *memberOps) removeIDs(ids []string) {
	for _, id := range ids {
		m.add = without(m.add, id)
		if !m.replace {
			m.remove = append(without(m.remove, id), id)
		}
	}
}

func (m *memberOps) replaceWith(ids []string) {
	m.replace, m.add, m.remove = true, nil, nil
	m.addIDs(ids)
}

// patcher applies PATCH operations (RFC 7644 §3.5.2) to a resource's
// document: the attribute map with canonical names, extension data under
// its URN. For groups, operations on members go to members instead.
type patcher struct {
	cat     *catalogue
	doc     map[string]any
	members *memberOps // nil for users
}

func (p *patcher) apply(ops []elimity.PatchOperation) error {
	for i, op := range ops {
		if err := p.applyOne(op); err != nil {
			if pe, ok := err.(*patchError); ok {
				pe.detail = fmt.Sprintf("operation %d: %s", i+1, pe.detail)
			}
			return err
		}
	}
	return nil
}

func (p *patcher) applyOne(op elimity.PatchOperation) error {
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
			if err := p.at(verb, path, v); err != nil {
				return err
			}
		}
		return nil
	}
	return p.at(verb, *op.Path, op.Value)
}

// at applies one operation at a parsed path.
func (p *patcher) at(verb string, path fp.Path, value any) error {
	ap := path.AttributePath
	a, ok := p.cat.lookup(ap.URI(), ap.AttributeName)
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
	if p.members != nil && a.name == "members" && a.urn == "" {
		return p.membersOp(verb, path, sub, value)
	}
	container := p.doc
	if a.urn != "" {
		ext, _ := p.doc[a.urn].(map[string]any)
		if ext == nil {
			if verb == "remove" {
				return nil
			}
			ext = map[string]any{}
			p.doc[a.urn] = ext
		}
		container = ext
		defer func() {
			if len(ext) == 0 {
				delete(p.doc, a.urn)
			}
		}()
	}
	if path.ValueExpression != nil {
		return p.filtered(verb, container, a, path.ValueExpression, sub, value)
	}
	switch {
	case sub == "":
		return p.whole(verb, container, a, value)
	case a.multiValued:
		return patchErrorf("invalidPath", "%s.%s addresses every value of %s: select values with a filter, such as %s[type eq \"work\"].%s", a.name, sub, a.name, a.name, sub)
	default:
		m, _ := container[a.name].(map[string]any)
		if verb == "remove" {
			if m != nil {
				delete(m, sub)
				if len(m) == 0 {
					delete(container, a.name)
				}
			}
			return nil
		}
		if value == nil {
			return patchErrorf("invalidValue", "%s %s.%s needs a value", verb, a.name, sub)
		}
		if m == nil {
			m = map[string]any{}
			container[a.name] = m
		}
		m[sub] = value
		return nil
	}
}

// whole applies an operation to an attribute without filter or sub-attribute.
func (p *patcher) whole(verb string, container map[string]any, a attribute, value any) error {
	if verb == "remove" {
		delete(container, a.name)
		return nil
	}
	if value == nil {
		return patchErrorf("invalidValue", "%s %s needs a value", verb, a.name)
	}
	switch {
	case a.multiValued:
		values, ok := value.([]interface{})
		if !ok {
			values = []interface{}{value}
		}
		if verb == "replace" {
			container[a.name] = onePrimary(append([]any{}, values...))
			return nil
		}
		list, _ := container[a.name].([]any)
		for _, v := range values {
			if !containsValue(list, v) {
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
func (p *patcher) filtered(verb string, container map[string]any, a attribute, f fp.Expression, sub string, value any) error {
	if !a.multiValued {
		return patchErrorf("invalidPath", "attribute %q is not multi-valued: it takes no [filter]", a.name)
	}
	list, _ := container[a.name].([]any)
	var matched []int
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
		}
	}
	if verb == "remove" {
		if sub == "" {
			keep := list[:0:0]
			for i, el := range list {
				if !slices.Contains(matched, i) {
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

func containsValue(list []any, v any) bool {
	nv := directory.NormalJSON(v)
	for _, x := range list {
		if reflect.DeepEqual(directory.NormalJSON(x), nv) {
			return true
		}
	}
	return false
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
func (p *patcher) membersOp(verb string, path fp.Path, sub string, value any) error {
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
		p.members.removeIDs(ids)
		return nil
	}
	if verb == "remove" {
		if value != nil {
			ids, _, err := memberValues(value)
			if err != nil {
				return err
			}
			if len(ids) > 0 {
				p.members.removeIDs(ids) // only those named: never all of them
				return nil
			}
		}
		p.members.replaceWith(nil)
		return nil
	}
	ids, display, err := memberValues(value)
	if err != nil {
		return err
	}
	for id, d := range display {
		if p.members.display == nil {
			p.members.display = map[string]string{}
		}
		p.members.display[id] = d
	}
	if verb == "replace" {
		p.members.replaceWith(ids)
	} else {
		p.members.addIDs(ids)
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
