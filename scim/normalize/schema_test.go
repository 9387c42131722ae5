package normalize

import (
	"slices"
	"testing"

	"github.com/elimity-com/scim/schema"
)

// TestTablesMatchTheLibrarySchemas keeps the attribute tables of schema.go in
// step with the schemas github.com/elimity-com/scim validates against.
func TestTablesMatchTheLibrarySchemas(t *testing.T) {
	t.Parallel()
	user := schema.CoreUserSchema()
	ext := schema.ExtensionEnterpriseUser()

	if userURN != schema.UserSchema || groupURN != schema.GroupSchema || enterpriseURN != ext.ID {
		t.Errorf("URN constants differ from the library: %s %s %s", schema.UserSchema, schema.GroupSchema, ext.ID)
	}

	var booleans, withPrimary, withValue []string
	for _, a := range user.Attributes {
		if a.AttributeType() == "boolean" {
			booleans = append(booleans, a.Name())
		}
		if !a.MultiValued() || !a.HasSubAttributes() || a.Mutability() == "readOnly" {
			continue
		}
		for _, s := range a.SubAttributes() {
			if s.Name() == "primary" && s.AttributeType() == "boolean" {
				withPrimary = append(withPrimary, a.Name())
			}
			if s.Name() == "value" {
				withValue = append(withValue, a.Name())
			}
		}
	}
	if !slices.Equal(booleans, []string{"active"}) {
		t.Errorf("top-level User booleans = %v, the normaliser converts only active", booleans)
	}
	if !slices.Equal(withPrimary, primaryAttrs) {
		t.Errorf("attributes with primary = %v, table has %v", withPrimary, primaryAttrs)
	}
	if !slices.Equal(withValue, valueAttrs) {
		t.Errorf("attributes with value = %v, table has %v", withValue, valueAttrs)
	}

	var extNames []string
	for _, a := range ext.Attributes {
		extNames = append(extNames, a.Name())
		if _, clash := user.Attributes.ContainsAttribute(a.Name()); clash {
			t.Errorf("enterprise attribute %q also exists in core User: qualifying it would be ambiguous", a.Name())
		}
		if a.AttributeType() == "boolean" {
			t.Errorf("enterprise attribute %q is a boolean the normaliser does not convert", a.Name())
		}
	}
	if !slices.Equal(extNames, enterpriseAttrs) {
		t.Errorf("enterprise attributes = %v, table has %v", extNames, enterpriseAttrs)
	}
	if m, ok := ext.Attributes.ContainsAttribute("manager"); !ok || m.AttributeType() != "complex" || m.MultiValued() {
		t.Errorf("manager is no longer a singular complex attribute")
	}
}
