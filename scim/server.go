// Package scim serves SCIM 2.0 (RFC 7643/7644) at /scim/v2/{org} for the
// identity providers that provision an organization: Okta and Microsoft
// Entra ID, unmodified.
//
// It is built on github.com/elimity-com/scim, wrapped rather than forked.
// A middleware in front of the library authenticates the organization's
// bearer token, bounds the body, rewrites what the IdPs really send into
// RFC form (package scim/normalize), parses filters itself (the library
// rejects Entra's unquoted values and filters that mix core and extension
// attributes), and after the library answers fixes what it gets wrong
// (If-None-Match, itemsPerPage). The handlers translate to the domain and
// the store; ServiceProviderConfig is served here because the library
// hard-codes sort and etag as unsupported.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	elimity "github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/ratelimit"
	"github.com/scimbridge/scimbridge/scim/normalize"
)

// Config configures the SCIM endpoint.
type Config struct {
	Store Store
	// Usage records token use; nil records nothing.
	Usage interface{ Touch(orgID, tokenID string) }
	// Health records each request for provisioning health; nil records
	// nothing.
	Health interface{ Record(directory.SCIMRequest) }
	// PublicURL is the externally visible base URL ("https://host"); empty
	// derives it from each request.
	PublicURL string
	// MaxBody bounds request bodies (default 1 MiB).
	MaxBody int64
	// RatePerOrg bounds each organization's requests per second (bursts
	// of twice that), shared by the live replicas (SetReplicas); 0 means
	// no bound.
	RatePerOrg float64
	// Now is the clock of the rate limit and of provisioning health;
	// default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler serves /scim/v2/{org}/….
type Handler struct {
	cfg   Config
	auth  *authCache
	limit *ratelimit.PerOrg
	log   *slog.Logger
	spc   elimity.ServiceProviderConfig
	user  users
	grp   groups
	now   func() time.Time
}

// SetReplicas tells the handler how many replicas serve SCIM, itself
// included, so that each admits its share of RatePerOrg.
func (h *Handler) SetReplicas(n int) { h.limit.SetReplicas(n) }

// Prefix is where the endpoint is mounted; the organization's slug follows.
const Prefix = "/scim/v2/"

// New returns the SCIM handler; mount it on Prefix+"{org}/".
func New(cfg Config) *Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Handler{
		cfg:   cfg,
		auth:  newAuthCache(),
		limit: ratelimit.New(cfg.RatePerOrg, cfg.Now),
		log:   cfg.Logger,
		spc:   serviceProviderConfig(),
		user:  users{store: cfg.Store, log: cfg.Logger},
		grp:   groups{store: cfg.Store, log: cfg.Logger},
		now:   now,
	}
}

// Mount registers the handler on a mux with Go 1.22 patterns.
func (h *Handler) Mount(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle(Prefix+"{org}/", h)
	mux.Handle(Prefix+"{org}", h)
}

const contentType = "application/scim+json"

// writeError writes an RFC 7644 §3.12 error body.
func writeError(w http.ResponseWriter, status int, scimType, detail string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_, _ = w.Write(append(errorBody(status, scimType, detail), '\n'))
}

// errorBody is an RFC 7644 §3.12 error, as a response or as a Bulk
// operation's response.
func errorBody(status int, scimType, detail string) []byte {
	body := map[string]any{
		"schemas": []string{errorURN},
		"status":  strconv.Itoa(status),
		"detail":  detail,
	}
	if scimType != "" {
		body["scimType"] = scimType
	}
	b, _ := json.Marshal(body)
	return b
}

// retryAfter is what a 503 asks the IdP to wait, in seconds: long enough
// for a database failover or restart, short against Entra's 60 s.
const retryAfter = "5"

// unavailable answers 503 with Retry-After: the store is unreachable or
// did not answer within the request's deadline. IdPs retry such answers
// (Okta and Entra both back off on 503), where a 500 counts as a failure.
func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", retryAfter)
	writeError(w, http.StatusServiceUnavailable, "", "the directory is unavailable right now; retry later")
}

