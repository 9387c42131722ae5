package scim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	fp "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// simpleEq matches `attr eq "value"` and `attr.sub eq "value"`, the form
// normalize.Filter gives the IdPs' lookups.
var simpleEq = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9_-]*)(?:\.([A-Za-z][A-Za-z0-9_-]*))? eq "((?:[^"\\]|\\.)*)"$`)

// maxFilterDepth bounds the nesting of a filter, so that a hostile filter
// cannot build a deep tree or a huge SQL statement.
const maxFilterDepth = 32

// The cost of a filter grows with its comparisons, and most with those
// inside a value path (emails[type co "x"]), each a scan of a JSON array
// per user: a 150-clause filter held a connection for half a minute. The
// IdPs send at most three comparisons (Entra's `id eq … and members eq …`),
// so these bounds leave room for hand-written queries and no more.
const (
	maxFilterComparisons = 10
	maxFilterValuePaths  = 3
)

// filterBudget counts what a filter has spent of its bounds.
type filterBudget struct{ comparisons, valuePaths int }

func (b *filterBudget) compare() error {
	if b.comparisons++; b.comparisons > maxFilterComparisons {
		return directory.Invalidf("filter has too many comparisons (at most %d)", maxFilterComparisons)
	}
	return nil
}

func (b *filterBudget) valuePath() error {
	if b.valuePaths++; b.valuePaths > maxFilterValuePaths {
		return directory.Invalidf("filter has too many [value filters] (at most %d)", maxFilterValuePaths)
	}
	return nil
}

// parseFilter turns a normalised filter string into the domain's filter,
// resolving every attribute against the catalogue. Any problem is an
// ErrInvalid whose message is fit for the client (invalidFilter).
func parseFilter(c *catalogue, s string) (directory.Filter, error) {
	if m := simpleEq.FindStringSubmatch(s); m != nil {
		// The lookups IdPs send before every create (userName eq "x",
		// externalId eq "y") skip the general parser, which costs more
		// than the rest of the request.
		p := fp.AttributePath{AttributeName: m[1]}
		if m[2] != "" {
			sub := m[2]
			p.SubAttribute = &sub
		}
		return c.compare(&fp.AttributeExpression{AttributePath: p, Operator: fp.EQ, CompareValue: m[3]}, nil)
	}
	expr, err := fp.ParseFilter([]byte(s))
	if err != nil {
		return nil, directory.Invalidf("filter %q does not parse: %v", s, err)
	}
	return c.convert(expr, nil, 0, &filterBudget{})
}

// convert maps a parsed expression; parent is the multi-valued attribute
// inside whose [brackets] the expression stands, or nil.
func (c *catalogue) convert(e fp.Expression, parent *attribute, depth int, b *filterBudget) (directory.Filter, error) {
	if depth > maxFilterDepth {
		return nil, directory.Invalidf("filter is nested too deeply (at most %d levels)", maxFilterDepth)
	}
	switch x := e.(type) {
	case *fp.LogicalExpression:
		l, err := c.convert(x.Left, parent, depth+1, b)
		if err != nil {
			return nil, err
		}
		r, err := c.convert(x.Right, parent, depth+1, b)
		if err != nil {
			return nil, err
		}
		if strings.EqualFold(string(x.Operator), "or") {
			return directory.Or{Left: l, Right: r}, nil
		}
		return directory.And{Left: l, Right: r}, nil
	case *fp.NotExpression:
		f, err := c.convert(x.Expression, parent, depth+1, b)
		if err != nil {
			return nil, err
		}
		return directory.Not{Filter: f}, nil
	case *fp.ValuePath:
		if err := b.valuePath(); err != nil {
			return nil, err
		}
		if parent != nil {
			return nil, directory.Invalidf("value paths cannot be nested")
		}
		a, ok := c.lookup(x.AttributePath.URI(), x.AttributePath.AttributeName)
		if !ok {
			return nil, directory.Invalidf("unknown attribute %q", x.AttributePath.String())
		}
		if a.typ != directory.TypeComplex {
			return nil, directory.Invalidf("attribute %q is not complex: it takes no [filter]", a.name)
		}
		inner, err := c.convert(x.ValueFilter, &a, depth+1, b)
		if err != nil {
			return nil, err
		}
		return directory.ValuePath{Attr: directory.AttrPath{URN: a.urn, Name: a.name, MultiValued: a.multiValued, Type: a.typ}, Filter: inner}, nil
	case *fp.AttributeExpression:
		if err := b.compare(); err != nil {
			return nil, err
		}
		return c.compare(x, parent)
	default:
		return nil, directory.Invalidf("unsupported filter expression %T", e)
	}
}

