package normalize

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The JSON values of this package are: *object, []any, string, json.Number,
// bool and nil. Objects keep the order of their members so that the expansion
// of a path-less PATCH value yields its operations in the order the client
// wrote them, and so that rewritten bodies stay readable in logs.

// maxJSONDepth bounds the nesting of request bodies. SCIM resources nest at
// most three levels (extension → complex → sub-attribute); the bound keeps a
// hostile body from driving the recursive decoder deep.
const maxJSONDepth = 64

type member struct {
	key string
	val any
}

type object struct {
	members []member
}

// lookupFold returns the index of the member whose key equals name
// case-insensitively, or -1. Two such members are an error: which one the
// client meant is unknowable.
func (o *object) lookupFold(name string) (int, error) {
	found := -1
	for i, m := range o.members {
		if strings.EqualFold(m.key, name) {
			if found >= 0 {
				return -1, errorf(scimInvalidSyntax, "attributes %q and %q differ only in case", o.members[found].key, m.key)
			}
			found = i
		}
	}
	return found, nil
}

func (o *object) removeAt(i int) {
	o.members = append(o.members[:i:i], o.members[i+1:]...)
}

func (o *object) add(key string, val any) {
	o.members = append(o.members, member{key: key, val: val})
}

// decodeJSON parses exactly one JSON value, keeping numbers as json.Number so
// that they reach the library unchanged.
func decodeJSON(data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errorf(scimInvalidSyntax, "the body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf(scimInvalidSyntax, "the body has data after the JSON value")
	}
	return v, nil
}

func syntaxError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errorf(scimInvalidSyntax, "the body is not valid JSON: unexpected end")
	}
	return errorf(scimInvalidSyntax, "the body is not valid JSON: %v", err)
}

func readValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxJSONDepth {
			return nil, errorf(scimInvalidSyntax, "the body nests deeper than %d levels", maxJSONDepth)
		}
		switch t {
		case '{':
			obj := &object{}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, syntaxError(err)
				}
				key, ok := kt.(string)
				if !ok {
					return nil, errorf(scimInvalidSyntax, "the body is not valid JSON: object key is not a string")
				}
				if seen[key] {
					return nil, errorf(scimInvalidSyntax, "attribute %q appears twice in one object", key)
				}
				seen[key] = true
				val, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				obj.add(key, val)
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(err)
			}
			return obj, nil
		case '[':
			list := []any{}
			for dec.More() {
				val, err := readValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, val)
			}
			if _, err := dec.Token(); err != nil {
				return nil, syntaxError(err)
			}
			return list, nil
		default:
			return nil, errorf(scimInvalidSyntax, "the body is not valid JSON: unexpected %q", t.String())
		}
	default:
		// string, json.Number, bool or nil
		return t, nil
	}
}

// kindOf names the JSON type of v for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case *object:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	default:
		return "an unknown value"
	}
}

// stripNulls removes null members and null list elements at every level:
// RFC 7643 §2.5 says an attribute whose value is null is unassigned, which is
// exactly what leaving it out means, and the library rejects some nulls.
func stripNulls(v any) any {
	switch t := v.(type) {
	case *object:
		kept := t.members[:0]
		for _, m := range t.members {
			if m.val == nil {
				continue
			}
			m.val = stripNulls(m.val)
			kept = append(kept, m)
		}
		t.members = kept
		return t
	case []any:
		kept := t[:0]
		for _, e := range t {
			if e == nil {
				continue
			}
			kept = append(kept, stripNulls(e))
		}
		return kept
	default:
		return v
	}
}

// equalJSON compares two values of this package's JSON model; object keys
// compare case-insensitively, as attribute names do.
func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case *object:
		y, ok := b.(*object)
		if !ok || len(x.members) != len(y.members) {
			return false
		}
		ys := make(map[string]any, len(y.members))
		for _, m := range y.members {
			ys[strings.ToLower(m.key)] = m.val
		}
		if len(ys) != len(y.members) {
			return false // keys differing only in case: never equal
		}
		for _, m := range x.members {
			v, ok := ys[strings.ToLower(m.key)]
			if !ok || !equalJSON(m.val, v) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func encodeJSON(v any) []byte {
	var b bytes.Buffer
	writeJSON(&b, v)
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case json.Number:
		// Produced by the decoder, so it is a valid JSON number literal.
		b.WriteString(string(t))
	case string:
		writeJSONString(b, t)
	case *object:
		b.WriteByte('{')
		for i, m := range t.members {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, m.key)
			b.WriteByte(':')
			writeJSON(b, m.val)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	default:
		// Not reachable: every value comes from decodeJSON or this package.
		raw, err := json.Marshal(t)
		if err != nil {
			raw = []byte("null")
		}
		b.Write(raw)
	}
}

// writeJSONString writes s as a JSON string. Unlike encoding/json it does not
// escape <, > and &, so values reach the handler byte for byte.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xF])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			// Valid JSON, but escaped as encoding/json does, for JavaScript
			// consumers of logged bodies.
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xF])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}
