package postgres

// This file translates the domain's SCIM filter AST (RFC 7644 §3.4.2.2) into
// SQL boolean expressions over the users ("u") and groups ("g") tables, and
// SCIM sortBy into ORDER BY clauses.
//
// Two rules hold throughout:
//
//   - Nothing from the filter is written into the SQL text. Values and
//     attribute names alike (names become jsonb keys) are bound as
//     parameters through sqlArgs.add; the text is assembled only from the
//     fixed column names, aliases and operators below. That rules out SQL
//     injection by construction, whatever the filter holds.
//   - Every comparison evaluates to TRUE or FALSE, never NULL, so that NOT
//     and "ne" behave as SCIM wants: an absent attribute matches nothing but
//     "ne" (and "not (…)"). Nullable columns are guarded with IS NOT NULL
//     rather than coalesce(…, false), because PostgreSQL cannot use an
//     index for a qual hidden inside coalesce, and IdPs' lookups
//     (externalId eq …) must hit the index.

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// sqlArgs collects positional arguments of one statement.
type sqlArgs struct{ args []any }

// add appends v and returns its placeholder ("$3").
func (a *sqlArgs) add(v any) string {
	a.args = append(a.args, v)
	return "$" + strconv.Itoa(len(a.args))
}

// userFilterSQL returns a SQL boolean expression over the users table
// aliased "u" that is true exactly for the rows matching f (nil: all rows).
// The caller adds "u.org_id = $1" itself; every subquery emitted here
// correlates on u.org_id so that no other organization's rows are read.
func userFilterSQL(f directory.Filter, a *sqlArgs) (string, error) {
	return translate(f, a, true)
}

// groupFilterSQL is userFilterSQL over the groups table aliased "g".
func groupFilterSQL(f directory.Filter, a *sqlArgs) (string, error) {
	return translate(f, a, false)
}

func translate(f directory.Filter, a *sqlArgs, users bool) (string, error) {
	if f == nil {
		return "TRUE", nil
	}
	n := len(a.args)
	t := &translator{a: a, users: users}
	s, err := t.walk(f, t.compare, true)
	if err != nil {
		// Leave the caller's arguments as they were: a failed translation
		// must not shift the placeholders of what the caller adds next.
		a.args = a.args[:n]
		return "", err
	}
	return s, nil
}

// translator holds the state of one translation.
type translator struct {
	a     *sqlArgs
	users bool // users ("u") or groups ("g")
}

// text binds s as a text parameter. The explicit cast settles operator
// resolution (jsonb -> text, not -> integer) and keeps ascii_lower($n) typed.
func (t *translator) text(s string) string { return t.a.add(s) + "::text" }

// alias is the outer table's alias.
func (t *translator) alias() string {
	if t.users {
		return "u"
	}
	return "g"
}

// walk translates the boolean structure of f and hands comparisons to leaf.
// top is false inside a value path, where value paths cannot nest.
func (t *translator) walk(f directory.Filter, leaf func(directory.Compare) (string, error), top bool) (string, error) {
	f, err := deref(f)
	if err != nil {
		return "", err
	}
	switch f := f.(type) {
	case directory.Compare:
		if err := checkText(f.Attr, f.Value); err != nil {
			return "", err
		}
		return leaf(f)
	case directory.And:
		return t.binary(f.Left, f.Right, " AND ", leaf, top)
	case directory.Or:
		return t.binary(f.Left, f.Right, " OR ", leaf, top)
	case directory.Not:
		s, err := t.walk(f.Filter, leaf, top)
		if err != nil {
			return "", err
		}
		return "(NOT " + s + ")", nil
	case directory.ValuePath:
		if !top {
			return "", directory.Invalidf("value filters cannot be nested: %s[…] inside another […]", attrName(f.Attr))
		}
		if err := checkText(f.Attr, nil); err != nil {
			return "", err
		}
		return t.valuePath(f)
	}
	return "", directory.Invalidf("unsupported filter expression %T", f)
}

func (t *translator) binary(l, r directory.Filter, op string, leaf func(directory.Compare) (string, error), top bool) (string, error) {
	ls, err := t.walk(l, leaf, top)
	if err != nil {
		return "", err
	}
	rs, err := t.walk(r, leaf, top)
	if err != nil {
		return "", err
	}
	return "(" + ls + op + rs + ")", nil
}

// deref accepts pointers to the AST's node types too (they satisfy Filter
// through the value receivers), so a caller's choice cannot panic here.
func deref(f directory.Filter) (directory.Filter, error) {
	var ok = true
	switch p := f.(type) {
	case nil:
		ok = false
	case *directory.Compare:
		if ok = p != nil; ok {
			f = *p
		}
	case *directory.And:
		if ok = p != nil; ok {
			f = *p
		}
	case *directory.Or:
		if ok = p != nil; ok {
			f = *p
		}
	case *directory.Not:
		if ok = p != nil; ok {
			f = *p
		}
	case *directory.ValuePath:
		if ok = p != nil; ok {
			f = *p
		}
	}
	if !ok {
		return nil, directory.Invalidf("filter has an empty operand")
	}
	return f, nil
}

