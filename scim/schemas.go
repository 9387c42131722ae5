package scim

import (
	"strings"

	elimity "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Schema URNs of the resources served.
const (
	userURN  = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupURN = "urn:ietf:params:scim:schemas:core:2.0:Group"
)

// The library's schema definitions are built once: they are immutable
// values, and building them allocates.
var (
	userSchema       = schema.CoreUserSchema()
	enterpriseSchema = schema.ExtensionEnterpriseUser()
	groupSchema      = schema.CoreGroupSchema()
)

// pageSize is the default and the largest page of a list (the library uses
// one number for both). Okta asks for 100.
const pageSize = 100

// attribute is one entry of a resource's attribute catalogue.
type attribute struct {
	urn         string // "" for core
	name        string
	typ         directory.AttrType
	multiValued bool
	readOnly    bool
	subs        map[string]attribute // lower-cased name → sub-attribute
}

// catalogue resolves attribute names case-insensitively (RFC 7643 §2.1) to
// their canonical spelling and type, for filters, sorting and PATCH.
type catalogue struct {
	resource string
	core     map[string]attribute
	ext      map[string]map[string]attribute // URN → lower-cased name → attribute
}

func attrType(s string) directory.AttrType {
	switch s {
	case "boolean":
		return directory.TypeBoolean
	case "decimal":
		return directory.TypeDecimal
	case "integer":
		return directory.TypeInteger
	case "dateTime":
		return directory.TypeDateTime
	case "binary":
		return directory.TypeBinary
	case "reference":
		return directory.TypeReference
	case "complex":
		return directory.TypeComplex
	default:
		return directory.TypeString
	}
}

func fromSchema(urn string, attrs schema.Attributes) map[string]attribute {
	out := make(map[string]attribute, len(attrs))
	for _, a := range attrs {
		e := attribute{urn: urn, name: a.Name(), typ: attrType(a.AttributeType()), multiValued: a.MultiValued(), readOnly: a.Mutability() == "readOnly"}
		if a.HasSubAttributes() {
			e.subs = make(map[string]attribute)
			for _, s := range a.SubAttributes() {
				e.subs[strings.ToLower(s.Name())] = attribute{urn: urn, name: s.Name(), typ: attrType(s.AttributeType()), readOnly: s.Mutability() == "readOnly"}
			}
		}
		out[strings.ToLower(a.Name())] = e
	}
	return out
}

// common attributes of every resource (RFC 7643 §3.1).
func addCommon(m map[string]attribute) {
	m["id"] = attribute{name: "id", typ: directory.TypeString, readOnly: true}
	m["externalid"] = attribute{name: "externalId", typ: directory.TypeString}
	m["meta"] = attribute{name: "meta", typ: directory.TypeComplex, readOnly: true, subs: map[string]attribute{
		"resourcetype": {name: "resourceType", typ: directory.TypeString, readOnly: true},
		"created":      {name: "created", typ: directory.TypeDateTime, readOnly: true},
		"lastmodified": {name: "lastModified", typ: directory.TypeDateTime, readOnly: true},
		"location":     {name: "location", typ: directory.TypeReference, readOnly: true},
		"version":      {name: "version", typ: directory.TypeString, readOnly: true},
	}}
}

var (
	userCatalogue  = newCatalogue("User", userSchema.Attributes, map[string]schema.Attributes{directory.EnterpriseUserURN: enterpriseSchema.Attributes})
	groupCatalogue = newCatalogue("Group", groupSchema.Attributes, nil)
)

func newCatalogue(resource string, core schema.Attributes, ext map[string]schema.Attributes) *catalogue {
	c := &catalogue{resource: resource, core: fromSchema("", core), ext: map[string]map[string]attribute{}}
	addCommon(c.core)
	for urn, attrs := range ext {
		c.ext[urn] = fromSchema(urn, attrs)
	}
	return c
}

// lookup resolves an attribute by optional URN and name. Without a URN the
// core schema is tried first, then the extensions (RFC 7644 §3.10 lets
// clients omit the URN of an unambiguous extension attribute).
func (c *catalogue) lookup(urn, name string) (attribute, bool) {
	key := strings.ToLower(name)
	switch {
	case urn == "" || strings.EqualFold(urn, userURN) || strings.EqualFold(urn, groupURN):
		if strings.EqualFold(urn, userURN) && c.resource != "User" || strings.EqualFold(urn, groupURN) && c.resource != "Group" {
			return attribute{}, false
		}
		if a, ok := c.core[key]; ok {
			return a, true
		}
		if urn != "" {
			return attribute{}, false
		}
		for _, attrs := range c.ext {
			if a, ok := attrs[key]; ok {
				return a, true
			}
		}
	default:
		for u, attrs := range c.ext {
			if strings.EqualFold(u, urn) {
				a, ok := attrs[key]
				return a, ok
			}
		}
	}
	return attribute{}, false
}

// caseExact is the product rule for string comparisons: userName and
// emails compare case-insensitively, every other string exactly.
func caseExact(resource string, a attribute, sub string) bool {
	if resource != "User" || a.urn != "" {
		return true
	}
	switch {
	case a.name == "userName":
		return false
	case a.name == "emails" && (sub == "" || sub == "value"):
		return false
	}
	return true
}

func serviceProviderConfig() elimity.ServiceProviderConfig {
	return elimity.ServiceProviderConfig{
		DocumentationURI: optional.NewString("https://github.com/scimbridge/scimbridge"),
		AuthenticationSchemes: []elimity.AuthenticationScheme{{
			Type:        elimity.AuthenticationTypeOauthBearerToken,
			Name:        "OAuth Bearer Token",
			Description: "Authentication with a per-organization bearer token created by `scimbridge token create`.",
			SpecURI:     optional.NewString("https://www.rfc-editor.org/info/rfc6750"),
			Primary:     true,
		}},
		MaxResults:       pageSize,
		SupportFiltering: true,
		SupportPatch:     true,
	}
}
