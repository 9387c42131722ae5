package normalize

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on filters and paths. RFC 7644 sets none; these keep a hostile query
// from costing much (the parser the library uses is a recursive PEG parser).
const (
	maxFilterLen   = 4096
	maxFilterDepth = 32
)

// Filter normalises a filter expression string (from ?filter= or a .search
// body) into one that github.com/scim2/filter-parser/v2 (fp.ParseFilter)
// accepts, or returns an *Error with ScimType "invalidFilter".
//
//   - Unquoted comparison values are quoted. Entra's Test Connection sends
//     "externalId eq jyoung", and its reference checks send
//     "id eq <guid> and manager eq <guid>"; the parser rejects both. true,
//     false, null and JSON numbers stay unquoted. An unquoted value ends at
//     whitespace, ")" or "]".
//   - Quoted strings are decoded and re-encoded in the one escape form the
//     parser accepts (it rejects raw control characters and lower-case \u
//     hex digits).
//   - Operators and and/or/not are lower-cased; whitespace is normalised to
//     single spaces (the parser accepts only U+0020).
//   - attr[filter].sub op value, which Entra sends
//     (emails[type eq "work"].value eq "x") but which RFC 7644 only allows as
//     a PATCH path, becomes attr[filter and sub op value].
//   - Schema URN prefixes that this package knows for r are spelled exactly
//     (the library compares them byte for byte).
//
// Semantics never change; the result is the same for the result
// (Filter(Filter(x)) == Filter(x)). An empty or blank filter returns "".
func Filter(r Resource, filter string) (string, error) {
	if err := r.valid(); err != nil {
		return "", err
	}
	return normalizeFilter(r, filter)
}

func normalizeFilter(r Resource, filter string) (string, error) {
	if len(filter) > maxFilterLen {
		return "", errorf(scimInvalidFilter, "filter too long (%d bytes, at most %d)", len(filter), maxFilterLen)
	}
	if strings.TrimSpace(filter) == "" {
		return "", nil
	}
	if !utf8.ValidString(filter) {
		return "", errorf(scimInvalidFilter, "filter is not valid UTF-8")
	}
	p := &parser{s: filter, r: r}
	n, err := p.parseOr()
	if err == nil {
		p.skipSpace()
		if !p.eof() {
			err = p.unexpected(`"and" or "or"`)
		}
	}
	if err != nil {
		return "", &Error{ScimType: scimInvalidFilter, Detail: err.Error()}
	}
	var b strings.Builder
	n.write(&b)
	// Quoting and escaping lengthen a filter; the limit holds for the output
	// too, so that the output is itself an acceptable input.
	if b.Len() > maxFilterLen {
		return "", errorf(scimInvalidFilter, "filter too long once its values are quoted (%d bytes, at most %d)", b.Len(), maxFilterLen)
	}
	return b.String(), nil
}

// The filter AST. Parentheses are kept as groupNode so that the output has
// exactly the structure of the input; and/or chains are binary, left-nested,
// with "and" binding tighter (RFC 7644 §3.4.2.2), which is also how the
// output is read back.
type node interface {
	write(b *strings.Builder)
}

type logicalNode struct {
	op          string // "and" or "or"
	left, right node
}

type notNode struct{ inner node }

type groupNode struct{ inner node }

type compareNode struct {
	attr  attrPath
	op    string // lower-case comparison operator
	value string // the comparison value as written to the output; "" for pr
}

type valuePathNode struct {
	attr   attrPath
	filter node
}

func (n *logicalNode) write(b *strings.Builder) {
	n.left.write(b)
	b.WriteByte(' ')
	b.WriteString(n.op)
	b.WriteByte(' ')
	n.right.write(b)
}

func (n *notNode) write(b *strings.Builder) {
	b.WriteString("not (")
	n.inner.write(b)
	b.WriteByte(')')
}

func (n *groupNode) write(b *strings.Builder) {
	b.WriteByte('(')
	n.inner.write(b)
	b.WriteByte(')')
}

func (n *compareNode) write(b *strings.Builder) {
	b.WriteString(n.attr.String())
	b.WriteByte(' ')
	b.WriteString(n.op)
	if n.op != "pr" {
		b.WriteByte(' ')
		b.WriteString(n.value)
	}
}

