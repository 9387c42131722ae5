package normalize

import (
	"fmt"
	"strings"
)

// Patch normalises a PATCH request body (RFC 7644 §3.5.2 PatchOp) and returns
// the rewritten JSON, which always has the form
// {"schemas":[PatchOp URN],"Operations":[{"op","path"[,"value"]}…]}:
// every operation has a lower-case op and an explicit, normalised path.
//
//   - schemas may be missing; extra URIs next to the PatchOp URN are dropped
//     (the library requires exactly one element).
//   - "Operations" may be spelled in any case; op may be "Add", "Replace",
//     "Remove" in any case (Entra capitalises them).
//   - A path-less add/replace is expanded into one operation per attribute
//     of its value: plain keys, dotted keys ("name.givenName"), flattened
//     extension keys and the extension container (Okta deactivation
//     {"active": false}, Okta group rename {"id", "displayName"}, Entra's
//     aadOptscim062020 replace). id, schemas and meta in such a value are
//     dropped: they are not writable.
//   - active and primary accept "True"/"False" strings; manager accepts a
//     bare id, a one-element list, and "" (replace → remove); replace with
//     null is a remove; null sub-attributes of a replaced complex value
//     become removes of those sub-attributes.
//   - remove of members (and of other multi-valued attributes identified by
//     "value") with a list of values becomes one remove per listed value:
//     attr[value eq "…"].
//   - Unquoted values in path filters are quoted.
//
// A request over MaxOperations, MaxMemberValues or, in one operation's
// value, MaxMultiValues is refused with invalidValue.
//
// Operations are numbered from 1 in error details, counting the operations
// of the request as sent.
func Patch(r Resource, body []byte) ([]byte, error) {
	obj, err := decodeObject(r, body)
	if err != nil {
		return nil, err
	}
	si, err := obj.lookupFold("schemas")
	if err != nil {
		return nil, err
	}
	if si >= 0 {
		if err := checkPatchSchemas(obj.members[si].val); err != nil {
			return nil, err
		}
	}
	// Other top-level members have no meaning in a PatchOp message
	// (RFC 7644 §3.5.2) and the library ignores them; they are not resource
	// data, so they are not carried over.
	oi, err := obj.lookupFold("operations")
	if err != nil {
		return nil, err
	}
	if oi < 0 || obj.members[oi].val == nil {
		return nil, errorf(scimInvalidValue, "no operations")
	}
	list, ok := obj.members[oi].val.([]any)
	if !ok {
		return nil, errorf(scimInvalidValue, `"Operations" must be a list of operations, not %s`, kindOf(obj.members[oi].val))
	}
	if len(list) == 0 {
		return nil, errorf(scimInvalidValue, "no operations")
	}
	// Each operation counts against one bound or the other: this refuses
	// at once what they would refuse one operation at a time.
	if len(list) > MaxOperations+MaxMemberValues {
		return nil, errorf(scimInvalidValue, "%d operations in one PATCH, at most %d (and %d more on a group's members): send them in several requests", len(list), MaxOperations, MaxMemberValues)
	}
	ops := []any{}
	others, members := 0, 0
	for i, e := range list {
		n := i + 1
		o, ok := e.(*object)
		if !ok {
			return nil, errorf(scimInvalidValue, "operation %d must be an object, not %s", n, kindOf(e))
		}
		out, err := normalizeOperation(r, n, o)
		if err != nil {
			return nil, err
		}
		for _, op := range out {
			if c, ok := memberCount(r, op); ok {
				members += max(c, 1)
			} else {
				others++
			}
		}
		if others > MaxOperations {
			return nil, errorf(scimInvalidValue, "operation %d: more than %d operations in one PATCH (each attribute of a path-less value counts as one): send them in several requests", n, MaxOperations)
		}
		if members > MaxMemberValues {
			return nil, errorf(scimInvalidValue, "operation %d: more than %d members named in one PATCH (an operation on members that names none counts as one): send the change in several requests", n, MaxMemberValues)
		}
		ops = append(ops, out...)
	}
	result := &object{members: []member{
		{key: "schemas", val: []any{patchOpURN}},
		{key: "Operations", val: ops},
	}}
	return encodeJSON(result), nil
}