// canonicalEndpoints maps the first path segment, matched case-insensitively,
// to the spelling the library routes: Microsoft's tests send /users and
// /serviceConfiguration.
var canonicalEndpoints = map[string]string{
	"users": "Users", "groups": "Groups", "schemas": "Schemas", "resourcetypes": "ResourceTypes",
	"serviceproviderconfig": "ServiceProviderConfig", "serviceproviderconfigs": "ServiceProviderConfig",
	"serviceconfiguration": "ServiceProviderConfig", "me": "Me", "bulk": "Bulk",
	// The server root: queries across resource types (RFC 7644 §3.4.2.1,
	// §3.4.3).
	"": "", ".search": ".search",
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("org")
	rest := strings.TrimPrefix(r.URL.Path, Prefix+slug)
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	c, ok := canonicalEndpoints[strings.ToLower(segs[0])]
	if !ok {
		// Anything else would reach the library without the normalising
		// and filtering below (it strips a leading /v2, say, and routes
		// /v2/Users to the users handler), and would name a metric
		// route after whatever path a client sent.
		httpserver.SetRoute(r, httpserver.MethodLabel(r.Method)+" /scim/v2/{org}/(unknown)")
		writeError(w, http.StatusNotFound, "", "no such endpoint: want Users, Groups, Schemas, ResourceTypes, ServiceProviderConfig, Bulk or .search")
		return
	}
	segs[0] = c
	endpoint := segs[0]
	route := httpserver.MethodLabel(r.Method) + " /scim/v2/{org}/" + endpoint
	if len(segs) > 1 {
		route += "/{id}"
	}
	httpserver.SetRoute(r, route)

	var (
		cw   *captureWriter
		req  *request
		body []byte
	)
	if h.cfg.Health != nil {
		cw = &captureWriter{ResponseWriter: w}
		w = cw
	}
	org, tok, actor, ok := h.authenticate(w, r, slug)
	if cw != nil && tok.ID != "" {
		op := operationOf(r.Method, segs)
		defer func() { h.note(r, cw, org, tok, op, req, body) }()
	}
	if !ok {
		return
	}
	if !h.limit.Allow(org.ID) {
		// The library cannot answer 429 (it turns it into a 500).
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusTooManyRequests, "", "too many requests for this organization; retry after a second")
		return
	}
	req = &request{org: org, actor: actor, base: h.baseURL(r) + Prefix + org.Slug, pageLen: -1}

	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodDelete {
		b, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBody+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalidSyntax", "the request body could not be read")
			return
		}
		if int64(len(b)) > h.cfg.MaxBody {
			writeError(w, http.StatusRequestEntityTooLarge, "", "the request body is larger than "+strconv.FormatInt(h.cfg.MaxBody, 10)+" bytes")
			return
		}
		body = b
	}
	h.dispatch(w, r, req, segs, body)
}