func (c *catalogue) compare(x *fp.AttributeExpression, parent *attribute) (directory.Filter, error) {
	p := x.AttributePath
	var path directory.AttrPath
	var target attribute
	if parent != nil {
		if p.URIPrefix != nil || p.SubAttribute != nil {
			return nil, directory.Invalidf("inside %s[…] name a sub-attribute of %s, not %q", parent.name, parent.name, p.String())
		}
		sub, ok := parent.subs[strings.ToLower(p.AttributeName)]
		if !ok {
			return nil, directory.Invalidf("%s has no sub-attribute %q", parent.name, p.AttributeName)
		}
		target = sub
		path = directory.AttrPath{Name: sub.name, Type: sub.typ, CaseExact: caseExact(c.resource, *parent, sub.name)}
	} else {
		a, ok := c.lookup(p.URI(), p.AttributeName)
		if !ok {
			return nil, directory.Invalidf("unknown attribute %q", p.String())
		}
		path = directory.AttrPath{URN: a.urn, Name: a.name, MultiValued: a.multiValued, Type: a.typ}
		target = a
		sub := p.SubAttributeName()
		if sub == "" && a.typ == directory.TypeComplex {
			// "emails eq x" and "members eq id" compare the value
			// sub-attribute (RFC 7644 §3.4.2.2, as Entra's membership
			// check relies on).
			if _, ok := a.subs["value"]; !ok {
				return nil, directory.Invalidf("attribute %q is complex: name a sub-attribute", a.name)
			}
			sub = "value"
		}
		if sub != "" {
			s, ok := a.subs[strings.ToLower(sub)]
			if !ok {
				return nil, directory.Invalidf("attribute %q has no sub-attribute %q", a.name, sub)
			}
			path.Sub, path.Type = s.name, s.typ
			target = s
		}
		path.CaseExact = caseExact(c.resource, a, path.Sub)
	}
	op := directory.CompareOp(strings.ToLower(string(x.Operator)))
	value := x.CompareValue
	switch op {
	case directory.OpPr:
		return directory.Compare{Attr: path, Op: op}, nil
	case directory.OpEq, directory.OpNe, directory.OpCo, directory.OpSw, directory.OpEw,
		directory.OpGt, directory.OpGe, directory.OpLt, directory.OpLe:
	default:
		return nil, directory.Invalidf("unknown operator %q", x.Operator)
	}
	ordering := op == directory.OpGt || op == directory.OpGe || op == directory.OpLt || op == directory.OpLe
	substring := op == directory.OpCo || op == directory.OpSw || op == directory.OpEw
	switch target.typ {
	case directory.TypeBoolean:
		b, ok := value.(bool)
		if !ok || ordering || substring {
			return nil, directory.Invalidf("%s is a boolean: compare it with eq or ne and true or false", target.name)
		}
		value = b
	case directory.TypeBinary:
		if ordering {
			return nil, directory.Invalidf("%s is binary and has no order", target.name)
		}
	case directory.TypeInteger, directory.TypeDecimal:
		switch v := value.(type) {
		case int:
			value = int64(v)
		case float64:
		default:
			return nil, directory.Invalidf("%s is a number: compare it with a number", target.name)
		}
	}
	if s, ok := value.(string); ok {
		value = unescape(s)
	} else if value == nil {
		return nil, directory.Invalidf("compare %s with a value (use pr to test presence)", target.name)
	}
	if _, isStr := value.(string); !isStr && (substring || target.typ == directory.TypeString || target.typ == directory.TypeDateTime || target.typ == directory.TypeReference) {
		value = fmt.Sprint(value) // a string attribute compared with an unquoted number or boolean
	}
	return directory.Compare{Attr: path, Op: op, Value: value}, nil
}

// unescape decodes JSON escapes inside a quoted filter value; the parser
// leaves them as written.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		return s
	}
	return out
}

// parseSortBy resolves a sortBy attribute path.
func parseSortBy(c *catalogue, s string) (*directory.AttrPath, error) {
	if s == "" {
		return nil, nil
	}
	p, err := fp.ParseAttrPath([]byte(s))
	if err != nil {
		return nil, directory.Invalidf("sortBy %q is not an attribute path", s)
	}
	a, ok := c.lookup(p.URI(), p.AttributeName)
	if !ok {
		return nil, directory.Invalidf("sortBy: unknown attribute %q", s)
	}
	path := &directory.AttrPath{URN: a.urn, Name: a.name, MultiValued: a.multiValued, Type: a.typ}
	sub := p.SubAttributeName()
	if sub == "" && a.typ == directory.TypeComplex {
		sub = "value"
	}
	if sub != "" {
		sa, ok := a.subs[strings.ToLower(sub)]
		if !ok {
			return nil, directory.Invalidf("sortBy: attribute %q has no sub-attribute %q", a.name, sub)
		}
		path.Sub, path.Type = sa.name, sa.typ
	}
	path.CaseExact = caseExact(c.resource, a, path.Sub)
	return path, nil
}
