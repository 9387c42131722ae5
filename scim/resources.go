package scim

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	elimity "github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Store is what the SCIM adapter needs of the store. Methods return the
// domain errors of internal/directory: ErrNotFound, ErrConflict (a
// uniqueness violation), ErrInvalid, ErrPrecondition (stale version) and
// ErrUnauthorized (AuthenticateSCIM).
type Store interface {
	AuthenticateSCIM(ctx context.Context, orgSlug, secret string) (directory.Organization, directory.SCIMToken, error)

	CreateUser(ctx context.Context, actor directory.Actor, u directory.User) (directory.User, error)
	User(ctx context.Context, orgID, id string) (directory.User, error)
	UpdateUser(ctx context.Context, actor directory.Actor, orgID, id string, version int64, change func(directory.User) (directory.User, error)) (directory.User, error)
	DeleteUser(ctx context.Context, actor directory.Actor, orgID, id string, version int64) error
	ListUsers(ctx context.Context, orgID string, q directory.ListQuery) ([]directory.User, int, error)

	CreateGroup(ctx context.Context, actor directory.Actor, g directory.Group, members directory.MemberChange) (directory.Group, error)
	Group(ctx context.Context, orgID, id string, withMembers bool) (directory.Group, error)
	UpdateGroup(ctx context.Context, actor directory.Actor, orgID, id string, version int64, change func(directory.Group) (directory.Group, directory.MemberChange, error)) (directory.Group, error)
	DeleteGroup(ctx context.Context, actor directory.Actor, orgID, id string, version int64) error
	ListGroups(ctx context.Context, orgID string, q directory.ListQuery) ([]directory.Group, int, error)
}

// request is what the middleware learned about a request, for the handlers.
type request struct {
	org     directory.Organization
	actor   directory.Actor
	base    string // SCIM base URL of the organization
	filter  directory.Filter
	sortBy  *directory.AttrPath
	desc    bool
	proj    projection
	version int64 // from If-Match; 0 means any
	pageLen int   // resources on a list page, -1 for other requests
	// patchBody: a PATCH named attributes or excludedAttributes, so it
	// answers 200 with the resource (RFC 7644 §3.5.2) instead of 204.
	patchBody bool
	// unavailable: the store could not answer in time or at all. The
	// library allows 503 on no method, so finish rewrites the answer.
	unavailable bool
	// paused: the mass-deactivation rail holds this deactivation; finish
	// answers 503 with Retry-After, like unavailable.
	paused bool
}

type ctxKey struct{}

func info(r *http.Request) *request { return r.Context().Value(ctxKey{}).(*request) }

// toSCIM maps a domain error to the SCIM error the library writes. Only
// ScimError values reach the client; anything else is logged and answered
// as an internal error without details.
func toSCIM(log *slog.Logger, r *http.Request, err error) error {
	var se scimerr.ScimError
	if errors.As(err, &se) {
		return se
	}
	var pe *patchError
	if errors.As(err, &pe) {
		return scimerr.ScimError{ScimType: scimerr.ScimType(pe.scimType), Detail: pe.detail, Status: http.StatusBadRequest}
	}
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return scimerr.ScimError{Detail: err.Error(), Status: http.StatusNotFound}
	case errors.Is(err, directory.ErrConflict):
		return scimerr.ScimError{ScimType: scimerr.ScimTypeUniqueness, Detail: err.Error(), Status: http.StatusConflict}
	case errors.Is(err, directory.ErrPrecondition):
		return scimerr.ScimError{Detail: err.Error(), Status: http.StatusPreconditionFailed}
	case errors.Is(err, directory.ErrInvalid):
		return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidValue, Detail: err.Error(), Status: http.StatusBadRequest}
	case directory.Unavailable(err):
		if req, _ := r.Context().Value(ctxKey{}).(*request); req != nil {
			req.unavailable = true
		}
		log.WarnContext(r.Context(), "SCIM request: store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		return scimerr.ScimError{Detail: "the directory is unavailable", Status: http.StatusInternalServerError}
	case errors.Is(err, context.Canceled):
		// The client went away: nobody reads the answer. 500 is the one
		// server status the library allows on every method.
		log.InfoContext(r.Context(), "SCIM request cancelled", "method", r.Method, "path", r.URL.Path)
		return scimerr.ScimError{Detail: "the request was cancelled or timed out", Status: http.StatusInternalServerError}
	}
	log.ErrorContext(r.Context(), "SCIM request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return scimerr.ScimError{Detail: "internal error", Status: http.StatusInternalServerError}
}