// dispatch serves one authenticated request, admitted by the rate limit,
// whose body has been read: a request of its own, or one operation of a
// bulk request, which goes through exactly the same steps. segs are the
// path's segments after the organization, the first canonical.
func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request, req *request, segs []string, body []byte) {
	endpoint := segs[0]
	if endpoint == "" || endpoint == ".search" {
		h.serveRoot(w, r, req, segs, body)
		return
	}
	if endpoint == "ServiceProviderConfig" && len(segs) == 1 {
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "", "only GET is supported here")
			return
		}
		h.serveSPC(w, req)
		return
	}
	var cat *catalogue
	var kind normalize.Resource
	switch endpoint {
	case "Users":
		cat, kind = userCatalogue, normalize.User
	case "Groups":
		cat, kind = groupCatalogue, normalize.Group
	case "Bulk":
		h.serveBulk(w, r, req, segs, body)
		return
	}
	q := r.URL.Query()
	if cat != nil {
		// POST /.search is a GET with its parameters in the body (RFC 7644
		// §3.4.3); turned into one here, it gets the same filter handling.
		if len(segs) == 2 && segs[1] == ".search" && r.Method == http.MethodPost {
			var err error
			if q, err = searchQuery(body); err != nil {
				writeError(w, http.StatusBadRequest, "invalidSyntax", err.Error())
				return
			}
			segs, r.Method, body = segs[:1], http.MethodGet, nil
		}
		if r.Method == http.MethodGet {
			if raw := q.Get("filter"); strings.TrimSpace(raw) != "" {
				norm, err := normalize.Filter(kind, raw)
				if err == nil {
					req.filter, err = parseFilter(cat, norm)
				}
				if err != nil {
					writeError(w, http.StatusBadRequest, "invalidFilter", errDetail(err))
					return
				}
			}
			q.Del("filter")
			sb, err := parseSortBy(cat, q.Get("sortBy"))
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalidValue", errDetail(err))
				return
			}
			req.sortBy = sb
			if req.desc, err = parseSortOrder(q); err != nil {
				writeError(w, http.StatusBadRequest, "invalidValue", err.Error())
				return
			}
		}
		req.proj = parseProjection(cat, q.Get("attributes"), q.Get("excludedAttributes"))
		req.patchBody = r.Method == http.MethodPatch &&
			(strings.TrimSpace(q.Get("attributes")) != "" || strings.TrimSpace(q.Get("excludedAttributes")) != "")
		if m := r.Header.Get("If-Match"); m != "" && m != "*" {
			v, ok := parseETag(m)
			if !ok {
				writeError(w, http.StatusPreconditionFailed, "", "If-Match does not name a version of this resource")
				return
			}
			req.version = v
		}
		var err error
		switch {
		case r.Method == http.MethodPatch:
			if body, err = normalize.Patch(kind, body); err == nil {
				err = checkPatch(kind, body)
			}
		case r.Method == http.MethodPost || r.Method == http.MethodPut:
			body, err = normalize.Body(kind, body)
		}
		if err != nil {
			var ne *normalize.Error
			var pe *patchError
			switch {
			case errors.As(err, &ne):
				writeError(w, http.StatusBadRequest, ne.ScimType, ne.Detail)
			case errors.As(err, &pe):
				writeError(w, http.StatusBadRequest, pe.scimType, pe.detail)
			default:
				writeError(w, http.StatusBadRequest, "invalidSyntax", "the request body is not valid")
			}
			return
		}
	}

	inner := r.Clone(context.WithValue(r.Context(), ctxKey{}, req))
	inner.URL.Path = "/" + strings.Join(segs, "/")
	inner.URL.RawPath = ""
	inner.URL.RawQuery = q.Encode()
	inner.Body = io.NopCloser(bytes.NewReader(body))
	inner.ContentLength = int64(len(body))

	srv, err := elimity.NewServer(&elimity.ServerArgs{
		ServiceProviderConfig: &h.spc,
		ResourceTypes:         h.resourceTypes(),
	}, elimity.WithBaseURL(req.base), elimity.WithLogger(libLogger{h.log}))
	if err != nil {
		h.log.Error("build SCIM server", "err", err)
		writeError(w, http.StatusInternalServerError, "", "internal error")
		return
	}
	rec := &buffered{header: http.Header{}}
	srv.ServeHTTP(rec, inner)
	h.finish(w, r, inner, rec)
}

// errDetail is the client-facing message of a domain or normaliser error.
func errDetail(err error) string {
	var ne *normalize.Error
	if errors.As(err, &ne) {
		return ne.Detail
	}
	return err.Error()
}

// authenticate checks the bearer token against the organization in the
// URL. On failure the organization and token are still those of a
// revoked or expired token of the organization (for provisioning
// health), and empty for anything else.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, slug string) (directory.Organization, directory.SCIMToken, directory.Actor, bool) {
	scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scimbridge"`)
		writeError(w, http.StatusUnauthorized, "", "a bearer token of this organization is required")
		return directory.Organization{}, directory.SCIMToken{}, directory.Actor{}, false
	}
	org, tok, err := h.auth.authenticate(r.Context(), h.cfg.Store, slug, secret)
	if err != nil {
		if !errors.Is(err, directory.ErrUnauthorized) {
			h.log.ErrorContext(r.Context(), "authenticate SCIM token", "err", err)
			unavailable(w)
			return directory.Organization{}, directory.SCIMToken{}, directory.Actor{}, false
		}
		if org.ID == "" || tok.OrgID != org.ID {
			org, tok = directory.Organization{}, directory.SCIMToken{}
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="scimbridge", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "", "the bearer token is not valid for this organization (unknown, revoked or expired)")
		return org, tok, directory.Actor{}, false
	}
	if h.cfg.Usage != nil {
		h.cfg.Usage.Touch(tok.OrgID, tok.ID)
	}
	return org, tok, directory.Actor{Kind: "scim-token", Name: tok.Name}, true
}