// checkPatchSchemas accepts a schemas value that is missing (null, []) or
// holds the PatchOp URN, possibly next to others.
func checkPatchSchemas(v any) error {
	var list []any
	switch t := v.(type) {
	case nil:
		return nil
	case string:
		list = []any{t}
	case []any:
		list = t
	default:
		return errorf(scimInvalidValue, `"schemas" must be a list of URIs, not %s`, kindOf(v))
	}
	if len(list) == 0 {
		return nil
	}
	found := false
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return errorf(scimInvalidValue, `"schemas" must be a list of strings; it holds %s`, kindOf(e))
		}
		found = found || strings.EqualFold(s, patchOpURN)
	}
	if !found {
		return errorf(scimInvalidValue, `"schemas" must contain %s`, patchOpURN)
	}
	return nil
}

func newOp(op, path string, value any, hasValue bool) *object {
	o := &object{members: []member{{key: "op", val: op}, {key: "path", val: path}}}
	if hasValue {
		o.add("value", value)
	}
	return o
}

func normalizeOperation(r Resource, n int, o *object) ([]any, error) {
	field := func(name string) (int, error) {
		i, err := o.lookupFold(name)
		if err != nil {
			return -1, errorf(scimInvalidSyntax, "operation %d: %s", n, err.(*Error).Detail)
		}
		return i, nil
	}
	opI, err := field("op")
	if err != nil {
		return nil, err
	}
	pathI, err := field("path")
	if err != nil {
		return nil, err
	}
	valueI, err := field("value")
	if err != nil {
		return nil, err
	}

	if opI < 0 || o.members[opI].val == nil {
		return nil, errorf(scimInvalidValue, "operation %d: op is missing", n)
	}
	opS, ok := o.members[opI].val.(string)
	if !ok {
		return nil, errorf(scimInvalidValue, "operation %d: op must be a string, not %s", n, kindOf(o.members[opI].val))
	}
	op := strings.ToLower(strings.TrimSpace(opS))
	if op != "add" && op != "remove" && op != "replace" {
		return nil, errorf(scimInvalidValue, "operation %d: op %q is not add, remove or replace", n, opS)
	}

	path := ""
	if pathI >= 0 {
		switch t := o.members[pathI].val.(type) {
		case nil:
		case string:
			path = strings.TrimSpace(t)
		default:
			return nil, errorf(scimInvalidPath, "operation %d: path must be a string, not %s", n, kindOf(t))
		}
	}
	hasValue := valueI >= 0
	var value any
	if hasValue {
		value = o.members[valueI].val
	}
	// Other members of an operation (RFC 7644 §3.5.2 defines op, path and
	// value only) are ignored, as the library ignores them.

	var out []any
	switch {
	case op == "remove" && r == User && isEnterpriseURN(path):
		// The extension as a whole: one remove per attribute it defines,
		// which the handler applies in one go, dropping the emptied
		// extension with the last.
		if hasValue && value != nil && !isEmptyValue(value) {
			return nil, errorf(scimInvalidValue, "operation %d: remove of %q takes no value: it removes the whole extension", n, path)
		}
		for _, a := range enterpriseAttrs {
			out = append(out, removeOp(enterpriseURN+":"+a)...)
		}
	case op == "remove":
		if path == "" {
			return nil, errorf(scimNoTarget, "operation %d: remove needs a path", n)
		}
		pe, err := parsePath(r, path)
		if err != nil {
			return nil, errorf(scimInvalidPath, "operation %d: path %q: %v", n, path, err)
		}
		out, err = removeOps(r, n, pe, hasValue, value)
		if err != nil {
			return nil, err
		}
	case path == "":
		vo, ok := value.(*object)
		if !ok {
			what := "no value"
			if hasValue {
				what = kindOf(value)
			}
			return nil, errorf(scimInvalidValue, "operation %d: %s without a path needs an object value, not %s", n, op, what)
		}
		out, err = expandPathless(r, n, op, vo)
		if err != nil {
			return nil, err
		}
	case r == User && isEnterpriseURN(path):
		// The extension container used as a path: the same as a path-less
		// value {"<URN>": value}.
		if !hasValue {
			return nil, errorf(scimInvalidValue, "operation %d: %s of %q needs a value", n, op, path)
		}
		out, err = expandContainer(r, n, op, path, value)
		if err != nil {
			return nil, err
		}
	default:
		pe, err := parsePath(r, path)
		if err != nil {
			return nil, errorf(scimInvalidPath, "operation %d: path %q: %v", n, path, err)
		}
		out, err = updateOps(r, n, op, pe, hasValue, value)
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		// Never turn an operation into nothing without saying so.
		return nil, errorf(scimInvalidValue, "operation %d: the value of %s has no attribute that can be changed", n, op)
	}
	// Paths built here (quoted filters, members[value eq "…"], name.sub)
	// can be longer than what was sent; keep them within the limit that
	// parsePath applies, so that the output is itself an acceptable input.
	for _, e := range out {
		if p := opPath(e); len(p) > maxFilterLen {
			return nil, errorf(scimInvalidPath, "operation %d: path too long once normalised (%d bytes, at most %d)", n, len(p), maxFilterLen)
		}
	}
	return out, nil
}