func etag(version int64) string { return `W/"` + strconv.FormatInt(version, 10) + `"` }

// parseETag reads a version from an entity tag written by etag.
func parseETag(s string) (int64, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	s = strings.Trim(s, `"`)
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v > 0
}

func meta(created, modified time.Time, version int64) elimity.Meta {
	c, m := created.UTC(), modified.UTC()
	return elimity.Meta{Created: &c, LastModified: &m, Version: etag(version)}
}

// readOnly attributes and password are never stored from a request.
func cleanDoc(attrs elimity.ResourceAttributes) (doc map[string]any, externalID string) {
	doc = make(map[string]any, len(attrs))
	for k, v := range attrs {
		switch k {
		case "id", "meta", "schemas", "password", "groups":
			continue
		case "externalId":
			externalID, _ = v.(string)
			continue
		}
		doc[k] = v
	}
	return doc, externalID
}

// users serves /Users.
type users struct {
	store Store
	log   *slog.Logger
}

func (h users) resource(r *http.Request, u directory.User) elimity.Resource {
	req := info(r)
	attrs := make(map[string]any, len(u.Attributes)+2)
	maps.Copy(attrs, u.Attributes)
	attrs["active"] = u.Active
	if len(u.Groups) > 0 {
		groups := make([]any, len(u.Groups))
		for i, g := range u.Groups {
			groups[i] = map[string]any{"value": g.ID, "display": g.DisplayName, "$ref": req.base + "/Groups/" + g.ID, "type": "direct"}
		}
		attrs["groups"] = groups
	}
	res := elimity.Resource{ID: u.ID, Attributes: req.proj.apply(attrs), Meta: meta(u.CreatedAt, u.UpdatedAt, u.Version)}
	if u.ExternalID != "" && req.proj.wants("externalId") {
		res.ExternalID = optional.NewString(u.ExternalID)
	}
	return res
}

func (h users) Create(r *http.Request, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	req := info(r)
	doc, ext := cleanDoc(attrs)
	if err := checkUserSize(nil, doc); err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	u, err := h.store.CreateUser(r.Context(), req.actor, directory.User{OrgID: req.org.ID, ExternalID: ext, Attributes: doc})
	if err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	return h.resource(r, u), nil
}

func (h users) Get(r *http.Request, id string) (elimity.Resource, error) {
	u, err := h.store.User(r.Context(), info(r).org.ID, id)
	if err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	return h.resource(r, u), nil
}

func (h users) GetAll(r *http.Request, p elimity.ListRequestParams) (elimity.Page, error) {
	req := info(r)
	list, total, err := h.store.ListUsers(r.Context(), req.org.ID, directory.ListQuery{
		Filter: req.filter, StartIndex: p.StartIndex, Count: p.Count, SortBy: req.sortBy, Descending: req.desc,
	})
	if err != nil {
		return elimity.Page{}, listErr(h.log, r, err)
	}
	req.pageLen = len(list)
	page := elimity.Page{TotalResults: total, Resources: make([]elimity.Resource, len(list))}
	for i, u := range list {
		page.Resources[i] = h.resource(r, u)
	}
	return page, nil
}

// listErr maps errors of a list: an ErrInvalid there comes from the filter.
func listErr(log *slog.Logger, r *http.Request, err error) error {
	if errors.Is(err, directory.ErrInvalid) {
		return scimerr.ScimError{ScimType: scimerr.ScimTypeInvalidFilter, Detail: err.Error(), Status: http.StatusBadRequest}
	}
	return toSCIM(log, r, err)
}

