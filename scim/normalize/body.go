package normalize

import (
	"fmt"
	"strings"
)

// Body normalises a POST or PUT body for a User or Group and returns the
// rewritten JSON:
//
//   - null attributes are removed at every level (Entra sends "title": null);
//   - "schemas" gets the core URN when it lacks it, and the enterprise URN
//     when the body carries the extension; other URIs are kept;
//   - on a User, the boolean attribute active and the primary sub-attribute
//     of emails, phoneNumbers, ims, photos, addresses, entitlements, roles and
//     x509Certificates accept "True"/"False" strings (Entra);
//   - on a User, the enterprise extension is gathered under its exact URN
//     from differently cased, malformed ("…:2.0User") and flattened
//     ("…:2.0:User:department") keys and from unqualified enterprise
//     attributes, and manager is made the complex {"value": id} it is;
//   - on a Group, members may be one object or bare id strings.
//
// A User attribute of more than MaxMultiValues values is refused with
// invalidValue.
//
// password, id, meta and groups are left alone: the handler drops password,
// the library strips the read-only ones.
func Body(r Resource, body []byte) ([]byte, error) {
	obj, err := decodeObject(r, body)
	if err != nil {
		return nil, err
	}
	stripNulls(obj)
	if err := checkFoldDuplicates(obj); err != nil {
		return nil, err
	}
	extPresent := false
	switch r {
	case User:
		if extPresent, err = normalizeUserBody(obj); err != nil {
			return nil, err
		}
	case Group:
		if err := normalizeGroupBody(obj); err != nil {
			return nil, err
		}
	}
	if err := normalizeBodySchemas(r, obj, extPresent); err != nil {
		return nil, err
	}
	return encodeJSON(obj), nil
}

// checkFoldDuplicates refuses top-level attributes that differ only in case:
// RFC 7643 §2.1 makes them the same attribute and the library refuses them
// too, with a less precise message.
func checkFoldDuplicates(obj *object) error {
	seen := make(map[string]string, len(obj.members))
	for _, m := range obj.members {
		k := strings.ToLower(m.key)
		if prev, ok := seen[k]; ok {
			return errorf(scimInvalidSyntax, "attributes %q and %q differ only in case", prev, m.key)
		}
		seen[k] = m.key
	}
	return nil
}

func normalizeBodySchemas(r Resource, obj *object, extPresent bool) error {
	i, err := obj.lookupFold("schemas")
	if err != nil {
		return err
	}
	var given []any
	at := 0
	if i >= 0 {
		switch t := obj.members[i].val.(type) {
		case string:
			given = []any{t}
		case []any:
			given = t
		default:
			return errorf(scimInvalidValue, `"schemas" must be a list of schema URIs, not %s`, kindOf(t))
		}
		obj.removeAt(i)
		at = i
	}
	var list []string
	add := func(s string) {
		if !containsFold(list, s) {
			list = append(list, s)
		}
	}
	for _, e := range given {
		s, ok := e.(string)
		if !ok {
			return errorf(scimInvalidValue, `"schemas" must be a list of strings; it holds %s`, kindOf(e))
		}
		add(canonicalSchemaURI(s))
	}
	other := groupURN
	if r == Group {
		other = userURN
	}
	if containsFold(list, other) {
		return errorf(scimInvalidValue, `"schemas" names %s in a %s request`, other, r)
	}
	// Some clients omit schemas or list only extensions; the resource type is
	// known from the endpoint, and the library requires the core URN.
	if !containsFold(list, coreURN(r)) {
		list = append([]string{coreURN(r)}, list...)
	}
	if extPresent {
		add(enterpriseURN)
	}
	out := make([]any, len(list))
	for j, s := range list {
		out[j] = s
	}
	obj.members = append(obj.members[:at:at], append([]member{{key: "schemas", val: out}}, obj.members[at:]...)...)
	return nil
}