// checkText rejects names and values PostgreSQL cannot take as text (NUL,
// invalid UTF-8): bound as parameters they would fail the query with a
// server error rather than a client one.
func checkText(a directory.AttrPath, v any) error {
	for _, s := range []string{a.URN, a.Name, a.Sub} {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return directory.Invalidf("attribute name %q is not valid text", s)
		}
	}
	if s, ok := v.(string); ok && (strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)) {
		return directory.Invalidf("%s: the value %q is not valid text", attrName(a), s)
	}
	return nil
}

// compare translates a top-level comparison through the column mapping.
func (t *translator) compare(c directory.Compare) (string, error) {
	at := c.Attr
	if at.URN == "" {
		if t.users {
			switch at.Name {
			case "id":
				return t.column(c, operand{expr: "u.id", kind: kindUUID})
			case "externalId":
				return t.column(c, operand{expr: "u.external_id", kind: kindText, nullable: true})
			case "userName":
				// NOT NULL, and ascii_lower(u.user_name) = ascii_lower($n)
				// is the expression of users_user_name_key.
				return t.column(c, operand{expr: "u.user_name", kind: kindText})
			case "displayName":
				return t.column(c, operand{expr: "u.display_name", kind: kindText, nullable: true})
			case "active":
				return t.column(c, operand{expr: "u.active", kind: kindBool})
			case "name":
				switch at.Sub {
				case "givenName":
					return t.compareOperand(operand{expr: "u.given_name", kind: kindText, nullable: true}, c)
				case "familyName":
					return t.compareOperand(operand{expr: "u.family_name", kind: kindText, nullable: true}, c)
				}
			case "emails":
				// u.emails holds the ASCII-folded values, so it can answer
				// only case-insensitive comparisons of the value; the rest
				// (emails.type, a case-exact value) reads the document.
				if (at.Sub == "" || at.Sub == "value") && !at.CaseExact {
					return t.emailsColumn(c)
				}
				return t.multiCompare(t.jsonElements(t.jsonAttr(at.URN, "emails")), c)
			case "groups":
				return t.multiCompare(&memberships{t: t, users: true}, c)
			case "meta":
				return t.meta(c)
			case "password", "schemas":
				return "", directory.Invalidf("filtering on %s is not supported", at.Name)
			}
		} else {
			switch at.Name {
			case "id":
				return t.column(c, operand{expr: "g.id", kind: kindUUID})
			case "externalId":
				return t.column(c, operand{expr: "g.external_id", kind: kindText, nullable: true})
			case "displayName":
				return t.column(c, operand{expr: "g.display_name", kind: kindText})
			case "members":
				return t.multiCompare(&memberships{t: t, users: false}, c)
			case "meta":
				return t.meta(c)
			case "schemas":
				return "", directory.Invalidf("filtering on %s is not supported", at.Name)
			}
		}
	}
	return t.jsonCompare(c)
}

// column compares a simple, singular column (no sub-attribute).
func (t *translator) column(c directory.Compare, o operand) (string, error) {
	if c.Attr.Sub != "" {
		return "", directory.Invalidf("%s has no sub-attribute %q", c.Attr.Name, c.Attr.Sub)
	}
	return t.compareOperand(o, c)
}

func (t *translator) meta(c directory.Compare) (string, error) {
	al := t.alias()
	switch c.Attr.Sub {
	case "created":
		return t.compareOperand(operand{expr: al + ".created_at", kind: kindTime}, c)
	case "lastModified":
		return t.compareOperand(operand{expr: al + ".updated_at", kind: kindTime}, c)
	case "resourceType":
		rt := "'Group'::text"
		if t.users {
			rt = "'User'::text"
		}
		return t.compareOperand(operand{expr: rt, kind: kindText}, c)
	case "":
		return "", directory.Invalidf("meta is complex; filter on meta.created, meta.lastModified or meta.resourceType")
	}
	return "", directory.Invalidf("filtering on meta.%s is not supported", c.Attr.Sub)
}

// emailsColumn compares emails / emails.value case-insensitively through
// the text[] column u.emails. Empty values are not in the column; like pr,
// the comparisons treat them as absent.
func (t *translator) emailsColumn(c directory.Compare) (string, error) {
	switch c.Op {
	case directory.OpNe:
		eq := c
		eq.Op = directory.OpEq
		s, err := t.emailsColumn(eq)
		if err != nil {
			return "", err
		}
		return "(NOT " + s + ")", nil
	case directory.OpPr:
		return "(cardinality(u.emails) > 0)", nil
	case directory.OpEq:
		v, ok := c.Value.(string)
		if !ok {
			return "", directory.Invalidf("%s is a string attribute; compare it with a quoted string", attrName(c.Attr))
		}
		// @> is what the GIN index users_emails_idx answers. The value is
		// folded in Go, as the column's values were (textCompare).
		return "(u.emails @> ARRAY[" + t.text(directory.FoldASCII(v)) + "])", nil
	}
	s, err := t.compareOperand(operand{expr: "x.v", kind: kindLowerText}, c)
	if err != nil {
		return "", err
	}
	return "EXISTS (SELECT 1 FROM unnest(u.emails) AS x(v) WHERE " + s + ")", nil
}