func (n *valuePathNode) write(b *strings.Builder) {
	b.WriteString(n.attr.String())
	b.WriteByte('[')
	n.filter.write(b)
	b.WriteByte(']')
}

// attrPath is [URI ":"] name ["." sub] (RFC 7644 §3.10). uri is canonical.
type attrPath struct {
	uri, name, sub string
}

func (a attrPath) String() string {
	s := a.name
	if a.uri != "" {
		s = a.uri + ":" + s
	}
	if a.sub != "" {
		s += "." + a.sub
	}
	return s
}

var compareOps = []string{"eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le", "pr"}

// parseError is a syntax error at a byte offset of the parsed text.
type parseError struct {
	pos int
	msg string
}

func (e *parseError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.pos) }

// parser is a recursive-descent parser over a small context-dependent
// tokenizer: what a token is depends on where it is (an attribute path, a
// keyword, a comparison value), which is what makes unquoted values
// tractable without guessing over the whole string.
type parser struct {
	s     string
	pos   int
	depth int
	r     Resource
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.pos]
}

func (p *parser) fail(pos int, format string, args ...any) error {
	return &parseError{pos: pos, msg: fmt.Sprintf(format, args...)}
}

// unexpected reports what is at the current position when want was expected.
func (p *parser) unexpected(want string) error {
	if p.eof() {
		return p.fail(p.pos, "expected %s, found the end of the filter", want)
	}
	found := p.word()
	if found == "" {
		r, _ := utf8.DecodeRuneInString(p.s[p.pos:])
		found = string(r)
	} else {
		p.pos -= len(found)
	}
	return p.fail(p.pos, "expected %s, found %q", want, found)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) skipSpace() {
	for !p.eof() && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// isNameChar reports the bytes of attribute paths (URN segments, names,
// "." and ":") and of keywords.
func isNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == ':' || c == '$'
}