// normalizeUserBody fixes the User-specific shapes and reports whether the
// body carries enterprise extension data.
func normalizeUserBody(obj *object) (bool, error) {
	eb := newExtBuilder()
	kept := make([]member, 0, len(obj.members))
	for _, m := range obj.members {
		switch {
		case isEnterpriseURN(m.key):
			inner, ok := m.val.(*object)
			if !ok {
				return false, errorf(scimInvalidValue, "%q must be an object, not %s", m.key, kindOf(m.val))
			}
			for _, im := range inner.members {
				if err := eb.merge(im.key, im.val, m.key+` / "`+im.key+`"`); err != nil {
					return false, err
				}
			}
		default:
			rest, flattened := enterprisePrefixRest(m.key)
			switch {
			case flattened:
				// The library reads only ext[URN] and would drop this key.
				if err := eb.merge(rest, m.val, m.key); err != nil {
					return false, err
				}
			case containsFold(enterpriseAttrs, m.key):
				// Entra's tutorial puts department and manager at the top
				// level of a create; core User has no such attributes, so they
				// can only be the extension's, and the library would drop them.
				if err := eb.merge(m.key, m.val, m.key); err != nil {
					return false, err
				}
			default:
				kept = append(kept, m)
			}
		}
	}
	obj.members = kept

	ext := eb.obj
	if err := fixBodyManager(ext); err != nil {
		return false, err
	}
	extPresent := len(ext.members) > 0
	if extPresent {
		obj.add(enterpriseURN, ext)
	}

	for i, m := range obj.members {
		switch {
		case strings.EqualFold(m.key, "active"):
			v, err := boolValue(m.key, m.val)
			if err != nil {
				return false, err
			}
			obj.members[i].val = v
		case containsFold(primaryAttrs, m.key):
			if list, ok := m.val.([]any); ok && len(list) > MaxMultiValues {
				return false, errorf(scimInvalidValue, "%d values for %q, at most %d", len(list), m.key, MaxMultiValues)
			}
			v, err := fixPrimaries(m.key, m.val, true)
			if err != nil {
				return false, err
			}
			obj.members[i].val = v
		}
	}
	return extPresent, nil
}

// extBuilder gathers the enterprise extension from the several places a
// body may carry it. Its indexes keep gathering linear in the number of keys,
// whatever a hostile body holds.
type extBuilder struct {
	obj  *object
	idx  map[string]int            // lower-case attribute → index in obj.members
	subs map[string]map[string]int // lower-case attribute → lower-case sub-attribute → index
}

func newExtBuilder() *extBuilder {
	return &extBuilder{obj: &object{}, idx: map[string]int{}, subs: map[string]map[string]int{}}
}

// merge puts the enterprise attribute path name ("department" or
// "manager.value") with value val into the extension. The same attribute
// given twice with different values is refused rather than resolved by
// guessing.
func (e *extBuilder) merge(name string, val any, source string) error {
	attr, sub, dotted := strings.Cut(name, ".")
	if !validAttrName(attr) || dotted && !validAttrName(sub) {
		return errorf(scimInvalidValue, "%q is not a valid enterprise extension attribute", source)
	}
	la := strings.ToLower(attr)
	i, found := e.idx[la]
	if !found {
		if dotted {
			val = &object{members: []member{{key: sub, val: val}}}
		}
		e.idx[la] = len(e.obj.members)
		e.obj.add(attr, val)
		return nil
	}
	if !dotted && equalJSON(e.obj.members[i].val, val) {
		return nil
	}
	existing, ok := e.obj.members[i].val.(*object)
	if !ok {
		return errorf(scimInvalidValue, "enterprise attribute %q is given more than once with different values (%s)", attr, source)
	}
	incoming := []member{{key: sub, val: val}}
	if !dotted {
		o, ok := val.(*object)
		if !ok {
			return errorf(scimInvalidValue, "enterprise attribute %q is given more than once with different values (%s)", attr, source)
		}
		incoming = o.members
	}
	subIdx, err := e.subIndex(la, existing)
	if err != nil {
		return err
	}
	for _, m := range incoming {
		ls := strings.ToLower(m.key)
		j, found := subIdx[ls]
		switch {
		case !found:
			subIdx[ls] = len(existing.members)
			existing.add(m.key, m.val)
		case !equalJSON(existing.members[j].val, m.val):
			return errorf(scimInvalidValue, "enterprise attribute %q is given more than once with different values (%s)", attr+"."+m.key, source)
		}
	}
	return nil
}

// subIndex returns the index of the sub-attributes of the complex attribute
// la, building it on first use.
func (e *extBuilder) subIndex(la string, o *object) (map[string]int, error) {
	if idx, ok := e.subs[la]; ok {
		return idx, nil
	}
	idx := make(map[string]int, len(o.members))
	for j, m := range o.members {
		ls := strings.ToLower(m.key)
		if prev, dup := idx[ls]; dup {
			return nil, errorf(scimInvalidSyntax, "attributes %q and %q differ only in case", o.members[prev].key, m.key)
		}
		idx[ls] = j
	}
	e.subs[la] = idx
	return idx, nil
}

// fixBodyManager makes manager the complex attribute RFC 7643 §4.3 defines.
// Entra sends the manager's id as a bare string; an empty string means "no
// manager", which in a full POST/PUT representation is leaving it out.
func fixBodyManager(ext *object) error {
	i, err := ext.lookupFold("manager")
	if err != nil || i < 0 {
		return err
	}
	v, empty, msg := managerValue(ext.members[i].val)
	if msg != "" {
		return errorf(scimInvalidValue, "attribute %q: %s", "manager", msg)
	}
	if empty {
		ext.removeAt(i)
		return nil
	}
	ext.members[i].val = v
	return nil
}

