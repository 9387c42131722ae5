// Package normalize rewrites the SCIM requests that Okta and Microsoft Entra ID
// really send into RFC 7643/7644 requests that github.com/elimity-com/scim
// accepts, and refuses with a precise SCIM error what cannot be honoured.
//
// Why it exists: the library is strict where the identity providers are not,
// and lenient (it silently drops data) where they are strict. Left alone:
//
//   - Entra sends booleans as strings ("active": "False") and the library
//     answers 400 invalidValue; schema.SetAllowStringValues would fix that only
//     process-wide and for every integer and decimal too, so this package
//     converts exactly the boolean attributes of the User schema instead.
//   - Entra sends manager as a bare id string, or as a one-element list, while
//     the enterprise schema declares a complex {value, $ref, displayName}.
//   - Entra removes group members with {"op":"Remove","path":"members",
//     "value":[{"value":"id"}]}. RFC 7644 §3.5.2.2 says a remove of a
//     multi-valued attribute without a filter removes ALL values, so a literal
//     server would empty the group. The operation is rewritten into one
//     members[value eq "id"] removal per listed member.
//   - Okta and Entra (aadOptscim062020) send path-less replace operations
//     whose value mixes plain keys, dotted keys ("name.givenName"), flattened
//     extension keys ("urn:…:enterprise:2.0:User:department") and "id". They
//     are expanded into one operation per attribute, each with an explicit path,
//     so the handler sees one shape only.
//   - On POST/PUT the library reads the enterprise extension only under its
//     exact URN key, and silently drops flattened, differently cased or
//     malformed ("…:2.0User", from Entra's own documentation) variants.
//   - Entra's Test Connection and some lookups send unquoted filter values
//     (externalId eq jyoung); the filter parser rejects them with 400.
//   - JSON null means "unassigned" (RFC 7643 §2.5); Entra sends "title": null
//     in creates and the library rejects null in PATCH values.
//
// The functions work on bytes and strings only, so they can run in an HTTP
// middleware before the library re-reads the body. They never drop data
// silently: anything they cannot map to an RFC request is an *Error whose
// ScimType and Detail can be returned to the client as a SCIM error. The
// package depends on the standard library only; the tests check its output
// against github.com/scim2/filter-parser/v2, the parser the library uses.
package normalize

import "fmt"

// SCIM error types (RFC 7644 §3.12) this package produces.
const (
	scimInvalidSyntax = "invalidSyntax"
	scimInvalidPath   = "invalidPath"
	scimInvalidValue  = "invalidValue"
	scimInvalidFilter = "invalidFilter"
	scimNoTarget      = "noTarget"
)

// Error is a request the normaliser refuses. ScimType is one of
// "invalidSyntax", "invalidPath", "invalidValue", "invalidFilter", "noTarget";
// Detail says what was wrong and where, and is safe to show to the client.
type Error struct {
	ScimType string
	Detail   string
}

func (e *Error) Error() string { return e.ScimType + ": " + e.Detail }

// errorf returns an *Error as an error (never a typed nil).
func errorf(scimType, format string, args ...any) error {
	return &Error{ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// Resource says which resource type a body is for.
type Resource int

// The resource types the normaliser knows.
const (
	User Resource = iota
	Group
)

// String returns the SCIM resource type name.
func (r Resource) String() string {
	switch r {
	case User:
		return "User"
	case Group:
		return "Group"
	default:
		return fmt.Sprintf("Resource(%d)", int(r))
	}
}

func (r Resource) valid() error {
	if r != User && r != Group {
		return errorf(scimInvalidValue, "unknown resource type %d", int(r))
	}
	return nil
}

// Bounds on what one request may carry (DESIGN §9: every input bounded,
// work linear in it). They are refused with 400 invalidValue: RFC 7644
// §3.12 reserves tooMany for filters that match too much, and a request
// over a bound is a value the server does not accept. docs/scim.md lists
// them for administrators.
const (
	// MaxOperations bounds the operations of one PATCH other than those
	// on a group's members, each attribute of a path-less value counting
	// as one. Okta and Entra send a handful per request. Each operation
	// with a value filter in its path reads the whole stored attribute,
	// so operations × the user's size (at most 64 KiB) is the PATCH's
	// cost, paid under the row lock: 200 keeps it near a tenth of a
	// second at worst.
	MaxOperations = 200
	// MaxMemberValues bounds the member ids one PATCH of a group names,
	// over all its operations (each id of members[value eq "a" or …]
	// counts; an operation on members naming none, such as removing them
	// all, counts as one). Okta removes members with one operation per
	// member, so these are not operations against MaxOperations. IdPs
	// send membership changes in batches of hundreds; a group itself may
	// hold any number of members, and a PUT or POST carries its full
	// list, bounded by the body size.
	MaxMemberValues = 10000
	// MaxMultiValues bounds the values of a multi-valued User attribute
	// (emails, phoneNumbers, ims, photos, addresses, entitlements, roles,
	// x509Certificates): in a POST or PUT, in the value of one PATCH
	// operation, and in the user a PATCH leaves.
	MaxMultiValues = 100
)