// expandPathless turns a path-less add/replace into one operation per
// attribute, each with an explicit path (RFC 7644 §3.5.2.1/§3.5.2.3: without a
// path the value is a set of attributes of the resource itself).
func expandPathless(r Resource, n int, op string, vo *object) ([]any, error) {
	var out []any
	for _, m := range vo.members {
		switch {
		case strings.EqualFold(m.key, "id"), strings.EqualFold(m.key, "schemas"), strings.EqualFold(m.key, "meta"):
			// Not writable: id and meta are readOnly (RFC 7643 §3.1) and
			// schemas is not patched. Okta sends the group's id in every
			// rename ({"id": …, "displayName": …}), and the library itself
			// deletes a path-less "id". Dropping these keys is the documented
			// behaviour, not a loss of anything the server could store.
			continue
		case r == User && isEnterpriseURN(m.key):
			ops, err := expandContainer(r, n, op, m.key, m.val)
			if err != nil {
				return nil, err
			}
			out = append(out, ops...)
		default:
			pe, err := parsePath(r, m.key)
			if err != nil {
				return nil, errorf(scimInvalidPath, "operation %d: attribute %q in the value is not a valid attribute path: %v", n, m.key, err)
			}
			ops, err := updateOps(r, n, op, pe, true, m.val)
			if err != nil {
				return nil, err
			}
			out = append(out, ops...)
		}
	}
	return out, nil
}

// expandContainer turns {"<enterprise URN>": {…}} into one operation per
// extension attribute with the path "<URN>:<attribute>". A "schemas" key in
// the object is ignored; any other key must be an attribute of the
// extension.
func expandContainer(r Resource, n int, op, key string, v any) ([]any, error) {
	co, ok := v.(*object)
	if !ok {
		return nil, errorf(scimInvalidValue, "operation %d: %q must be an object of extension attributes, not %s", n, key, kindOf(v))
	}
	var out []any
	for _, m := range co.members {
		if strings.EqualFold(m.key, "schemas") {
			// A value written as a resource's extension object may name
			// its schema (RFC 7643 §3.3); that is no attribute to change.
			continue
		}
		pe, err := parsePath(r, enterpriseURN+":"+m.key)
		if err != nil {
			return nil, errorf(scimInvalidPath, "operation %d: %q in %q is not a valid attribute path: %v", n, m.key, key, err)
		}
		if !containsFold(enterpriseAttrs, pe.attr.name) {
			return nil, errorf(scimInvalidPath, "operation %d: %q in %q is not an attribute of the enterprise extension (%s)", n, m.key, key, strings.Join(enterpriseAttrs, ", "))
		}
		ops, err := updateOps(r, n, op, pe, true, m.val)
		if err != nil {
			return nil, err
		}
		out = append(out, ops...)
	}
	return out, nil
}

// memberCount reports whether op, built by newOp, is an operation on a
// Group's members, and how many member ids it names.
func memberCount(r Resource, op any) (int, bool) {
	if r != Group {
		return 0, false
	}
	pe, err := parsePath(r, opPath(op))
	if err != nil || !pe.isCore(r, "members") {
		return 0, false
	}
	if pe.filter != nil {
		return comparisons(pe.filter), true
	}
	o := op.(*object)
	if i, _ := o.lookupFold("value"); i >= 0 {
		if list, ok := o.members[i].val.([]any); ok {
			return len(list), true
		}
		return 1, true
	}
	return 0, true
}

// comparisons counts the comparisons of a filter: in members[value eq "a"
// or value eq "b"], the ids it names.
func comparisons(n node) int {
	switch t := n.(type) {
	case *logicalNode:
		return comparisons(t.left) + comparisons(t.right)
	case *groupNode:
		return comparisons(t.inner)
	case *notNode:
		return comparisons(t.inner)
	}
	return 1
}

// opPath returns the path of an operation built by newOp.
func opPath(op any) string {
	o, ok := op.(*object)
	if !ok {
		return ""
	}
	for _, m := range o.members {
		if m.key == "path" {
			s, _ := m.val.(string)
			return s
		}
	}
	return ""
}

func removeOp(path string) []any { return []any{newOp("remove", path, nil, false)} }

