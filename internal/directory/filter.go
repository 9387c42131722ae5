package directory

// A Filter is a parsed, validated SCIM filter (RFC 7644 §3.4.2.2) in terms
// of the domain's attributes. The SCIM adapter builds it from the wire
// syntax, resolving attribute names case-insensitively against the schema;
// the store translates it to SQL.
type Filter interface{ isFilter() }

// AttrType is the SCIM type of an attribute.
type AttrType int

// SCIM attribute types (RFC 7643 §2.3).
const (
	TypeString AttrType = iota
	TypeBoolean
	TypeDecimal
	TypeInteger
	TypeDateTime
	TypeBinary
	TypeReference
	TypeComplex
)

// AttrPath addresses an attribute with its canonical (schema) spelling.
type AttrPath struct {
	// URN is "" for the core schema, else the extension's schema URN.
	URN string
	// Name is the attribute, e.g. "emails", or "meta" for meta.lastModified.
	Name string
	// Sub is the sub-attribute, e.g. "value", or "".
	Sub string
	// MultiValued tells whether Name is multi-valued.
	MultiValued bool
	// Type is the type of the addressed attribute (of Sub when set).
	Type AttrType
	// CaseExact tells whether string comparisons are case-sensitive.
	CaseExact bool
}

// CompareOp is a SCIM comparison operator.
type CompareOp string

// Comparison operators.
const (
	OpEq CompareOp = "eq"
	OpNe CompareOp = "ne"
	OpCo CompareOp = "co"
	OpSw CompareOp = "sw"
	OpEw CompareOp = "ew"
	OpPr CompareOp = "pr"
	OpGt CompareOp = "gt"
	OpGe CompareOp = "ge"
	OpLt CompareOp = "lt"
	OpLe CompareOp = "le"
)

// Compare is "attr op value". Value is a string, bool, int64, float64 or
// nil (for pr). Inside a ValuePath, Attr.Name is the sub-attribute of one
// element (Attr.Sub is empty).
type Compare struct {
	Attr  AttrPath
	Op    CompareOp
	Value any
}

// And is "left and right".
type And struct{ Left, Right Filter }

// Or is "left or right".
type Or struct{ Left, Right Filter }

// Not is "not (filter)".
type Not struct{ Filter Filter }

// ValuePath is "attr[filter]": some element of the multi-valued attribute
// Attr matches Filter, whose Compare nodes name sub-attributes.
type ValuePath struct {
	Attr   AttrPath
	Filter Filter
}

func (Compare) isFilter()   {}
func (And) isFilter()       {}
func (Or) isFilter()        {}
func (Not) isFilter()       {}
func (ValuePath) isFilter() {}