// jsonCompare compares an attribute kept only in the jsonb document.
func (t *translator) jsonCompare(c directory.Compare) (string, error) {
	at := c.Attr
	j := t.jsonAttr(at.URN, at.Name)
	if at.MultiValued {
		return t.multiCompare(t.jsonElements(j), c)
	}
	switch {
	case at.Sub != "":
		j += " -> " + t.text(at.Sub)
	case at.Type == directory.TypeComplex && c.Op != directory.OpPr:
		// A complex attribute compared as a whole means its "value"
		// sub-attribute (manager eq "id"), as for multi-valued ones.
		j = "CASE WHEN jsonb_typeof(" + j + ") = 'object' THEN " + j + " -> " + t.text("value") + " ELSE " + j + " END"
	}
	return t.compareOperand(operand{expr: j, kind: kindJSON}, c)
}

// jsonAttr is the jsonb of the attribute name of the core schema (urn "")
// or of the extension urn, whose data is an object under the urn's key.
func (t *translator) jsonAttr(urn, name string) string {
	j := t.alias() + ".attributes"
	if urn != "" {
		j += " -> " + t.text(urn)
	}
	return j + " -> " + t.text(name)
}

// valuePath translates attr[filter]: some element of attr matches filter.
func (t *translator) valuePath(vp directory.ValuePath) (string, error) {
	at := vp.Attr
	if at.Sub != "" {
		return "", directory.Invalidf("%s[…].%s: fold the trailing sub-attribute into the brackets", at.Name, at.Sub)
	}
	var el elements
	switch {
	case at.URN == "" && t.users && at.Name == "groups":
		el = &memberships{t: t, users: true}
	case at.URN == "" && !t.users && at.Name == "members":
		el = &memberships{t: t, users: false}
	default:
		el = t.jsonElements(t.jsonAttr(at.URN, at.Name))
	}
	inner, err := t.walk(vp.Filter, func(c directory.Compare) (string, error) {
		if c.Attr.Name == "" || c.Attr.Sub != "" {
			return "", directory.Invalidf("%s[…] compares a sub-attribute of one element by its name alone", at.Name)
		}
		o, err := el.sub(c.Attr.Name)
		if err != nil {
			return "", err
		}
		return t.compareOperand(o, c)
	}, false)
	if err != nil {
		return "", err
	}
	s := el.exists(inner)
	if at.URN == "" && t.users && at.Name == "emails" {
		// The EXISTS over the document cannot use an index. When the
		// filter pins the value (emails[type eq "work" and value eq "x"],
		// which is how Entra's emails[type eq "work"].value eq "x"
		// arrives), add the implied, indexed condition on u.emails.
		if v, ok := pinnedEmail(vp.Filter); ok {
			s = "(u.emails @> ARRAY[" + t.text(directory.FoldASCII(v)) + "] AND " + s + ")"
		}
	}
	return s, nil
}

// pinnedEmail finds a top-level conjunct value eq "x" of an emails[…]
// filter. u.emails holds every non-empty value ASCII-folded, so an element
// matching it implies u.emails @> ARRAY[ascii_lower(x)], case-exact or not.
func pinnedEmail(f directory.Filter) (string, bool) {
	f, err := deref(f)
	if err != nil {
		return "", false
	}
	switch f := f.(type) {
	case directory.And:
		if v, ok := pinnedEmail(f.Left); ok {
			return v, true
		}
		return pinnedEmail(f.Right)
	case directory.Compare:
		v, ok := f.Value.(string)
		if ok && f.Op == directory.OpEq && f.Attr.Name == "value" && f.Attr.Sub == "" && v != "" {
			return v, true
		}
	}
	return "", false
}

// multiCompare compares a multi-valued attribute: true when some element
// matches. "ne" is the negation of "eq" (no element equals the value, which
// includes an absent attribute), as "not (… eq …)" would be.
func (t *translator) multiCompare(el elements, c directory.Compare) (string, error) {
	if c.Op == directory.OpNe {
		eq := c
		eq.Op = directory.OpEq
		s, err := t.multiCompare(el, eq)
		if err != nil {
			return "", err
		}
		return "(NOT " + s + ")", nil
	}
	var o operand
	if c.Op == directory.OpPr && c.Attr.Sub == "" {
		// Present: some element is (addresses pr), whatever its value.
		o = el.whole()
	} else {
		var err error
		if o, err = el.sub(c.Attr.Sub); err != nil {
			return "", err
		}
	}
	s, err := t.compareOperand(o, c)
	if err != nil {
		return "", err
	}
	return el.exists(s), nil
}

