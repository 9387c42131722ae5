package scim

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	elimity "github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	fp "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/scim/normalize"
)

const listResponseURN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

// rootType is one resource type a query at the server root searches, in
// the order its resources come in the answer.
type rootType struct {
	name     string // "User"
	endpoint string // "/Users"
	schemas  []string
	cat      *catalogue
	kind     normalize.Resource
}

var rootTypes = []rootType{
	{name: "User", endpoint: "/Users", schemas: []string{userURN, directory.EnterpriseUserURN}, cat: userCatalogue, kind: normalize.User},
	{name: "Group", endpoint: "/Groups", schemas: []string{groupURN}, cat: groupCatalogue, kind: normalize.Group},
}

// rootQuery is a query's plan for one resource type.
type rootQuery struct {
	rootType
	filter directory.Filter
	none   bool // the filter matches no resource of this type
	sortBy *directory.AttrPath
	proj   projection
}

// serveRoot answers a query across resource types: GET at the server root
// (RFC 7644 §3.4.2.1) or POST /.search there (§3.4.3). The results are
// the users, then the groups, each type in the order its own endpoint
// lists it (sortBy, when given, sorts within each type); startIndex and
// count page over that sequence. A filter is applied to each type, an
// attribute the type lacks reading as unassigned there (§3.4.2.1).
func (h *Handler) serveRoot(w http.ResponseWriter, r *http.Request, req *request, segs []string, body []byte) {
	switch {
	case len(segs) != 1:
		writeError(w, http.StatusNotFound, "", "no such endpoint")
		return
	case segs[0] == "" && r.Method != http.MethodGet:
		writeError(w, http.StatusMethodNotAllowed, "", "the server root answers GET queries; search with POST /.search")
		return
	case segs[0] == ".search" && r.Method != http.MethodPost:
		writeError(w, http.StatusMethodNotAllowed, "", "/.search takes POST")
		return
	}
	q := r.URL.Query()
	if segs[0] == ".search" {
		var err error
		if q, err = searchQuery(body); err != nil {
			writeError(w, http.StatusBadRequest, "invalidSyntax", err.Error())
			return
		}
	}
	startIndex, count, err := pageParams(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalidValue", err.Error())
		return
	}
	desc, err := parseSortOrder(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalidValue", err.Error())
		return
	}
	plans, scimType, err := planRoot(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, scimType, errDetail(err))
		return
	}

	resources := []any{}
	total, before := 0, 0
	for _, p := range plans {
		if p.none {
			continue
		}
		sub := *req
		sub.proj = p.proj
		rr := r.WithContext(context.WithValue(r.Context(), ctxKey{}, &sub))
		// The page starts in this type, or at its first resource when it
		// started in an earlier one; a full page only counts the rest.
		lq := directory.ListQuery{Filter: p.filter, SortBy: p.sortBy, Descending: desc,
			StartIndex: max(startIndex-before, 1), Count: count - len(resources)}
		var n int
		var page []elimity.Resource
		switch p.name {
		case "User":
			var list []directory.User
			list, n, err = h.cfg.Store.ListUsers(rr.Context(), req.org.ID, lq)
			for _, u := range list {
				page = append(page, h.user.resource(rr, u))
			}
		case "Group":
			lq.WithMembers = p.proj.wants("members")
			var list []directory.Group
			list, n, err = h.cfg.Store.ListGroups(rr.Context(), req.org.ID, lq)
			for _, g := range list {
				page = append(page, h.grp.resource(rr, g))
			}
		}
		if err != nil {
			se := listErr(h.log, rr, err)
			if sub.unavailable {
				unavailable(w)
				return
			}
			var e scimerr.ScimError
			errors.As(se, &e)
			writeError(w, e.Status, string(e.ScimType), e.Detail)
			return
		}
		for _, res := range page {
			resources = append(resources, rootResource(p.rootType, req.base, res))
		}
		total += n
		before += n
	}
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"schemas":      []string{listResponseURN},
		"totalResults": total,
		"startIndex":   startIndex,
		"itemsPerPage": len(resources),
		"Resources":    resources,
	})
}

// pageParams reads startIndex and count as the resource endpoints do
// (RFC 7644 §3.4.2.4): startIndex below 1 is 1, count is at most pageSize
// and below 0 is 0.
func pageParams(q url.Values) (startIndex, count int, err error) {
	startIndex, count = 1, pageSize
	if s := q.Get("startIndex"); s != "" {
		if startIndex, err = strconv.Atoi(s); err != nil {
			return 0, 0, errors.New("startIndex must be an integer")
		}
	}
	if s := q.Get("count"); s != "" {
		if count, err = strconv.Atoi(s); err != nil {
			return 0, 0, errors.New("count must be an integer")
		}
	}
	return max(startIndex, 1), min(max(count, 0), pageSize), nil
}