func (h users) Replace(r *http.Request, id string, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	req := info(r)
	doc, ext := cleanDoc(attrs)
	u, err := h.store.UpdateUser(r.Context(), req.actor, req.org.ID, id, req.version, func(cur directory.User) (directory.User, error) {
		if err := checkUserSize(cur.Attributes, doc); err != nil {
			return cur, err
		}
		cur.Attributes, cur.ExternalID = doc, ext
		return cur, nil
	})
	if err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	return h.resource(r, u), nil
}

func (h users) Delete(r *http.Request, id string) error {
	req := info(r)
	if err := h.store.DeleteUser(r.Context(), req.actor, req.org.ID, id, req.version); err != nil {
		return toSCIM(h.log, r, err)
	}
	return nil
}

// Patch applies the operations and answers 204 No Content, which both
// Okta and Entra accept (RFC 7644 §3.5.2 allows it) and Microsoft's
// reference tests expect; with attributes or excludedAttributes in the
// query it answers 200 with the resource, as §3.5.2 requires.
func (h users) Patch(r *http.Request, id string, ops []elimity.PatchOperation) (elimity.Resource, error) {
	req := info(r)
	// Prepared before the row is locked: under the lock only what depends
	// on the stored user runs.
	pl := prepare(userCatalogue, ops, nil)
	u, err := h.store.UpdateUser(r.Context(), req.actor, req.org.ID, id, req.version, func(cur directory.User) (directory.User, error) {
		doc := directory.CloneDoc(cur.Attributes)
		if cur.ExternalID != "" {
			doc["externalId"] = cur.ExternalID
		}
		if _, ok := doc["active"]; !ok {
			doc["active"] = cur.Active
		}
		if err := pl.apply(doc); err != nil {
			return cur, err
		}
		next, ext := cleanDoc(doc)
		if err := checkUserSize(cur.Attributes, next); err != nil {
			return cur, err
		}
		cur.Attributes, cur.ExternalID = next, ext
		return cur, nil
	})
	if err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	if !req.patchBody {
		return elimity.Resource{}, nil
	}
	return patched(h.resource(r, u)), nil
}

// patched makes the library answer a PATCH with 200 and the resource: it
// answers 204 when the attributes are empty, as they are when the client
// asked for id alone (attributes=id). The id it adds is the one the
// library writes anyway.
func patched(res elimity.Resource) elimity.Resource {
	if len(res.Attributes) == 0 {
		res.Attributes = map[string]any{"id": res.ID}
	}
	return res
}

// groups serves /Groups.
type groups struct {
	store Store
	log   *slog.Logger
}

func (h groups) resource(r *http.Request, g directory.Group) elimity.Resource {
	req := info(r)
	attrs := make(map[string]any, len(g.Attributes)+2)
	maps.Copy(attrs, g.Attributes)
	attrs["displayName"] = g.DisplayName
	// No members reads as no attribute, as a user's empty multi-valued
	// attributes do (RFC 7643 §2.5: an empty list is unassigned).
	if len(g.Members) > 0 {
		members := make([]any, len(g.Members))
		for i, m := range g.Members {
			members[i] = map[string]any{"value": m.UserID, "display": m.Display, "$ref": req.base + "/Users/" + m.UserID, "type": "User"}
		}
		attrs["members"] = members
	}
	res := elimity.Resource{ID: g.ID, Attributes: req.proj.apply(attrs), Meta: meta(g.CreatedAt, g.UpdatedAt, g.Version)}
	if g.ExternalID != "" && req.proj.wants("externalId") {
		res.ExternalID = optional.NewString(g.ExternalID)
	}
	return res
}

// groupDoc splits a request's attributes into the group, its members
// and the rest of the document.
func groupDoc(attrs elimity.ResourceAttributes) (directory.Group, directory.MemberChange, error) {
	doc, ext := cleanDoc(attrs)
	g := directory.Group{ExternalID: ext}
	g.DisplayName, _ = doc["displayName"].(string)
	delete(doc, "displayName")
	ids, display, err := memberValues(doc["members"])
	if err != nil {
		return g, directory.MemberChange{}, err
	}
	delete(doc, "members")
	g.Attributes = doc
	return g, directory.MemberChange{Add: ids, Display: display}, nil
}