// elements are the elements of a multi-valued attribute, as the rows of an
// EXISTS subquery.
type elements interface {
	// sub is the operand of one element's sub-attribute name; "" is the
	// element's default: its "value", or the element itself when simple.
	sub(name string) (operand, error)
	// whole is one element as a whole.
	whole() operand
	// exists is true when some element satisfies cond.
	exists(cond string) string
}

// jsonElements are the elements of the jsonb array j.
func (t *translator) jsonElements(j string) *jsonArray { return &jsonArray{t: t, j: j} }

type jsonArray struct {
	t *translator
	j string
}

func (e *jsonArray) sub(name string) (operand, error) {
	if name == "" {
		return operand{expr: "CASE WHEN jsonb_typeof(e.v) = 'object' THEN e.v -> " + e.t.text("value") + " ELSE e.v END", kind: kindJSON}, nil
	}
	return operand{expr: "e.v -> " + e.t.text(name), kind: kindJSON}, nil
}

func (e *jsonArray) whole() operand { return operand{expr: "e.v", kind: kindJSON} }

func (e *jsonArray) exists(cond string) string {
	// jsonb_array_elements fails on anything but an array; a document
	// that holds an object (or a string) there must not fail the query.
	// A lone object is taken as a one-element list, so that a value path
	// on a singular complex attribute (name[givenName eq "x"]) works too.
	arr := "CASE jsonb_typeof(" + e.j + ") WHEN 'array' THEN " + e.j +
		" WHEN 'object' THEN jsonb_build_array(" + e.j + ") ELSE '[]'::jsonb END"
	return "EXISTS (SELECT 1 FROM jsonb_array_elements(" + arr + ") AS e(v) WHERE " + cond + ")"
}

// memberships are a user's groups (users) or a group's members (groups):
// rows of group_members, joined to the other side for "display".
type memberships struct {
	t      *translator
	users  bool
	joined bool // "display" was asked for
}

func (m *memberships) sub(name string) (operand, error) {
	attr := "members"
	if m.users {
		attr = "groups"
	}
	switch name {
	case "", "value":
		if m.users {
			return operand{expr: "m.group_id", kind: kindUUID}, nil
		}
		return operand{expr: "m.user_id", kind: kindUUID}, nil
	case "display":
		m.joined = true
		if m.users {
			return operand{expr: "g2.display_name", kind: kindText}, nil
		}
		return operand{expr: "u2.display_name", kind: kindText, nullable: true}, nil
	}
	return operand{}, directory.Invalidf("filtering on %s.%s is not supported; use %s.value or %s.display", attr, name, attr, attr)
}

func (m *memberships) whole() operand {
	o, _ := m.sub("value")
	return o
}

func (m *memberships) exists(cond string) string {
	// The joins and the correlation all carry org_id: the primary keys
	// lead with it, and no other organization's rows can be reached.
	var b strings.Builder
	b.WriteString("EXISTS (SELECT 1 FROM group_members m")
	if m.users {
		if m.joined {
			b.WriteString(" JOIN groups g2 ON g2.org_id = m.org_id AND g2.id = m.group_id")
		}
		b.WriteString(" WHERE m.org_id = u.org_id AND m.user_id = u.id AND ")
	} else {
		if m.joined {
			b.WriteString(" JOIN users u2 ON u2.org_id = m.org_id AND u2.id = m.user_id")
		}
		b.WriteString(" WHERE m.org_id = g.org_id AND m.group_id = g.id AND ")
	}
	b.WriteString(cond)
	b.WriteString(")")
	return b.String()
}

// kind is how an operand's SQL expression is compared.
type kind int

const (
	kindText      kind = iota // text
	kindLowerText             // text that is already lower-cased (u.emails)
	kindBool                  // boolean
	kindTime                  // timestamptz
	kindUUID                  // uuid
	kindJSON                  // jsonb, typed by its content
)

// operand is the SQL expression a comparison applies to.
type operand struct {
	expr     string
	kind     kind
	nullable bool // the expression can be NULL (jsonb always can)
}

