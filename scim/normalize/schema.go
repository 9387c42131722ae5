package normalize

import "strings"

// Schema URNs. The values match the constants of
// github.com/elimity-com/scim/schema; a test checks that they do.
const (
	userURN       = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupURN      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	// malformedEnterpriseURN lacks the colon before "User". Microsoft's SCIM
	// tutorial ("Handling provisioning and deprovisioning of users", example
	// 2) shows it in a create request, so Entra tenants configured from that
	// page send it. It can only mean the enterprise extension.
	malformedEnterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"
	patchOpURN             = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// primaryAttrs are the multi-valued complex attributes of the core User schema
// that carry the boolean sub-attribute "primary" (RFC 7643 §4.1.2).
var primaryAttrs = []string{
	"emails", "phoneNumbers", "ims", "photos", "addresses",
	"entitlements", "roles", "x509Certificates",
}

// valueAttrs are the multi-valued complex User attributes whose elements are
// identified by a "value" sub-attribute, so that "remove these values" can be
// expressed as attr[value eq "…"]. addresses has no "value"; groups is
// read-only.
var valueAttrs = []string{
	"emails", "phoneNumbers", "ims", "photos",
	"entitlements", "roles", "x509Certificates",
}

// enterpriseAttrs are the attributes of the enterprise User extension
// (RFC 7643 §4.3). None of them exists in the core User schema, so an
// unqualified use of one of these names on a User can only mean the
// extension.
var enterpriseAttrs = []string{
	"employeeNumber", "costCenter", "organization", "division", "department", "manager",
}

func coreURN(r Resource) string {
	if r == Group {
		return groupURN
	}
	return userURN
}

// containsFold reports whether list holds name, compared case-insensitively
// (attribute names are case-insensitive, RFC 7643 §2.1).
func containsFold(list []string, name string) bool {
	for _, s := range list {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// isEnterpriseURN reports whether s names the enterprise extension: exactly,
// in another case, or in Entra's malformed spelling.
func isEnterpriseURN(s string) bool {
	return strings.EqualFold(s, enterpriseURN) || strings.EqualFold(s, malformedEnterpriseURN)
}

// canonicalURN returns the exact spelling of a schema URN this package knows
// for r, or uri unchanged. The library compares URNs byte for byte, while
// RFC 8141 makes "urn" and the namespace case-insensitive and IdPs differ.
func canonicalURN(r Resource, uri string) string {
	switch {
	case strings.EqualFold(uri, coreURN(r)):
		return coreURN(r)
	case r == User && isEnterpriseURN(uri):
		return enterpriseURN
	}
	return uri
}

// canonicalSchemaURI is canonicalURN for the "schemas" list, where every known
// URN is canonicalised whatever the resource (a wrong core URN is then
// detected by exact comparison).
func canonicalSchemaURI(s string) string {
	for _, u := range []string{userURN, groupURN, enterpriseURN} {
		if strings.EqualFold(s, u) {
			return u
		}
	}
	if strings.EqualFold(s, malformedEnterpriseURN) {
		return enterpriseURN
	}
	return s
}

// enterprisePrefixRest returns what follows "<enterprise URN>:" in key, for
// flattened extension keys such as "urn:…:enterprise:2.0:User:department".
func enterprisePrefixRest(key string) (string, bool) {
	for _, u := range []string{enterpriseURN, malformedEnterpriseURN} {
		p := u + ":"
		if len(key) >= len(p) && strings.EqualFold(key[:len(p)], p) {
			return key[len(p):], true
		}
	}
	return "", false
}
