package scim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
)

// Provisioning health: every request an organization's token makes (or a
// revoked or expired token of it attempts) is noted with its operation,
// status and scimType; failures also with their detail and body, secrets
// removed. The recorder (Config.Health) keeps counters in memory and
// writes them in batches, so a note costs no I/O.

// maxNotedBody and maxNotedPath bound what a failure keeps of the request.
const (
	maxNotedBody = 4 << 10
	maxNotedPath = 512
	// maxCapturedError bounds how much of an error answer is read for
	// its scimType and detail.
	maxCapturedError = 8 << 10
)

// operationOf names a request's operation from a fixed set: the method
// (known ones, else "other") and the endpoint's pattern.
func operationOf(method string, segs []string) string {
	m := httpserver.MethodLabel(method)
	ep := segs[0]
	switch {
	case len(segs) == 1:
		return m + " /" + ep
	case len(segs) == 2 && segs[1] == ".search":
		return m + " /" + ep + "/.search"
	}
	return m + " /" + ep + "/{id}"
}

// clientOf recognises the IdP by its User-Agent.
func clientOf(ua string) string {
	l := strings.ToLower(ua)
	switch {
	case strings.Contains(l, "okta"):
		return directory.ClientOkta
	case strings.Contains(l, "azure"), strings.Contains(l, "microsoft"), strings.Contains(l, "aad"):
		return directory.ClientEntra
	}
	return directory.ClientOther
}

// captureWriter notes the status of the answer, and the start of an error
// answer's body.
type captureWriter struct {
	http.ResponseWriter
	status  int
	errBody []byte
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.status >= 400 && len(c.errBody) < maxCapturedError {
		c.errBody = append(c.errBody, p[:min(len(p), maxCapturedError-len(c.errBody))]...)
	}
	return c.ResponseWriter.Write(p)
}

func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// note records one answered request.
func (h *Handler) note(r *http.Request, cw *captureWriter, org directory.Organization, tok directory.SCIMToken, op string, req *request, body []byte) {
	status := cw.status
	if status == 0 {
		status = http.StatusOK
	}
	n := directory.SCIMRequest{OrgID: org.ID, OrgSlug: org.Slug, TokenID: tok.ID, At: h.now(), Operation: op,
		Status: status, Client: clientOf(r.UserAgent())}
	if req != nil {
		n.Paused = req.paused
	}
	if status >= 400 {
		var e struct {
			ScimType string `json:"scimType"`
			Detail   string `json:"detail"`
		}
		_ = json.Unmarshal(cw.errBody, &e)
		if directory.ScimTypes[e.ScimType] {
			n.ScimType = e.ScimType
		}
		n.Detail = truncateUTF8(e.Detail, 1024)
	}
	if n.Failed() {
		n.Method = httpserver.MethodLabel(r.Method)
		n.Path = truncateUTF8(redactURI(r.URL), maxNotedPath)
		n.Body = redactBody(body, maxNotedBody)
	}
	h.cfg.Health.Record(n)
}

// redacted replaces a secret's value in what health keeps.
const redacted = "[redacted]"

// sensitiveName tells whether an attribute, parameter or path names a
// secret: a password, or anything called a secret, token or credential.
func sensitiveName(name string) bool {
	l := strings.ToLower(name)
	for _, s := range []string{"password", "secret", "token", "credential", "authorization"} {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// sensitiveValue tells whether a string is a credential whatever its
// name: a bearer token, or one of scimbridge's own secrets.
func sensitiveValue(s string) bool {
	l := strings.ToLower(strings.TrimSpace(s))
	return strings.HasPrefix(l, "bearer ") || strings.HasPrefix(l, "basic ") || strings.Contains(l, "scb_")
}

// redactBody is a request body as health keeps it: JSON with every
// secret replaced, at most max bytes; a body that is not JSON is
// described, not kept, since nothing in it can be told apart.
func redactBody(body []byte, max int) string {
	if len(body) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "[not JSON: " + strconv.Itoa(len(body)) + " bytes]"
	}
	b, err := json.Marshal(redactValue(v))
	if err != nil {
		return "[" + strconv.Itoa(len(body)) + " bytes]"
	}
	if len(b) > max {
		return truncateUTF8(string(b), max) + " [truncated: " + strconv.Itoa(len(b)) + " bytes]"
	}
	return string(b)
}

func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		// A PATCH operation on a secret: {"op": "replace", "path":
		// "password", "value": "…"}.
		pathSecret := false
		for k, pv := range x {
			if strings.EqualFold(k, "path") {
				if p, ok := pv.(string); ok && sensitiveName(p) {
					pathSecret = true
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			switch {
			case sensitiveName(k), pathSecret && strings.EqualFold(k, "value"):
				out[k] = redacted
			default:
				out[k] = redactValue(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactValue(e)
		}
		return out
	case string:
		if sensitiveValue(x) {
			return redacted
		}
	}
	return v
}

// redactURI is the request's path and query, with the values of
// parameters that name secrets replaced.
func redactURI(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Path
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return u.Path + "?[unreadable query]"
	}
	for k, vs := range q {
		for i, v := range vs {
			if sensitiveName(k) || sensitiveValue(v) {
				vs[i] = redacted
			}
		}
	}
	return u.Path + "?" + q.Encode()
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