// managerValue converts the shapes Entra sends for manager into
// {"value": id}: a bare id string, an object, or a list holding one of those
// (Entra's tutorial, example 5, sends [{"$ref": …, "value": id}]). empty is
// true for "", [] and {} (after null removal): no manager. A non-empty msg
// says why the value is refused.
func managerValue(v any) (out any, empty bool, msg string) {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil, true, ""
		}
		return &object{members: []member{{key: "value", val: t}}}, false, ""
	case *object:
		return t, len(t.members) == 0, ""
	case []any:
		switch len(t) {
		case 0:
			return nil, true, ""
		case 1:
			if _, nested := t[0].([]any); !nested {
				return managerValue(t[0])
			}
		default:
			return nil, false, fmt.Sprintf("manager is single-valued, got %d values", len(t))
		}
	}
	return nil, false, fmt.Sprintf(`manager must be an object with "value" or a string id, not %s`, kindOf(v))
}

// boolValue converts Entra's "True"/"False" strings for the boolean attribute
// named desc. Other strings are refused: guessing that "yes" or "1" is true
// could activate an account nobody meant to. Non-strings are left to the
// library's type check.
func boolValue(desc string, v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	switch {
	case strings.EqualFold(s, "true"):
		return true, nil
	case strings.EqualFold(s, "false"):
		return false, nil
	}
	return nil, errorf(scimInvalidValue, "attribute %q: %q is not a boolean", desc, s)
}

// fixPrimaries converts string "primary" sub-attributes in the value of the
// multi-valued attribute attr: a list of objects or, where wrap is set, one
// object (which becomes a list of one, as RFC 7643 §2.4 requires).
func fixPrimaries(attr string, v any, wrap bool) (any, error) {
	switch t := v.(type) {
	case *object:
		if err := fixPrimary(attr, t); err != nil {
			return nil, err
		}
		if wrap {
			return []any{t}, nil
		}
		return t, nil
	case []any:
		for _, e := range t {
			if o, ok := e.(*object); ok {
				if err := fixPrimary(attr, o); err != nil {
					return nil, err
				}
			}
		}
	}
	return v, nil
}

func fixPrimary(attr string, o *object) error {
	i, err := o.lookupFold("primary")
	if err != nil || i < 0 {
		return err
	}
	v, err := boolValue(attr+"."+o.members[i].key, o.members[i].val)
	if err != nil {
		return err
	}
	o.members[i].val = v
	return nil
}

func normalizeGroupBody(obj *object) error {
	i, err := obj.lookupFold("members")
	if err != nil || i < 0 {
		return err
	}
	list, err := membersList(obj.members[i].val)
	if err != nil {
		return err
	}
	obj.members[i].val = list
	return nil
}

// membersList accepts what clients send for members: a list of
// {"value": id, …} objects, one such object, or bare id strings, and returns
// a list of objects.
func membersList(v any) ([]any, error) {
	var list []any
	switch t := v.(type) {
	case []any:
		list = t
	case *object, string:
		list = []any{t}
	default:
		return nil, errorf(scimInvalidValue, "members must be a list of objects, not %s", kindOf(v))
	}
	for i, e := range list {
		switch t := e.(type) {
		case *object:
			// Microsoft's reference tests name a member's display name
			// "displayName"; the schema calls it "display", and the library
			// would drop the unknown key.
			d, err := t.lookupFold("display")
			if err != nil {
				return nil, err
			}
			j, err := t.lookupFold("displayName")
			if err != nil {
				return nil, err
			}
			if d < 0 && j >= 0 {
				t.members[j].key = "display"
			}
		case string:
			if t == "" {
				return nil, errorf(scimInvalidValue, "members entry %d is an empty string", i+1)
			}
			list[i] = &object{members: []member{{key: "value", val: t}}}
		default:
			return nil, errorf(scimInvalidValue, `members entry %d must be an object with "value" or a string id, not %s`, i+1, kindOf(e))
		}
	}
	return list, nil
}

// decodeObject checks the resource type and decodes a body that must be a
// JSON object: how Body and Patch begin.
func decodeObject(r Resource, body []byte) (*object, error) {
	if err := r.valid(); err != nil {
		return nil, err
	}
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(*object)
	if !ok {
		return nil, errorf(scimInvalidSyntax, "the body must be a JSON object, not %s", kindOf(v))
	}
	return obj, nil
}
