package scim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/schema"
	fp "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scimbridge/scim/normalize"
)

// checkPatch looks at a normalised PATCH body as the library's validation
// will, and refuses what it would refuse, saying what and where: the library
// answers with one generic text per scimType ("The "path" attribute was
// invalid or malformed"), which leaves an administrator nothing to go on.
// A path that names no attribute is invalidPath; a value of the wrong type
// for its attribute is invalidValue. It runs once per operation, in time
// linear in the operation's value; anything it cannot read is left to the
// library.
func checkPatch(kind normalize.Resource, body []byte) error {
	var req struct {
		Operations []struct {
			Op    string
			Path  string
			Value any
		}
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber() // as the library decodes it, so that values compare alike
	if err := d.Decode(&req); err != nil {
		return nil
	}
	core, exts := groupSchema, []schema.Schema(nil)
	if kind == normalize.User {
		core, exts = userSchema, []schema.Schema{enterpriseSchema}
	}
	for _, op := range req.Operations {
		if op.Path == "" {
			continue // the normaliser gives every operation a path
		}
		target, known, err := patchTarget(core, exts, op.Path)
		if err != nil {
			return err
		}
		if op.Value == nil || !known {
			continue
		}
		if err := checkValue(target, op.Path, op.Value); err != nil {
			return err
		}
	}
	return nil
}

// patchTarget resolves a PATCH path to the attribute or sub-attribute it
// names. known is false for the common attributes (id, externalId, meta),
// which the schemas do not define and the handler checks.
func patchTarget(core schema.Schema, exts []schema.Schema, path string) (schema.CoreAttribute, bool, error) {
	p, err := fp.ParsePath([]byte(path))
	if err != nil {
		return schema.CoreAttribute{}, false, patchErrorf("invalidPath", "path %q is not an attribute path: %v", path, err)
	}
	ap := p.AttributePath
	var attrs schema.Attributes
	switch uri := ap.URI(); {
	case uri == "" || strings.EqualFold(uri, core.ID):
		attrs = core.Attributes
		if uri == "" {
			for _, e := range exts {
				attrs = append(attrs[:len(attrs):len(attrs)], e.Attributes...)
			}
		}
	default:
		for _, e := range exts {
			if strings.EqualFold(uri, e.ID) {
				attrs = e.Attributes
			}
		}
		if attrs == nil {
			return schema.CoreAttribute{}, false, patchErrorf("invalidPath", "path %q: %q is not a schema of this resource", path, uri)
		}
	}
	a, ok := attrNamed(attrs, ap.AttributeName)
	if !ok {
		if ap.URI() == "" || strings.EqualFold(ap.URI(), core.ID) {
			switch strings.ToLower(ap.AttributeName) {
			case "id", "externalid", "meta":
				return schema.CoreAttribute{}, false, nil
			}
		}
		return schema.CoreAttribute{}, false, patchErrorf("invalidPath", "path %q: no attribute %q", path, ap.AttributeName)
	}
	subName := ap.SubAttributeName()
	if s := p.SubAttributeName(); s != "" {
		subName = s
	}
	target := a
	if subName != "" {
		s, ok := attrNamed(a.SubAttributes(), subName)
		if !ok {
			return schema.CoreAttribute{}, false, patchErrorf("invalidPath", "path %q: attribute %q has no sub-attribute %q", path, a.Name(), subName)
		}
		target = s
	}
	if p.ValueExpression != nil {
		// The filter in brackets as the library checks it; its reasons
		// are specific.
		v, err := filter.NewPathValidator(path, core, exts...)
		if err == nil {
			err = v.Validate()
		}
		if err != nil {
			return schema.CoreAttribute{}, false, patchErrorf("invalidPath", "path %q: %v", path, err)
		}
	}
	return target, true, nil
}

func attrNamed(attrs schema.Attributes, name string) (schema.CoreAttribute, bool) {
	for _, a := range attrs {
		if strings.EqualFold(a.Name(), name) {
			return a, true
		}
	}
	return schema.CoreAttribute{}, false
}

// checkValue checks a value against its attribute as the library does: a
// multi-valued attribute takes a list of values or one value.
func checkValue(a schema.CoreAttribute, path string, v any) error {
	if list, ok := v.([]any); ok && a.MultiValued() {
		for _, e := range list {
			if err := checkSingular(a, path, e); err != nil {
				return err
			}
		}
		return nil
	}
	return checkSingular(a, path, v)
}

func checkSingular(a schema.CoreAttribute, name string, v any) error {
	if _, se := a.ValidateSingular(v); se == nil {
		return nil
	}
	want := map[string]string{
		"boolean": "true or false", "integer": "an integer", "decimal": "a number",
		"dateTime": "a date and time such as 2024-05-01T12:00:00Z", "binary": "base64 text",
		"string": "a string", "reference": "a string (a reference)", "complex": "an object",
	}[a.AttributeType()]
	obj, isObj := v.(map[string]any)
	if a.AttributeType() != "complex" || !isObj {
		if _, isStr := v.(string); isStr && (a.AttributeType() == "dateTime" || a.AttributeType() == "binary") {
			return patchErrorf("invalidValue", "the value of %q must be %s", name, want)
		}
		return patchErrorf("invalidValue", "the value of %q must be %s, not %s", name, want, jsonKind(v))
	}
	for _, s := range a.SubAttributes() {
		var hit any
		seen := 0
		for k, sv := range obj {
			if strings.EqualFold(k, s.Name()) {
				hit = sv
				seen++
			}
		}
		sub := name + "." + s.Name()
		switch {
		case seen > 1:
			return patchErrorf("invalidSyntax", "the value of %q holds %q more than once, in different case", name, s.Name())
		case s.Mutability() == "readOnly":
		case hit == nil && s.Required():
			return patchErrorf("invalidValue", "the value of %q needs %q", name, s.Name())
		case hit != nil:
			if err := checkSingular(s, sub, hit); err != nil {
				return err
			}
		}
	}
	return patchErrorf("invalidValue", "the value of %q does not fit the attribute", name)
}

// jsonKind names the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