// planRoot resolves the query's filter, sortBy and projection for each
// resource type. An attribute the filter or sortBy names must exist in
// at least one type: a misspelt attribute is an error, not an empty answer.
func planRoot(q url.Values) ([]rootQuery, string, error) {
	raw := strings.TrimSpace(q.Get("filter"))
	plans := make([]rootQuery, len(rootTypes))
	unknownEverywhere := map[string]int{}
	sortErrs := 0
	var sortErr error
	for i, t := range rootTypes {
		p := rootQuery{rootType: t, proj: parseProjection(t.cat, q.Get("attributes"), q.Get("excludedAttributes"))}
		if raw != "" {
			norm, err := normalize.Filter(t.kind, raw)
			if err != nil {
				return nil, "invalidFilter", err
			}
			expr, err := fp.ParseFilter([]byte(norm))
			if err != nil {
				return nil, "invalidFilter", directory.Invalidf("filter %q does not parse: %v", norm, err)
			}
			unknown := map[string]bool{}
			f, err := t.cat.rootConvert(expr, 0, &filterBudget{}, unknown)
			if err != nil {
				return nil, "invalidFilter", err
			}
			p.filter, p.none = f.filter, f.constant && !f.value
			for name := range unknown {
				unknownEverywhere[name]++
			}
		}
		sb, err := parseSortBy(t.cat, q.Get("sortBy"))
		if err != nil {
			sortErrs++
			sortErr = err
		}
		p.sortBy = sb
		plans[i] = p
	}
	for name, n := range unknownEverywhere {
		if n == len(rootTypes) {
			return nil, "invalidFilter", directory.Invalidf("unknown attribute %q: no resource type has it", name)
		}
	}
	if sortErrs == len(rootTypes) {
		return nil, "invalidValue", sortErr
	}
	return plans, "", nil
}

// rootFilter is a filter for one resource type, or a constant when the
// attributes it tests are not the type's.
type rootFilter struct {
	filter   directory.Filter
	constant bool
	value    bool // the constant's value
}

// rootConvert is convert for a query at the server root: a comparison of
// an attribute the resource type lacks is false, as for an unassigned
// attribute (RFC 7644 §3.4.2.1), and the expression is simplified around
// it. The names of such attributes are added to unknown.
func (c *catalogue) rootConvert(e fp.Expression, depth int, b *filterBudget, unknown map[string]bool) (rootFilter, error) {
	if depth > maxFilterDepth {
		return rootFilter{}, directory.Invalidf("filter is nested too deeply (at most %d levels)", maxFilterDepth)
	}
	lacks := func(p fp.AttributePath) bool {
		if _, ok := c.lookup(p.URI(), p.AttributeName); ok {
			return false
		}
		unknown[strings.ToLower(p.String())] = true
		return true
	}
	switch x := e.(type) {
	case *fp.LogicalExpression:
		l, err := c.rootConvert(x.Left, depth+1, b, unknown)
		if err != nil {
			return rootFilter{}, err
		}
		r, err := c.rootConvert(x.Right, depth+1, b, unknown)
		if err != nil {
			return rootFilter{}, err
		}
		or := strings.EqualFold(string(x.Operator), "or")
		switch {
		case l.constant && l.value == or: // true or …, false and …
			return l, nil
		case r.constant && r.value == or:
			return r, nil
		case l.constant: // false or r, true and r
			return r, nil
		case r.constant:
			return l, nil
		case or:
			return rootFilter{filter: directory.Or{Left: l.filter, Right: r.filter}}, nil
		}
		return rootFilter{filter: directory.And{Left: l.filter, Right: r.filter}}, nil
	case *fp.NotExpression:
		f, err := c.rootConvert(x.Expression, depth+1, b, unknown)
		if err != nil || f.constant {
			f.value = !f.value
			return f, err
		}
		return rootFilter{filter: directory.Not{Filter: f.filter}}, nil
	case *fp.ValuePath:
		if err := b.valuePath(); err != nil {
			return rootFilter{}, err
		}
		if lacks(x.AttributePath) {
			return rootFilter{constant: true}, nil
		}
		b.valuePaths-- // convert counts it again
	case *fp.AttributeExpression:
		if err := b.compare(); err != nil {
			return rootFilter{}, err
		}
		if lacks(x.AttributePath) {
			return rootFilter{constant: true}, nil
		}
		b.comparisons--
	}
	f, err := c.convert(e, nil, depth, b)
	return rootFilter{filter: f}, err
}

// rootResource writes a resource as its own endpoint does (the library
// adds id, externalId, schemas and meta there).
func rootResource(t rootType, base string, res elimity.Resource) map[string]any {
	out := make(map[string]any, len(res.Attributes)+4)
	maps.Copy(out, res.Attributes)
	out["id"] = res.ID
	if res.ExternalID.Present() {
		out["externalId"] = res.ExternalID.Value()
	}
	out["schemas"] = t.schemas
	m := map[string]any{"resourceType": t.name, "location": base + t.endpoint + "/" + url.PathEscape(res.ID)}
	if res.Meta.Created != nil {
		m["created"] = res.Meta.Created.Format(time.RFC3339)
	}
	if res.Meta.LastModified != nil {
		m["lastModified"] = res.Meta.LastModified.Format(time.RFC3339)
	}
	if res.Meta.Version != "" {
		m["version"] = res.Meta.Version
	}
	out["meta"] = m
	return out
}