// compareOperand translates "o op value" into an expression that is never
// NULL.
func (t *translator) compareOperand(o operand, c directory.Compare) (string, error) {
	name := attrName(c.Attr)
	switch c.Op {
	case directory.OpNe:
		eq := c
		eq.Op = directory.OpEq
		s, err := t.compareOperand(o, eq)
		if err != nil {
			return "", err
		}
		return "(NOT " + s + ")", nil
	case directory.OpPr:
		return present(o), nil
	case directory.OpEq, directory.OpCo, directory.OpSw, directory.OpEw,
		directory.OpGt, directory.OpGe, directory.OpLt, directory.OpLe:
	default:
		return "", directory.Invalidf("unknown operator %q", c.Op)
	}
	v, err := normalizeValue(c.Value)
	if err != nil {
		return "", directory.Invalidf("%s %s: %v", name, c.Op, err)
	}
	if v == nil {
		return "", directory.Invalidf("%s %s needs a value", name, c.Op)
	}
	var s string
	switch o.kind {
	case kindText, kindLowerText:
		str, ok := v.(string)
		if !ok {
			return "", directory.Invalidf("%s is a string attribute; compare it with a quoted string", name)
		}
		s = t.textCompare(o.expr, o.kind == kindLowerText, c.Op, str, c.Attr.CaseExact)
	case kindUUID:
		str, ok := v.(string)
		if !ok {
			return "", directory.Invalidf("%s is a string attribute; compare it with a quoted string", name)
		}
		if c.Op != directory.OpEq {
			s = t.textCompare(o.expr+"::text", false, c.Op, str, c.Attr.CaseExact)
			break
		}
		if !isUUID(str) {
			// No row has such an id; casting it would be an error.
			return "FALSE", nil
		}
		s = o.expr + " = " + t.a.add(str) + "::uuid"
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return "", directory.Invalidf("%s is a boolean attribute; compare it with true or false", name)
		}
		if c.Op != directory.OpEq {
			return "", directory.Invalidf("%s is a boolean attribute; %s is not defined for booleans (use eq or ne)", name, c.Op)
		}
		s = o.expr + " = " + t.a.add(b) + "::boolean"
	case kindTime:
		str, ok := v.(string)
		if !ok {
			return "", directory.Invalidf("%s is a dateTime attribute; compare it with a quoted RFC 3339 timestamp", name)
		}
		op, ok := orderOp(c.Op)
		if !ok {
			return "", directory.Invalidf("%s is a dateTime attribute; %s is not defined for dateTime values", name, c.Op)
		}
		ts, err := parseDateTime(name, str)
		if err != nil {
			return "", err
		}
		s = o.expr + " " + op + " " + t.a.add(ts) + "::timestamptz"
	case kindJSON:
		// jsonb expressions guard themselves (they are never NULL).
		return t.jsonValueCompare(o.expr, c, v)
	}
	if o.nullable {
		// NULL AND x is FALSE when x is FALSE and NULL otherwise; IS NOT
		// NULL first makes the whole FALSE for an absent attribute.
		s = "(" + o.expr + " IS NOT NULL AND " + s + ")"
	} else {
		s = "(" + s + ")"
	}
	return s, nil
}

// jsonValueCompare compares the jsonb j with v by v's type: strings with
// strings (dateTime ones as timestamps), numbers with numbers, booleans
// with booleans. A document value of another type does not match.
func (t *translator) jsonValueCompare(j string, c directory.Compare, v any) (string, error) {
	name := attrName(c.Attr)
	switch v := v.(type) {
	case string:
		if c.Attr.Type == directory.TypeDateTime {
			op, ok := orderOp(c.Op)
			if !ok {
				return "", directory.Invalidf("%s is a dateTime attribute; %s is not defined for dateTime values", name, c.Op)
			}
			ts, err := parseDateTime(name, v)
			if err != nil {
				return "", err
			}
			return "coalesce(" + jsonTimestamp(j) + " " + op + " " + t.a.add(ts) + "::timestamptz, false)", nil
		}
		cmp := t.textCompare("("+j+" #>> '{}')", false, c.Op, v, c.Attr.CaseExact)
		return "(CASE WHEN jsonb_typeof(" + j + ") = 'string' THEN " + cmp + " ELSE false END)", nil
	case bool:
		if c.Op != directory.OpEq {
			return "", directory.Invalidf("%s: %s is not defined for booleans (use eq or ne)", name, c.Op)
		}
		return "coalesce(" + j + " = to_jsonb(" + t.a.add(v) + "::boolean), false)", nil
	case int64, float64:
		op, ok := orderOp(c.Op)
		if !ok {
			return "", directory.Invalidf("%s: %s is not defined for numbers", name, c.Op)
		}
		// CASE, not AND: PostgreSQL does not promise to evaluate AND's
		// operands in order, and the cast fails on a non-number.
		return "(CASE WHEN jsonb_typeof(" + j + ") = 'number' THEN (" + j + ")::numeric " + op + " " +
			t.a.add(v) + "::numeric ELSE false END)", nil
	}
	return "", directory.Invalidf("%s: unsupported value type %T", name, v)
}

// rfc3339 matches the RFC 3339 date-times that jsonTimestamp converts.
// The groups are the date, the time, up to 6 fraction digits and the
// offset; further fraction digits are dropped (PostgreSQL keeps
// microseconds).
const rfc3339 = `^([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,6})?[0-9]*([Zz]|[+-][0-9]{2}:[0-9]{2})$`

