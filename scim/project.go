package scim

import (
	"maps"
	"strings"
)

// projection is a request's attributes / excludedAttributes (RFC 7644
// §3.4.2.5): which attributes a response carries. id, schemas and meta are
// always returned.
type projection struct {
	include []projAttr
	exclude []projAttr
}

type projAttr struct{ urn, name, sub string }

// parseProjection reads comma-separated attribute paths. Names it does not
// know are ignored: a client asking for an attribute the schema lacks gets
// nothing for it, as for any attribute with no value.
func parseProjection(c *catalogue, attributes, excluded string) projection {
	return projection{include: projList(c, attributes), exclude: projList(c, excluded)}
}

func projList(c *catalogue, s string) []projAttr {
	var out []projAttr
	for _, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if i := strings.IndexByte(raw, '['); i >= 0 { // emails[type eq "work"] names emails
			raw = raw[:i]
		}
		if raw == "" {
			continue
		}
		urn, rest := splitURN(c, raw)
		if rest == "" { // the whole extension
			out = append(out, projAttr{urn: urn})
			continue
		}
		name, sub, _ := strings.Cut(rest, ".")
		a, ok := c.lookup(urn, name)
		if !ok {
			continue
		}
		pa := projAttr{urn: a.urn, name: a.name}
		if sub != "" {
			if s, ok := a.subs[strings.ToLower(sub)]; ok {
				pa.sub = s.name
			}
		}
		out = append(out, pa)
	}
	return out
}

// splitURN splits "urn:…:User:department" into the extension URN and
// "department"; a path without a known URN prefix is returned whole.
func splitURN(c *catalogue, path string) (urn, rest string) {
	for _, u := range []string{userURN, groupURN} {
		if len(path) > len(u) && strings.EqualFold(path[:len(u)+1], u+":") {
			return "", path[len(u)+1:]
		}
	}
	for u := range c.ext {
		if strings.EqualFold(path, u) {
			return u, ""
		}
		if len(path) > len(u) && strings.EqualFold(path[:len(u)+1], u+":") {
			return u, path[len(u)+1:]
		}
	}
	return "", path
}

func (p projection) empty() bool { return len(p.include) == 0 && len(p.exclude) == 0 }

// wants tells whether the response carries a top-level core attribute;
// handlers skip loading what is not wanted (a group's members).
func (p projection) wants(name string) bool {
	for _, e := range p.exclude {
		if e.urn == "" && e.name == name && e.sub == "" {
			return false
		}
	}
	if len(p.include) == 0 {
		return true
	}
	for _, in := range p.include {
		if in.urn == "" && in.name == name {
			return true
		}
	}
	return false
}

// apply returns the attributes the response carries.
func (p projection) apply(attrs map[string]any) map[string]any {
	if p.empty() {
		return attrs
	}
	out := attrs
	if len(p.include) > 0 {
		out = map[string]any{}
		for _, in := range p.include {
			copyAttr(out, attrs, in)
		}
	} else {
		out = make(map[string]any, len(attrs))
		maps.Copy(out, attrs)
	}
	for _, ex := range p.exclude {
		removeAttr(out, ex)
	}
	return out
}

func copyAttr(dst, src map[string]any, a projAttr) {
	if a.urn != "" {
		ext, ok := src[a.urn].(map[string]any)
		if !ok {
			return
		}
		if a.name == "" {
			dst[a.urn] = ext
			return
		}
		d, _ := dst[a.urn].(map[string]any)
		if d == nil {
			d = map[string]any{}
		}
		copyAttr(d, ext, projAttr{name: a.name, sub: a.sub})
		if len(d) > 0 {
			dst[a.urn] = d
		}
		return
	}
	v, ok := src[a.name]
	if !ok {
		return
	}
	if a.sub == "" {
		dst[a.name] = v
		return
	}
	switch x := v.(type) {
	case map[string]any:
		d, _ := dst[a.name].(map[string]any)
		if d == nil {
			d = map[string]any{}
		}
		if sv, ok := x[a.sub]; ok {
			d[a.sub] = sv
			dst[a.name] = d
		}
	case []any:
		// A sub-attribute of a multi-valued attribute: keep that
		// sub-attribute of every value.
		list := make([]any, 0, len(x))
		for _, el := range x {
			if m, ok := el.(map[string]any); ok {
				if sv, ok := m[a.sub]; ok {
					list = append(list, map[string]any{a.sub: sv})
				}
			}
		}
		if len(list) > 0 {
			dst[a.name] = list
		}
	}
}

func removeAttr(m map[string]any, a projAttr) {
	if a.urn != "" {
		if a.name == "" {
			delete(m, a.urn)
			return
		}
		if ext, ok := m[a.urn].(map[string]any); ok {
			c := maps.Clone(ext)
			removeAttr(c, projAttr{name: a.name, sub: a.sub})
			m[a.urn] = c
		}
		return
	}
	if a.sub == "" {
		delete(m, a.name)
		return
	}
	if sub, ok := m[a.name].(map[string]any); ok {
		c := maps.Clone(sub)
		delete(c, a.sub)
		m[a.name] = c
	}
}