// baseURL is the configured public URL or the one the request came to.
func (h *Handler) baseURL(r *http.Request) string {
	if h.cfg.PublicURL != "" {
		return strings.TrimRight(h.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (h *Handler) resourceTypes() []elimity.ResourceType {
	return []elimity.ResourceType{
		{
			ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Description: optional.NewString("User Account"),
			Schema: userSchema, SchemaExtensions: []elimity.SchemaExtension{{Schema: enterpriseSchema}},
			Handler: h.user,
		},
		{
			ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Description: optional.NewString("Group"),
			Schema: groupSchema, Handler: h.grp,
		},
	}
}

// serveSPC answers ServiceProviderConfig truthfully (the library would
// say sort and etag are unsupported).
func (h *Handler) serveSPC(w http.ResponseWriter, req *request) {
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/scimbridge/scimbridge",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": true, "maxOperations": maxBulkOperations, "maxPayloadSize": h.cfg.MaxBody},
		"filter":           map[string]any{"supported": true, "maxResults": pageSize},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
			"description": "A per-organization bearer token created with `scimbridge token create`.",
			"specUri":     "https://www.rfc-editor.org/info/rfc6750",
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": req.base + "/ServiceProviderConfig"},
	})
}

// parseSortOrder reads sortOrder: ascending (the default) or descending.
func parseSortOrder(q url.Values) (desc bool, err error) {
	switch strings.ToLower(q.Get("sortOrder")) {
	case "", "ascending":
		return false, nil
	case "descending":
		return true, nil
	}
	return false, errors.New(`sortOrder must be "ascending" or "descending"`)
}

// searchQuery turns a SearchRequest body into query parameters.
func searchQuery(body []byte) (url.Values, error) {
	var s struct {
		Attributes         []string `json:"attributes"`
		ExcludedAttributes []string `json:"excludedAttributes"`
		Filter             string   `json:"filter"`
		SortBy             string   `json:"sortBy"`
		SortOrder          string   `json:"sortOrder"`
		StartIndex         *int     `json:"startIndex"`
		Count              *int     `json:"count"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, errors.New("the search request is not valid JSON")
	}
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("filter", s.Filter)
	set("sortBy", s.SortBy)
	set("sortOrder", s.SortOrder)
	set("attributes", strings.Join(s.Attributes, ","))
	set("excludedAttributes", strings.Join(s.ExcludedAttributes, ","))
	if s.StartIndex != nil {
		q.Set("startIndex", strconv.Itoa(*s.StartIndex))
	}
	if s.Count != nil {
		q.Set("count", strconv.Itoa(*s.Count))
	}
	return q, nil
}

// buffered holds the library's response so that finish can amend it.
type buffered struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header { return b.header }
func (b *buffered) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *buffered) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// finish writes the library's response, amended: 304 for a matching
// If-None-Match, itemsPerPage that counts the page's resources, and ETags
// on the header as the version in meta.
func (h *Handler) finish(w http.ResponseWriter, orig, inner *http.Request, rec *buffered) {
	req, _ := inner.Context().Value(ctxKey{}).(*request)
	if req != nil && req.unavailable {
		unavailable(w)
		return
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	if tag := rec.header.Get("Etag"); tag != "" {
		w.Header().Del("Etag")
		w.Header().Set("ETag", tag)
		if inm := orig.Header.Get("If-None-Match"); status == http.StatusOK && inner.Method == http.MethodGet && inm != "" {
			if inm == "*" || etagListHas(inm, tag) {
				w.Header().Del("Content-Type")
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
	}
	body := rec.body.Bytes()
	if req != nil && req.pageLen >= 0 && status == http.StatusOK {
		body = fixItemsPerPage(body, req.pageLen)
	}
	if status >= 500 && orig.Context().Err() == nil {
		h.log.ErrorContext(orig.Context(), "SCIM library answered with a server error", "status", status, "body", truncate(body, 300))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// fixItemsPerPage sets a list response's itemsPerPage to the number of
// resources on the page: the library writes the requested count. Its keys
// come sorted, "Resources" first, so the last "itemsPerPage" is the
// list's own.
func fixItemsPerPage(body []byte, n int) []byte {
	key := []byte(`"itemsPerPage":`)
	i := bytes.LastIndex(body, key)
	if i < 0 {
		return body
	}
	start := i + len(key)
	end := start
	for end < len(body) && body[end] >= '0' && body[end] <= '9' {
		end++
	}
	if end == start {
		return body
	}
	out := make([]byte, 0, len(body))
	out = append(out, body[:start]...)
	out = strconv.AppendInt(out, int64(n), 10)
	return append(out, body[end:]...)
}

func etagListHas(list, tag string) bool {
	want := strings.TrimPrefix(tag, "W/")
	for _, t := range strings.Split(list, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == want {
			return true
		}
	}
	return false
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// libLogger adapts slog to the library's logger.
type libLogger struct{ log *slog.Logger }

func (l libLogger) Error(args ...interface{}) { l.log.Error("scim library", "detail", args) }