// jsonTimestamp converts the jsonb string j to timestamptz, NULL when it is
// not a valid RFC 3339 date-time. A plain ::timestamptz cast would fail the
// whole query on one malformed document ("2015-02-31…"), and PostgreSQL 15
// has no error-free cast; the jsonpath datetime() method with silent = true
// validates without raising, but knows neither "Z" nor more than six
// fraction digits, hence the normalisation before it.
func jsonTimestamp(j string) string {
	s := "(" + j + " #>> '{}')"
	norm := "regexp_replace(regexp_replace(" + s + ", '" + rfc3339 + `', '\1T\2\3\4'), '[Zz]$', '+00:00')`
	return "(CASE WHEN jsonb_typeof(" + j + ") = 'string' AND " + s + " ~ '" + rfc3339 + "' THEN " +
		"(jsonb_path_query_first(to_jsonb(" + norm + "), '$.datetime()', '{}', true) #>> '{}')::timestamptz END)"
}

// textCompare compares the non-NULL text lhs with s. Unless caseExact,
// both sides are folded in SQL with ascii_lower (migration 00018), which
// lower-cases A–Z only: identities compare in ASCII case only (DESIGN §9),
// and PostgreSQL's lower() follows the database's LC_CTYPE, under which
// userName eq "\u212Aate" (the Kelvin sign) would find kate. When lowered,
// lhs holds values that Go folded (u.emails, see directory.User.Derive),
// and s is folded the same way, in Go (directory.FoldASCII). Ordering uses
// the "C" collation so that results do not depend on the server's locale.
func (t *translator) textCompare(lhs string, lowered bool, op directory.CompareOp, s string, caseExact bool) string {
	l, r := lhs, func(x string) string { return x }
	switch {
	case lowered:
		s = directory.FoldASCII(s)
	case !caseExact:
		l = "ascii_lower(" + lhs + ")"
		r = func(x string) string { return "ascii_lower(" + x + ")" }
	}
	switch op {
	case directory.OpCo, directory.OpSw, directory.OpEw:
		// The wildcards are added in SQL; the value's own %, _ and \
		// are escaped so that they match literally.
		p := r(t.text(likeEscape(s)))
		switch op {
		case directory.OpCo:
			p = "'%' || " + p + " || '%'"
		case directory.OpSw:
			p = p + " || '%'"
		default:
			p = "'%' || " + p
		}
		return l + " LIKE (" + p + `) ESCAPE '\'`
	case directory.OpEq:
		// No COLLATE here: equality must match the indexes' expressions
		// (ascii_lower(user_name) under the default collation).
		return l + " = " + r(t.text(s))
	}
	o, _ := orderOp(op)
	return l + ` COLLATE "C" ` + o + " " + r(t.text(s))
}

// present translates pr: not NULL, and not an empty string, array or object.
func present(o operand) string {
	switch o.kind {
	case kindText, kindLowerText:
		if o.nullable {
			return "(" + o.expr + " IS NOT NULL AND " + o.expr + " <> '')"
		}
		return "(" + o.expr + " <> '')"
	case kindJSON:
		return "coalesce(" + o.expr + ` NOT IN ('null'::jsonb, '""'::jsonb, '[]'::jsonb, '{}'::jsonb), false)`
	}
	if o.nullable {
		return "(" + o.expr + " IS NOT NULL)"
	}
	return "TRUE"
}

// orderOp maps eq and the ordering operators to SQL.
func orderOp(op directory.CompareOp) (string, bool) {
	switch op {
	case directory.OpEq:
		return "=", true
	case directory.OpGt:
		return ">", true
	case directory.OpGe:
		return ">=", true
	case directory.OpLt:
		return "<", true
	case directory.OpLe:
		return "<=", true
	}
	return "", false
}

// normalizeValue accepts the AST's value types, widening Go's other
// integer and float types so that a caller's int cannot become an error.
func normalizeValue(v any) (any, error) {
	switch v := v.(type) {
	case nil, string, bool, int64, float64:
		return v, nil
	case int:
		return int64(v), nil
	case int32:
		return int64(v), nil
	case float32:
		return float64(v), nil
	}
	return nil, directory.Invalidf("unsupported value type %T", v)
}

func parseDateTime(name, s string) (time.Time, error) {
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, directory.Invalidf("%s is a dateTime attribute; %q is not an RFC 3339 timestamp (like 2015-10-10T14:38:21.8617979-07:00)", name, s)
	}
	return ts, nil
}

// likeEscape escapes LIKE's metacharacters for ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// isUUID reports whether s is a UUID in its canonical 8-4-4-4-12 hex form
// (either case): exactly what ::uuid accepts without fail, and the form
// the store issues ids in.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// attrName spells an attribute for error messages.
func attrName(a directory.AttrPath) string {
	n := a.Name
	if a.Sub != "" {
		n += "." + a.Sub
	}
	if a.URN != "" {
		n = a.URN + ":" + n
	}
	return n
}

