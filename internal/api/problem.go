package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
)

// ProblemBase prefixes every problem type URI. The URIs are part of the
// API: clients branch on them, so they never change.
const ProblemBase = "https://scimbridge.dev/problems/"

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// kind is one stable problem type.
type kind struct {
	status int
	slug   string
	title  string
	detail string // when the error carries no message fit for a client
}

var (
	kindNotFound     = kind{http.StatusNotFound, "not-found", "Not found", "the resource was not found"}
	kindConflict     = kind{http.StatusConflict, "conflict", "Conflict", "the request conflicts with the current state"}
	kindInvalid      = kind{http.StatusBadRequest, "invalid", "Invalid request", "the request is not valid"}
	kindUnauthorized = kind{http.StatusUnauthorized, "unauthorized", "Authentication required", "authentication is required"}
	kindForbidden    = kind{http.StatusForbidden, "forbidden", "Forbidden", "the caller may not do this"}
	kindPrecondition = kind{http.StatusPreconditionFailed, "precondition-failed", "Precondition failed", "the resource has changed"}
	kindTooLarge     = kind{http.StatusRequestEntityTooLarge, "too-large", "Request body too large", "the request body is too large"}
	kindMethod       = kind{http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", "this method is not served on this path"}
	kindGone         = kind{http.StatusGone, "gone", "Gone", "what was asked for is no longer kept"}
	kindTooMany      = kind{http.StatusTooManyRequests, "too-many-requests", "Too many requests", "too many requests for this organization; retry after a second"}
	kindUnavailable  = kind{http.StatusServiceUnavailable, "unavailable", "Service unavailable", "the directory is unavailable right now; retry later"}
	kindInternal     = kind{http.StatusInternalServerError, "internal", "Internal error", "an internal error occurred"}
)

// apiError is an error of this adapter that is not a domain error.
type apiError struct {
	kind kind
	msg  string
}

func (e *apiError) Error() string { return e.msg }

var errMethod = &apiError{kind: kindMethod, msg: kindMethod.detail}

// problemOf maps an error to its problem: the one place where domain
// errors meet HTTP statuses. ok is false for an internal error, whose
// message must not reach the client.
func problemOf(err error) (p Problem, ok bool) {
	var k kind
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		k = ae.kind
	case errors.Is(err, directory.ErrNotFound):
		k = kindNotFound
	case errors.Is(err, directory.ErrConflict):
		k = kindConflict
	case errors.Is(err, directory.ErrInvalid):
		k = kindInvalid
	case errors.Is(err, directory.ErrUnauthorized):
		k = kindUnauthorized
	case errors.Is(err, directory.ErrForbidden):
		k = kindForbidden
	case errors.Is(err, directory.ErrPrecondition):
		k = kindPrecondition
	case errors.Is(err, directory.ErrRateLimited):
		k = kindTooMany
	case errors.Is(err, directory.ErrGone):
		k = kindGone
	case directory.Unavailable(err):
		// The store is down or the request's deadline passed: the
		// driver's message is for the log, not the client.
		return Problem{Type: ProblemBase + kindUnavailable.slug, Title: kindUnavailable.title, Status: kindUnavailable.status, Detail: kindUnavailable.detail}, true
	default:
		return Problem{Type: ProblemBase + kindInternal.slug, Title: kindInternal.title, Status: kindInternal.status, Detail: kindInternal.detail}, false
	}
	p = Problem{Type: ProblemBase + k.slug, Title: k.title, Status: k.status, Detail: k.detail}
	var de *directory.Error
	switch {
	case ae != nil:
		p.Detail = ae.msg
	case errors.As(err, &de):
		p.Detail = de.Msg
	}
	return p, true
}

// fail answers err as a problem document; internal errors are logged and
// answered without their message.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	p, ok := problemOf(err)
	if !ok {
		id := httpserver.RequestID(r.Context())
		if r.Context().Err() == nil {
			h.log.ErrorContext(r.Context(), "admin API", "request_id", id, "method", r.Method, "path", r.URL.Path, "err", err)
		}
		if id != "" {
			p.Detail += " (request id " + id + ")"
		}
	}
	if p.Status == http.StatusUnauthorized {
		v := `Bearer realm="scimbridge"`
		if errors.Is(err, errInvalidToken) || errors.Is(err, errInvalidOperatorToken) {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	if p.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	if p.Status == http.StatusServiceUnavailable {
		h.log.WarnContext(r.Context(), "admin API: store unavailable", "request_id", httpserver.RequestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON answers v as JSON.
func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// decode reads one JSON object into v, bounded by MaxBody, refusing
// unknown fields and trailing data.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, h.maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// One object and nothing after it.
		var extra json.RawMessage
		if e := dec.Decode(&extra); e != io.EOF {
			if e == nil {
				return directory.Invalidf("the body must hold one JSON object; more follows at offset %d", dec.InputOffset())
			}
			err = e
		}
	}
	if err == nil {
		return nil
	}
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &apiError{kind: kindTooLarge, msg: fmt.Sprintf("the request body is larger than %d bytes", tooLarge.Limit)}
	case errors.Is(err, io.EOF):
		return directory.Invalidf("a JSON body is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return directory.Invalidf("the JSON body ends early, at offset %d", dec.InputOffset())
	case errors.As(err, &syntax):
		return directory.Invalidf("the body is not valid JSON: %s, at offset %d", syntax.Error(), syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the body"
		}
		return directory.Invalidf("%s must be a JSON %s, not %s (at offset %d)", field, jsonType(typ.Type.Kind().String()), typ.Value, typ.Offset)
	default:
		// Unknown fields and the like: the decoder's message names the field.
		return directory.Invalidf("the body is not valid: %s, at offset %d", err.Error(), dec.InputOffset())
	}
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	default:
		return "number"
	}
}

// paging is a list's window.
type paging struct{ offset, limit int }

const (
	defaultLimit = 100
	maxLimit     = 500
)

// pageOf reads ?offset= and ?limit=: offset ≥ 0, 1 ≤ limit ≤ 500
// (default 100).
func pageOf(r *http.Request) (paging, error) {
	p := paging{limit: defaultLimit}
	q := r.URL.Query()
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, directory.Invalidf("offset %q: want an integer of 0 or more", s)
		}
		p.offset = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, directory.Invalidf("limit %q: want an integer from 1 to %d", s, maxLimit)
		}
		p.limit = n
	}
	return p, nil
}

// list is the envelope of every list.
type list[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// window cuts a page out of a list the store returns whole.
func window[T any](all []T, p paging) list[T] {
	start := min(p.offset, len(all))
	end := min(start+p.limit, len(all))
	items := all[start:end]
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, Total: len(all), Offset: p.offset, Limit: p.limit}
}