// updateOps normalises one add/replace with a known path.
func updateOps(r Resource, n int, op string, pe pathExpr, hasValue bool, v any) ([]any, error) {
	ps := pe.String()
	if !hasValue {
		return nil, errorf(scimInvalidValue, "operation %d: %s of %q needs a value", n, op, ps)
	}
	if v == nil {
		if op == "replace" {
			// RFC 7643 §2.5: null is "unassigned", so replacing a value with
			// null is removing it. The library refuses a null value; Entra
			// uses it to clear attributes.
			return removeOp(ps), nil
		}
		return nil, errorf(scimInvalidValue, "operation %d: add of %q has a null value", n, ps)
	}

	var err error
	switch {
	case pe.isActive(r) || pe.isPrimary(r):
		if v, err = boolValue(ps, v); err != nil {
			return nil, prefixed(n, err)
		}
	case pe.isManager(r):
		mv, empty, msg := managerValue(v)
		if msg != "" {
			return nil, errorf(scimInvalidValue, "operation %d: attribute %q: %s", n, ps, msg)
		}
		if empty {
			if op == "replace" {
				// Entra clears the manager by replacing it with "".
				return removeOp(ps), nil
			}
			return nil, errorf(scimInvalidValue, "operation %d: add of %q has an empty value", n, ps)
		}
		v = mv
	case pe.isMembers(r):
		if v, err = membersList(v); err != nil {
			return nil, prefixed(n, err)
		}
	case pe.isMultiPrimary(r):
		if list, ok := v.([]any); ok && len(list) > MaxMultiValues {
			return nil, errorf(scimInvalidValue, "operation %d: %d values for %q, at most %d", n, len(list), ps, MaxMultiValues)
		}
		if v, err = fixPrimaries(ps, v, false); err != nil {
			return nil, prefixed(n, err)
		}
	}

	// In a replace of a singular complex attribute (name, manager) or of the
	// element a filter selects, a null sub-attribute asks for that
	// sub-attribute to be cleared (RFC 7644 §3.5.2.3 replaces only the
	// sub-attributes given). Dropping it would silently keep the old value,
	// so it becomes a remove of that sub-attribute.
	var removes []any
	if o, ok := v.(*object); ok && op == "replace" && pe.sub() == "" && (pe.filter != nil || !pe.isMultiValued(r)) {
		kept := make([]member, 0, len(o.members))
		for _, m := range o.members {
			if m.val != nil {
				kept = append(kept, m)
				continue
			}
			if !validAttrName(m.key) {
				return nil, errorf(scimInvalidPath, "operation %d: %q is not a valid sub-attribute name of %q", n, m.key, ps)
			}
			sp := pe
			if sp.filter == nil {
				sp.attr.sub = m.key
			} else {
				sp.filterSub = m.key
			}
			removes = append(removes, newOp("remove", sp.String(), nil, false))
		}
		o.members = kept
		if len(kept) == 0 && len(removes) > 0 {
			return removes, nil
		}
	}
	// Elsewhere a null is an unassigned attribute of a new value: leaving it
	// out says the same.
	v = stripNulls(v)
	return append([]any{newOp(op, ps, v, true)}, removes...), nil
}

// removeOps normalises a remove.
func removeOps(r Resource, n int, pe pathExpr, hasValue bool, v any) ([]any, error) {
	ps := pe.String()
	if !hasValue || v == nil {
		return removeOp(ps), nil
	}
	if pe.isValueMulti(r) {
		// Entra removes members with {"op":"Remove","path":"members",
		// "value":[{"value":"id"}…]}. RFC 7644 §3.5.2.2 removes ALL values of
		// a multi-valued attribute targeted without a filter, so the literal
		// reading would empty the group; Entra means "remove these". Each
		// listed value becomes its own remove with a filter. Only "value"
		// identifies an entry; display, type and $ref are ignored.
		var entries []any
		switch t := v.(type) {
		case []any:
			entries = t
		case *object, string:
			entries = []any{t}
		default:
			return nil, errorf(scimInvalidValue, "operation %d: the value of a remove of %q must be a list of objects with \"value\", not %s", n, ps, kindOf(v))
		}
		if r == User && len(entries) > MaxMultiValues {
			return nil, errorf(scimInvalidValue, "operation %d: %d values for %q, at most %d", n, len(entries), ps, MaxMultiValues)
		}
		if len(entries) == 0 {
			// An empty list names no value: this is the RFC remove of the
			// whole attribute, which is what an empty list also means for
			// Okta and Entra.
			return removeOp(ps), nil
		}
		out := make([]any, 0, len(entries))
		for i, e := range entries {
			id, msg := entryValue(e)
			if msg != "" {
				return nil, errorf(scimInvalidValue, "operation %d: %s entry %d %s", n, ps, i+1, msg)
			}
			sp := pe
			sp.filter = &compareNode{attr: attrPath{name: "value"}, op: "eq", value: quoteFilterString(id)}
			out = append(out, newOp("remove", sp.String(), nil, false))
		}
		return out, nil
	}
	if pe.isManager(r) {
		mv, empty, msg := managerValue(v)
		if msg != "" {
			return nil, errorf(scimInvalidValue, "operation %d: attribute %q: %s", n, ps, msg)
		}
		if empty {
			return removeOp(ps), nil
		}
		v = mv
	}
	// A value on other removes is not defined by RFC 7644 but is passed on
	// for the handler to judge; nulls in it mean nothing.
	wasEmpty := isEmptyValue(v)
	v = stripNulls(v)
	if isEmptyValue(v) && !wasEmpty {
		return nil, errorf(scimInvalidValue, "operation %d: the value of the remove of %q holds only nulls", n, ps)
	}
	return []any{newOp("remove", ps, v, true)}, nil
}