// userOrderSQL returns the body of an ORDER BY for sortBy (nil: creation
// order), always ending with u.seq so that paging is stable. desc applies
// to the sort key; without sortBy it is ignored (RFC 7644 §3.4.2.3).
//
// Only the mapped columns can be sort keys: a jsonb attribute would need
// its name bound as a parameter, and an ORDER BY built here has no
// arguments. Sorting is an optional SCIM feature that IdPs do not use.
func userOrderSQL(sortBy *directory.AttrPath, desc bool) (string, error) {
	if sortBy == nil {
		return "u.seq", nil
	}
	var key string
	if sortBy.URN == "" {
		switch sortBy.Name + "." + sortBy.Sub {
		case "id.":
			key = "u.id"
		case "externalId.":
			key = `u.external_id COLLATE "C"`
		case "userName.":
			key = `ascii_lower(u.user_name) COLLATE "C"`
		case "displayName.":
			key = `u.display_name COLLATE "C"`
		case "name.givenName":
			key = `u.given_name COLLATE "C"`
		case "name.familyName":
			key = `u.family_name COLLATE "C"`
		case "active.":
			key = "u.active"
		case "emails.", "emails.value":
			// A multi-valued attribute sorts by its primary value, else
			// its first (RFC 7644 §3.4.2.3). The keys are fixed text.
			key = `(SELECT ascii_lower(x.e ->> 'value') FROM jsonb_array_elements(CASE WHEN jsonb_typeof(u.attributes -> 'emails') = 'array' ` +
				`THEN u.attributes -> 'emails' ELSE '[]'::jsonb END) WITH ORDINALITY AS x(e, n) ` +
				`WHERE jsonb_typeof(x.e -> 'value') = 'string' AND x.e ->> 'value' <> '' ` +
				`ORDER BY (x.e -> 'primary') = 'true'::jsonb DESC NULLS LAST, x.n LIMIT 1) COLLATE "C"`
		case "meta.created":
			key = "u.created_at"
		case "meta.lastModified":
			key = "u.updated_at"
		case "meta.resourceType":
			return "u.seq", nil // the same for every row
		}
	}
	return orderBy(key, "u.seq", *sortBy, desc)
}

// groupOrderSQL is userOrderSQL for groups.
func groupOrderSQL(sortBy *directory.AttrPath, desc bool) (string, error) {
	if sortBy == nil {
		return "g.seq", nil
	}
	var key string
	if sortBy.URN == "" {
		switch sortBy.Name + "." + sortBy.Sub {
		case "id.":
			key = "g.id"
		case "externalId.":
			key = `g.external_id COLLATE "C"`
		case "displayName.":
			key = `g.display_name COLLATE "C"`
		case "meta.created":
			key = "g.created_at"
		case "meta.lastModified":
			key = "g.updated_at"
		case "meta.resourceType":
			return "g.seq", nil
		}
	}
	return orderBy(key, "g.seq", *sortBy, desc)
}

func orderBy(key, seq string, sortBy directory.AttrPath, desc bool) (string, error) {
	if key == "" {
		return "", directory.Invalidf("sorting by %s is not supported", attrName(sortBy))
	}
	dir := " ASC NULLS LAST, "
	if desc {
		dir = " DESC NULLS LAST, "
	}
	return key + dir + seq, nil
}

// userProbeSQL returns a condition over users "u" that every user of the
// organization $1 matching f meets, and that an index led by a unique or
// selective key answers for few rows: an equality on id, userName,
// externalId or an email address. "" when f pins no such key. The list
// statements fetch these candidates first, in a MATERIALIZED CTE, and
// only then filter, sort and page them (listStmt), so that no plan can
// read the organization's users in seq order until 100 match, as
// "ORDER BY seq LIMIT 100" over the whole filter did on the stale
// statistics of an IdP's initial push.
//
// The organization is checked on the candidates by orgOf, which no index
// takes: the key's index (migration 00022 puts the key first) is the only
// one the condition can use, whatever the statistics say. Given
// "org_id = $1" too, the planner could pick any index led by org_id and
// filter the whole organization, at the same estimated cost when it
// believes the organization holds one row. Call it after userFilterSQL
// accepted f.
func userProbeSQL(f directory.Filter, a *sqlArgs) string {
	return (&translator{a: a, users: true}).probe(f)
}

// groupProbeSQL is userProbeSQL over groups "g": id, displayName,
// externalId, and members eq (the groups of one user). A probe is a
// condition on the table, or a whole FROM clause (memberProbe).
func groupProbeSQL(f directory.Filter, a *sqlArgs) string {
	return (&translator{a: a, users: false}).probe(f)
}

// orgOf is "alias.org_id = $1" in a form no index answers (IS NOT
// DISTINCT FROM is equality on the NOT NULL org_id, but not an index
// operator).
func orgOf(alias string) string { return alias + ".org_id IS NOT DISTINCT FROM $1::uuid" }