// word consumes a run of name characters.
func (p *parser) word() string {
	start := p.pos
	for !p.eof() && isNameChar(p.s[p.pos]) {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *parser) peekWord() string {
	save := p.pos
	w := p.word()
	p.pos = save
	return w
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxFilterDepth {
		return p.fail(p.pos, "filter nests deeper than %d levels", maxFilterDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) expect(c byte) error {
	p.skipSpace()
	if p.peek() != c {
		return p.unexpected(strconv.Quote(string(c)))
	}
	p.pos++
	return nil
}

// keyword consumes the keyword kw (any case) after optional whitespace, or
// consumes nothing.
func (p *parser) keyword(kw string) bool {
	save := p.pos
	p.skipSpace()
	if strings.EqualFold(p.peekWord(), kw) {
		p.pos += len(kw)
		return true
	}
	p.pos = save
	return false
}

func (p *parser) parseOr() (node, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &logicalNode{op: "or", left: left, right: right}
	}
	return left, nil
}

func (p *parser) parseAnd() (node, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = &logicalNode{op: "and", left: left, right: right}
	}
	return left, nil
}

// parenthesised parses "(" inner ")" with the opening parenthesis next.
func (p *parser) parenthesised(inner func() (node, error)) (node, error) {
	p.pos++ // "("
	if err := p.enter(); err != nil {
		return nil, err
	}
	n, err := inner()
	if err != nil {
		return nil, err
	}
	if err := p.expect(')'); err != nil {
		return nil, err
	}
	p.leave()
	return n, nil
}

// notFollows consumes "not" and the whitespace after it when a "(" follows;
// otherwise it consumes nothing ("not" is then an attribute name).
func (p *parser) notFollows() bool {
	if !strings.EqualFold(p.peekWord(), "not") {
		return false
	}
	save := p.pos
	p.pos += len("not")
	p.skipSpace()
	if p.peek() == '(' {
		return true
	}
	p.pos = save
	return false
}

func (p *parser) parseUnary() (node, error) {
	p.skipSpace()
	if p.eof() {
		return nil, p.unexpected("an expression")
	}
	if p.peek() == '(' {
		inner, err := p.parenthesised(p.parseOr)
		if err != nil {
			return nil, err
		}
		return &groupNode{inner: inner}, nil
	}
	if p.notFollows() {
		inner, err := p.parenthesised(p.parseOr)
		if err != nil {
			return nil, err
		}
		return &notNode{inner: inner}, nil
	}
	return p.parseAttrExpression()
}

// parseAttrExpression parses attrPath op value, attrPath pr,
// attrPath[valFilter], and Entra's attrPath[valFilter].sub op value.
func (p *parser) parseAttrExpression() (node, error) {
	ap, err := p.attrPathToken()
	if err != nil {
		return nil, err
	}
	save := p.pos
	p.skipSpace()
	if p.peek() != '[' {
		p.pos = save
		return p.parseComparison(ap)
	}
	inner, err := p.bracket()
	if err != nil {
		return nil, err
	}
	if p.peek() != '.' {
		return &valuePathNode{attr: ap, filter: inner}, nil
	}
	// Entra: emails[type eq "work"].value eq "x". The parser only allows a
	// sub-attribute after [] in a PATCH path; in a filter the same meaning is
	// emails[type eq "work" and value eq "x"] (one element matches both).
	p.pos++
	subPos := p.pos
	sub := p.word()
	if !validAttrName(sub) {
		return nil, p.fail(subPos, "%q after %s[...] is not a sub-attribute name", sub, ap)
	}
	cmp, err := p.parseComparison(attrPath{name: sub})
	if err != nil {
		return nil, err
	}
	first, ok := inner.(*compareNode)
	if !ok {
		// The parser allows at most "a op x and b op y" inside [], so a
		// compound filter cannot absorb one more comparison.
		return nil, p.fail(subPos, "%s[...].%s: the filter inside [] must be a single comparison to be combined with a comparison of the sub-attribute", ap, sub)
	}
	return &valuePathNode{attr: ap, filter: &logicalNode{op: "and", left: first, right: cmp}}, nil
}

// bracket parses "[" valFilter "]" with the "[" next.
func (p *parser) bracket() (node, error) {
	p.pos++ // "["
	if err := p.enter(); err != nil {
		return nil, err
	}
	n, err := p.parseValueFilter()
	if err != nil {
		return nil, err
	}
	if err := p.expect(']'); err != nil {
		return nil, err
	}
	p.leave()
	return n, nil
}

// parseValueFilter parses the filter inside []. The library's parser accepts
// less there than RFC 7644 (no parentheses, no nested [], at most two
// comparisons), so anything more is refused here with a clear message instead
// of an opaque parse error later.
func (p *parser) parseValueFilter() (node, error) {
	p.skipSpace()
	if p.notFollows() {
		inner, err := p.parenthesised(p.parseValueComparisons)
		if err != nil {
			return nil, err
		}
		return &notNode{inner: inner}, nil
	}
	if p.peek() == '(' {
		return nil, p.fail(p.pos, "parentheses inside [] are only supported as not (...)")
	}
	return p.parseValueComparisons()
}

func (p *parser) parseValueComparisons() (node, error) {
	left, err := p.valueComparison()
	if err != nil {
		return nil, err
	}
	for _, kw := range []string{"and", "or"} {
		if !p.keyword(kw) {
			continue
		}
		right, err := p.valueComparison()
		if err != nil {
			return nil, err
		}
		save := p.pos
		if p.keyword("and") || p.keyword("or") {
			return nil, p.fail(save, "at most two comparisons joined by and/or are supported inside []")
		}
		return &logicalNode{op: kw, left: left, right: right}, nil
	}
	return left, nil
}

func (p *parser) valueComparison() (node, error) {
	p.skipSpace()
	if p.peek() == '(' {
		return nil, p.fail(p.pos, "parentheses inside [] are only supported as not (...)")
	}
	ap, err := p.attrPathToken()
	if err != nil {
		return nil, err
	}
	save := p.pos
	p.skipSpace()
	if p.peek() == '[' {
		return nil, p.fail(p.pos, "[] cannot be nested")
	}
	p.pos = save
	return p.parseComparison(ap)
}

func (p *parser) parseComparison(ap attrPath) (node, error) {
	p.skipSpace()
	opPos := p.pos
	w := p.word()
	op := strings.ToLower(w)
	if !containsFold(compareOps, op) {
		if ap.uri == "" && ap.sub == "" && strings.EqualFold(ap.name, "not") {
			return nil, p.fail(opPos, `"not" must be followed by a parenthesised filter`)
		}
		p.pos = opPos
		return nil, p.unexpected(fmt.Sprintf("a comparison operator after %q", ap.String()))
	}
	if op == "pr" {
		return &compareNode{attr: ap, op: op}, nil
	}
	p.skipSpace()
	v, err := p.compareValue(op)
	if err != nil {
		return nil, err
	}
	return &compareNode{attr: ap, op: op, value: v}, nil
}

// compareValue reads a comparison value and returns it as it must be written.
func (p *parser) compareValue(op string) (string, error) {
	if p.eof() {
		return "", p.fail(p.pos, "expected a value after %q, found the end of the filter", op)
	}
	if p.peek() == '"' {
		s, err := p.quoted()
		if err != nil {
			return "", err
		}
		return quoteFilterString(s), nil
	}
	start := p.pos
	for !p.eof() {
		c := p.s[p.pos]
		if isSpace(c) || c == ')' || c == ']' {
			break
		}
		p.pos++
	}
	tok := p.s[start:p.pos]
	if tok == "" {
		return "", p.unexpected(fmt.Sprintf("a value after %q", op))
	}
	return unquotedLiteral(tok), nil
}

// unquotedLiteral keeps the JSON literals the grammar allows unquoted
// (RFC 7644 §3.4.2.2: compValue = false / null / true / number / string) and
// quotes everything else, escaping any quote or backslash in it, so that a
// value such as x';DROP is one string value and nothing more.
func unquotedLiteral(tok string) string {
	switch lower := strings.ToLower(tok); lower {
	case "true", "false", "null":
		return lower
	}
	if isJSONNumber(tok) {
		// The parser converts numbers with strconv.ParseFloat and fails on
		// overflow ("1e999"); such a token is kept as a string instead.
		if _, err := strconv.ParseFloat(tok, 64); err == nil {
			return tok
		}
	}
	return quoteFilterString(tok)
}

// isJSONNumber reports whether s is a JSON number (RFC 8259 §6).
func isJSONNumber(s string) bool {
	i := 0
	digits := func() int {
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		digits()
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// quoted reads a JSON string (RFC 8259 §7) at the current position and
// returns its decoded value. Raw control characters are tolerated (they are
// escaped on output).
func (p *parser) quoted() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for {
		if p.eof() {
			return "", p.fail(start, "unterminated string")
		}
		c := p.s[p.pos]
		switch c {
		case '"':
			p.pos++
			return b.String(), nil
		case '\\':
			if p.pos+1 >= len(p.s) {
				return "", p.fail(start, "unterminated string")
			}
			e := p.s[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, err := p.unicodeEscape()
				if err != nil {
					return "", err
				}
				b.WriteRune(r)
			default:
				return "", p.fail(p.pos-2, "invalid escape \\%c in string", e)
			}
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
}

// unicodeEscape decodes the XXXX of \uXXXX (the "\u" is consumed), joining a
// UTF-16 surrogate pair.
func (p *parser) unicodeEscape() (rune, error) {
	pos := p.pos - 2
	hex4 := func() (rune, bool) {
		if p.pos+4 > len(p.s) {
			return 0, false
		}
		v, err := strconv.ParseUint(p.s[p.pos:p.pos+4], 16, 32)
		if err != nil {
			return 0, false
		}
		p.pos += 4
		return rune(v), true
	}
	r, ok := hex4()
	if !ok {
		return 0, p.fail(pos, `invalid \u escape in string`)
	}
	if r < 0xD800 || r > 0xDFFF {
		return r, nil
	}
	if r <= 0xDBFF && strings.HasPrefix(p.s[p.pos:], `\u`) {
		p.pos += 2
		lo, ok := hex4()
		if ok && 0xDC00 <= lo && lo <= 0xDFFF {
			return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), nil
		}
	}
	return 0, p.fail(pos, `invalid \u escape in string (unpaired surrogate)`)
}

// quoteFilterString encodes s as a filter string literal in the subset of
// JSON escapes that github.com/scim2/filter-parser/v2 accepts: it rejects
// raw characters below U+0020 and lower-case hex digits in \u escapes.
func quoteFilterString(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xF])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// validAttrName reports whether s is an ATTRNAME (RFC 7643 §2.1, with the
// "$" the parser also allows for "$ref").
func validAttrName(s string) bool {
	s = strings.TrimPrefix(s, "$")
	if s == "" || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// attrPathToken reads an attribute path at the current position.
func (p *parser) attrPathToken() (attrPath, error) {
	start := p.pos
	tok := p.word()
	if tok == "" {
		return attrPath{}, p.unexpected("an attribute name")
	}
	ap, msg := splitAttrPath(p.r, tok)
	if msg != "" {
		return attrPath{}, p.fail(start, "%s", msg)
	}
	return ap, nil
}

// splitAttrPath parses [URI ":"] ATTRNAME ["." ATTRNAME]. The URI is what
// precedes the last ":"; its segments are those of RFC 8141 that the parser
// accepts. A non-empty message describes a malformed path.
func splitAttrPath(r Resource, tok string) (attrPath, string) {
	var ap attrPath
	rest := tok
	if i := strings.LastIndexByte(tok, ':'); i >= 0 {
		uri := tok[:i]
		for _, seg := range strings.Split(uri, ":") {
			if seg == "" || strings.ContainsAny(seg, "_$") {
				return ap, fmt.Sprintf("%q is not a valid schema URN prefix", uri)
			}
		}
		ap.uri = canonicalURN(r, uri)
		rest = tok[i+1:]
	}
	ap.name = rest
	if j := strings.IndexByte(rest, '.'); j >= 0 {
		ap.name, ap.sub = rest[:j], rest[j+1:]
		if !validAttrName(ap.sub) {
			return ap, fmt.Sprintf("%q is not a valid attribute path (attribute.subAttribute)", tok)
		}
	}
	if !validAttrName(ap.name) {
		return ap, fmt.Sprintf("%q is not a valid attribute name", tok)
	}
	return ap, ""
}

// pathExpr is a PATCH path (RFC 7644 §3.5.2): attrPath, or
// attrPath[valFilter] optionally followed by ".sub".
type pathExpr struct {
	attr      attrPath
	filter    node // nil when the path has no [...]
	filterSub string
}

func (p pathExpr) String() string {
	if p.filter == nil {
		return p.attr.String()
	}
	var b strings.Builder
	b.WriteString(p.attr.String())
	b.WriteByte('[')
	p.filter.write(&b)
	b.WriteByte(']')
	if p.filterSub != "" {
		b.WriteByte('.')
		b.WriteString(p.filterSub)
	}
	return b.String()
}

// sub is the sub-attribute the path ends in, "" if none.
func (p pathExpr) sub() string {
	if p.filterSub != "" {
		return p.filterSub
	}
	return p.attr.sub
}

// parsePath parses and normalises a PATCH path: filter values inside [] are
// quoted as in Filter, known URNs are spelled exactly, and on a User an
// unqualified enterprise attribute ("manager", which Entra's tutorial sends as
// a path) is qualified with the extension URN, because the library resolves an
// unqualified path against the core schema only and would refuse it.
func parsePath(r Resource, s string) (pathExpr, error) {
	if len(s) > maxFilterLen {
		return pathExpr{}, fmt.Errorf("path too long (%d bytes, at most %d)", len(s), maxFilterLen)
	}
	if !utf8.ValidString(s) {
		return pathExpr{}, fmt.Errorf("path is not valid UTF-8")
	}
	p := &parser{s: s, r: r}
	p.skipSpace()
	ap, err := p.attrPathToken()
	if err != nil {
		return pathExpr{}, err
	}
	pe := pathExpr{attr: ap}
	p.skipSpace()
	if p.peek() == '[' {
		if pe.filter, err = p.bracket(); err != nil {
			return pathExpr{}, err
		}
		if p.peek() == '.' {
			p.pos++
			subPos := p.pos
			pe.filterSub = p.word()
			if !validAttrName(pe.filterSub) {
				return pathExpr{}, p.fail(subPos, "%q is not a sub-attribute name", pe.filterSub)
			}
		}
	}
	p.skipSpace()
	if !p.eof() {
		return pathExpr{}, p.fail(p.pos, "unexpected %q", p.s[p.pos:])
	}
	if r == User && pe.attr.uri == "" && containsFold(enterpriseAttrs, pe.attr.name) {
		pe.attr.uri = enterpriseURN
	}
	return pe, nil
}