func (h groups) Create(r *http.Request, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	req := info(r)
	g, members, err := groupDoc(attrs)
	if err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	g.OrgID = req.org.ID
	created, err := h.store.CreateGroup(r.Context(), req.actor, g, members)
	if err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	if req.proj.wants("members") {
		created, err = h.store.Group(r.Context(), req.org.ID, created.ID, true)
		if err != nil {
			return elimity.Resource{}, toSCIM(h.log, r, err)
		}
	}
	return h.resource(r, created), nil
}

func (h groups) Get(r *http.Request, id string) (elimity.Resource, error) {
	req := info(r)
	g, err := h.store.Group(r.Context(), req.org.ID, id, req.proj.wants("members"))
	if err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	return h.resource(r, g), nil
}

func (h groups) GetAll(r *http.Request, p elimity.ListRequestParams) (elimity.Page, error) {
	req := info(r)
	list, total, err := h.store.ListGroups(r.Context(), req.org.ID, directory.ListQuery{
		Filter: req.filter, StartIndex: p.StartIndex, Count: p.Count, SortBy: req.sortBy, Descending: req.desc,
		WithMembers: req.proj.wants("members"),
	})
	if err != nil {
		return elimity.Page{}, listErr(h.log, r, err)
	}
	req.pageLen = len(list)
	page := elimity.Page{TotalResults: total, Resources: make([]elimity.Resource, len(list))}
	for i, g := range list {
		page.Resources[i] = h.resource(r, g)
	}
	return page, nil
}

func (h groups) Replace(r *http.Request, id string, attrs elimity.ResourceAttributes) (elimity.Resource, error) {
	req := info(r)
	next, members, err := groupDoc(attrs)
	if err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	g, err := h.store.UpdateGroup(r.Context(), req.actor, req.org.ID, id, req.version, func(cur directory.Group) (directory.Group, directory.MemberChange, error) {
		cur.DisplayName, cur.ExternalID, cur.Attributes = next.DisplayName, next.ExternalID, next.Attributes
		members.Replace = true
		return cur, members, nil
	})
	if err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	if req.proj.wants("members") {
		if g, err = h.store.Group(r.Context(), req.org.ID, id, true); err != nil {
			return elimity.Resource{}, toSCIM(h.log, r, err)
		}
	}
	return h.resource(r, g), nil
}

func (h groups) Delete(r *http.Request, id string) error {
	req := info(r)
	if err := h.store.DeleteGroup(r.Context(), req.actor, req.org.ID, id, req.version); err != nil {
		return toSCIM(h.log, r, err)
	}
	return nil
}

// Patch applies the operations; members change by what is named only.
// It answers 204, as Entra recommends for groups, or 200 with the group
// when the query names attributes or excludedAttributes.
func (h groups) Patch(r *http.Request, id string, ops []elimity.PatchOperation) (elimity.Resource, error) {
	req := info(r)
	// The member change does not depend on the group: it is netted out
	// here, before the row is locked, with the paths of the other
	// operations.
	mo := &memberOps{}
	pl := prepare(groupCatalogue, ops, mo)
	g, err := h.store.UpdateGroup(r.Context(), req.actor, req.org.ID, id, req.version, func(cur directory.Group) (directory.Group, directory.MemberChange, error) {
		doc := directory.CloneDoc(cur.Attributes)
		doc["displayName"] = cur.DisplayName
		if cur.ExternalID != "" {
			doc["externalId"] = cur.ExternalID
		}
		if err := pl.apply(doc); err != nil {
			return cur, directory.MemberChange{}, err
		}
		next, _, err := groupDoc(doc)
		if err != nil {
			return cur, directory.MemberChange{}, err
		}
		cur.DisplayName, cur.ExternalID, cur.Attributes = next.DisplayName, next.ExternalID, next.Attributes
		return cur, mo.change(), nil
	})
	if err != nil {
		return elimity.Resource{}, toSCIM(h.log, r, err)
	}
	if !req.patchBody {
		return elimity.Resource{}, nil
	}
	if req.proj.wants("members") {
		if g, err = h.store.Group(r.Context(), req.org.ID, id, true); err != nil {
			return elimity.Resource{}, toSCIM(h.log, r, err)
		}
	}
	return patched(h.resource(r, g)), nil
}