// probe finds an indexed key that f pins. A conjunction is pinned by
// either side; a disjunction when both sides are (the candidates are the
// union); a negation never. A probe given up leaves no arguments behind:
// a parameter no statement names has no type, and PostgreSQL refuses the
// statement ("userName eq x or displayName eq y" probed its left side,
// then dropped it).
func (t *translator) probe(f directory.Filter) string {
	n := len(t.a.args)
	p := t.probeOne(f)
	if p == "" {
		t.a.args = t.a.args[:n]
	}
	return p
}

func (t *translator) probeOne(f directory.Filter) string {
	f, err := deref(f)
	if err != nil {
		return ""
	}
	switch f := f.(type) {
	case directory.And:
		if p := t.probe(f.Left); p != "" {
			return p
		}
		return t.probe(f.Right)
	case directory.Or:
		l := t.probe(f.Left)
		if l == "" || strings.HasPrefix(l, memberRows) {
			return ""
		}
		if r := t.probe(f.Right); r != "" && !strings.HasPrefix(r, memberRows) {
			return "(" + l + " OR " + r + ")"
		}
	case directory.Compare:
		return t.probeCompare(f)
	case directory.ValuePath:
		if f.Attr.URN != "" || f.Attr.Sub != "" {
			return ""
		}
		if v, ok := pinnedEmail(f.Filter); ok && t.users && f.Attr.Name == "emails" {
			return t.keyProbe("u.emails @> ARRAY[" + t.text(directory.FoldASCII(v)) + "]")
		}
		if v, ok := pinnedMember(f.Filter); ok && !t.users && f.Attr.Name == "members" {
			return t.memberProbe(v)
		}
	}
	return ""
}

func (t *translator) probeCompare(c directory.Compare) string {
	v, ok := c.Value.(string)
	if !ok || c.Op != directory.OpEq || c.Attr.URN != "" {
		return ""
	}
	at, al := c.Attr, t.alias()
	switch {
	case at.Sub != "" && !(at.Name == "emails" || at.Name == "members"):
		return ""
	case at.Name == "id":
		if !isUUID(v) {
			return "" // the filter is FALSE, which needs no index
		}
		return t.keyProbe(al + ".id = " + t.a.add(v) + "::uuid")
	case at.Name == "externalId" && at.CaseExact:
		return t.keyProbe(al + ".external_id = " + t.text(v))
	case t.users && at.Name == "userName":
		// Implied whether or not the comparison is case-exact.
		return t.keyProbe("ascii_lower(u.user_name) = ascii_lower(" + t.text(v) + ")")
	case t.users && at.Name == "emails" && (at.Sub == "" || at.Sub == "value") && !at.CaseExact && v != "":
		// The column holds the folded addresses (emailsColumn).
		return t.keyProbe("u.emails @> ARRAY[" + t.text(directory.FoldASCII(v)) + "]")
	case !t.users && at.Name == "displayName" && at.CaseExact:
		return t.keyProbe("g.display_name = " + t.text(v))
	case !t.users && at.Name == "members" && (at.Sub == "" || at.Sub == "value"):
		return t.memberProbe(v)
	}
	return ""
}

// keyProbe is the indexed condition cond, on the organization's rows.
func (t *translator) keyProbe(cond string) string {
	return "(" + cond + " AND " + orgOf(t.alias()) + ")"
}

// memberProbe is, for groups, "the groups of the user v" (group_members'
// index led by user_id). The ids are collected first (ARRAY(…) is
// computed once, before the scan), then each group is fetched by its id
// in a subquery of its own (LATERAL, kept apart by OFFSET 0): as a join,
// the planner could drive it from the other side, a scan of every group
// probing group_members for each, which a small groups table makes cheap
// on paper. The probe is whole: it names its own rows (memberRows), so it
// does not combine with others.
func (t *translator) memberProbe(v string) string {
	if t.users || !isUUID(v) {
		return ""
	}
	return memberRows + t.a.add(v) + "::uuid AND " + orgOf("m") + ")) AS k(id) CROSS JOIN LATERAL (SELECT * FROM groups g WHERE g.id = k.id AND " +
		orgOf("g") + " OFFSET 0) g"
}

// memberRows starts a probe that is a FROM clause rather than a condition.
const memberRows = "FROM unnest(ARRAY(SELECT m.group_id FROM group_members m WHERE m.user_id = "

// pinnedMember finds a top-level conjunct value eq "id" of a members[…]
// filter.
func pinnedMember(f directory.Filter) (string, bool) {
	f, err := deref(f)
	if err != nil {
		return "", false
	}
	switch f := f.(type) {
	case directory.And:
		if v, ok := pinnedMember(f.Left); ok {
			return v, true
		}
		return pinnedMember(f.Right)
	case directory.Compare:
		v, ok := f.Value.(string)
		if ok && f.Op == directory.OpEq && f.Attr.Name == "value" && f.Attr.Sub == "" {
			return v, true
		}
	}
	return "", false
}