func isEmptyValue(v any) bool {
	switch t := v.(type) {
	case *object:
		return len(t.members) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// entryValue returns the id a members-style entry names: a bare string or
// the "value" of an object. A non-empty msg says why the entry is refused.
func entryValue(e any) (string, string) {
	switch t := e.(type) {
	case string:
		if t == "" {
			return "", "is an empty string"
		}
		return t, ""
	case *object:
		i, err := t.lookupFold("value")
		if err != nil {
			return "", err.(*Error).Detail
		}
		if i < 0 || t.members[i].val == nil {
			return "", `has no "value"`
		}
		s, ok := t.members[i].val.(string)
		if !ok {
			return "", fmt.Sprintf(`has a "value" that is %s, not a string`, kindOf(t.members[i].val))
		}
		if s == "" {
			return "", `has an empty "value"`
		}
		return s, ""
	case nil:
		return "", "is null"
	default:
		return "", fmt.Sprintf(`must be an object with "value", not %s`, kindOf(e))
	}
}

// prefixed adds the operation number to an *Error's detail.
func prefixed(n int, err error) error {
	if e, ok := err.(*Error); ok {
		return &Error{ScimType: e.ScimType, Detail: fmt.Sprintf("operation %d: %s", n, e.Detail)}
	}
	return err
}

// Classification of PATCH targets. Attribute names compare case-insensitively
// (RFC 7643 §2.1); a core attribute may carry the core URN as prefix.

func (p pathExpr) isCore(r Resource, names ...string) bool {
	return (p.attr.uri == "" || p.attr.uri == coreURN(r)) && containsFold(names, p.attr.name)
}

// isActive: the User's active attribute.
func (p pathExpr) isActive(r Resource) bool {
	return r == User && p.isCore(r, "active") && p.attr.sub == "" && p.filter == nil
}

// isPrimary: emails.primary, emails[type eq "work"].primary and the like.
func (p pathExpr) isPrimary(r Resource) bool {
	return r == User && p.isCore(r, primaryAttrs...) && strings.EqualFold(p.sub(), "primary")
}

// isMultiPrimary: a whole multi-valued attribute with primary, or one
// filtered element of it.
func (p pathExpr) isMultiPrimary(r Resource) bool {
	return r == User && p.isCore(r, primaryAttrs...) && p.sub() == ""
}

// isManager: the enterprise manager attribute itself (not manager.value).
func (p pathExpr) isManager(r Resource) bool {
	return r == User && p.attr.uri == enterpriseURN && strings.EqualFold(p.attr.name, "manager") &&
		p.sub() == "" && p.filter == nil
}

// isMembers: a Group's members attribute as a whole.
func (p pathExpr) isMembers(r Resource) bool {
	return r == Group && p.isCore(r, "members") && p.sub() == "" && p.filter == nil
}

// isMultiValued: a known multi-valued attribute.
func (p pathExpr) isMultiValued(r Resource) bool {
	if r == Group {
		return p.isCore(r, "members")
	}
	return p.isCore(r, primaryAttrs...) || p.isCore(r, "groups")
}

// isValueMulti: a whole multi-valued attribute whose elements are named by
// "value".
func (p pathExpr) isValueMulti(r Resource) bool {
	if p.sub() != "" || p.filter != nil {
		return false
	}
	if r == Group {
		return p.isCore(r, "members")
	}
	return p.isCore(r, valueAttrs...)
}
