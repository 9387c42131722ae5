package scim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	bulkRequestURN  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	bulkResponseURN = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	errorURN        = "urn:ietf:params:scim:api:messages:2.0:Error"
	// maxBulkOperations bounds the operations of one bulk request
	// (ServiceProviderConfig bulk.maxOperations); the body limit is its
	// maxPayloadSize.
	maxBulkOperations = 1000
	bulkIDPrefix      = "bulkId:"
)

// bulkOp is one operation of a bulk request (RFC 7644 §3.7).
type bulkOp struct {
	Method  string          `json:"method"`
	BulkID  string          `json:"bulkId"`
	Version string          `json:"version"`
	Path    string          `json:"path"`
	Data    json.RawMessage `json:"data"`
}

// bulkResult is one operation's entry in the bulk response.
type bulkResult struct {
	Method   string          `json:"method"`
	BulkID   string          `json:"bulkId,omitempty"`
	Version  string          `json:"version,omitempty"`
	Location string          `json:"location,omitempty"`
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response,omitempty"`
}

// bulkJob runs the operations of one bulk request.
type bulkJob struct {
	h    *Handler
	r    *http.Request
	req  *request
	ops  []bulkOp
	refs [][]int           // for each operation, the operations whose bulkId it references
	bad  []string          // for each operation, why its references cannot be resolved ("" if they can)
	ids  map[string]string // bulkId → id of the resource its POST created
	def  map[string]int    // bulkId → the operation that defines it

	state   []int8 // 0 not run, 1 running, 2 done
	results []*bulkResult
	circ    []bool // failed as part of a circular reference
	errs    int
	fail    int // failOnErrors; 0 means never stop
	stopped bool
}

// serveBulk runs a bulk request (RFC 7644 §3.7). Each operation is
// dispatched as the request it describes, as if sent on its own: the same
// normalisation, validation, limits, rate limit, transaction and audit
// event. Operations referencing a bulkId run after the POST that defines
// it, whatever their place in the request; the others run in request
// order. A failed operation leaves the others alone, unless failOnErrors
// errors have been counted: then the rest are not run. The response lists
// the operations run, in request order.
func (h *Handler) serveBulk(w http.ResponseWriter, r *http.Request, req *request, segs []string, body []byte) {
	if len(segs) != 1 {
		writeError(w, http.StatusNotFound, "", "no such endpoint")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "", "/Bulk takes POST")
		return
	}
	var msg struct {
		Schemas      []string `json:"schemas"`
		FailOnErrors *int     `json:"failOnErrors"`
		Operations   []bulkOp `json:"Operations"` // matched in any case
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		writeError(w, http.StatusBadRequest, "invalidSyntax", "the bulk request is not valid JSON, or a member has the wrong type: "+err.Error())
		return
	}
	hasURN := false
	for _, s := range msg.Schemas {
		hasURN = hasURN || strings.EqualFold(s, bulkRequestURN)
	}
	if !hasURN {
		writeError(w, http.StatusBadRequest, "invalidValue", `"schemas" must contain `+bulkRequestURN)
		return
	}
	if len(msg.Operations) == 0 {
		writeError(w, http.StatusBadRequest, "invalidValue", "the bulk request has no Operations")
		return
	}
	if len(msg.Operations) > maxBulkOperations {
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("the bulk request has %d operations, more than maxOperations (%d)", len(msg.Operations), maxBulkOperations))
		return
	}
	j := &bulkJob{h: h, r: r, req: req, ops: msg.Operations, ids: map[string]string{}, def: map[string]int{}}
	if msg.FailOnErrors != nil {
		if *msg.FailOnErrors < 1 {
			writeError(w, http.StatusBadRequest, "invalidValue", "failOnErrors must be 1 or more")
			return
		}
		j.fail = *msg.FailOnErrors
	}
	for i, op := range j.ops {
		if op.BulkID == "" {
			continue
		}
		if !strings.EqualFold(op.Method, http.MethodPost) {
			continue // only a POST defines a bulkId
		}
		if prev, dup := j.def[op.BulkID]; dup {
			writeError(w, http.StatusBadRequest, "invalidValue", fmt.Sprintf("bulkId %q is defined by operations %d and %d: a bulkId names one POST", op.BulkID, prev+1, i+1))
			return
		}
		j.def[op.BulkID] = i
	}
	j.refs = make([][]int, len(j.ops))
	j.bad = make([]string, len(j.ops))
	for i, op := range j.ops {
		for _, id := range bulkRefs(op) {
			d, ok := j.def[id]
			if !ok {
				j.bad[i] = fmt.Sprintf("bulkId %q is defined by no POST of this bulk request", id)
				break
			}
			j.refs[i] = append(j.refs[i], d)
		}
	}
	j.state = make([]int8, len(j.ops))
	j.results = make([]*bulkResult, len(j.ops))
	j.circ = make([]bool, len(j.ops))
	for i := range j.ops {
		j.run(i)
	}
	out := make([]*bulkResult, 0, len(j.ops))
	for _, res := range j.results {
		if res != nil {
			out = append(out, res)
		}
	}
	w.Header().Set("Content-Type", contentType)
	_ = json.NewEncoder(w).Encode(map[string]any{"schemas": []string{bulkResponseURN}, "Operations": out})
}

// run runs operation i after the operations it references, unless the
// job has stopped. The recursion is at most maxBulkOperations deep.
func (j *bulkJob) run(i int) {
	if j.state[i] != 0 || j.stopped {
		return
	}
	j.state[i] = 1
	op := j.ops[i]
	res := &bulkResult{Method: strings.ToUpper(op.Method), BulkID: op.BulkID}
	var fault *bulkFault
	if j.bad[i] != "" {
		fault = &bulkFault{http.StatusBadRequest, "invalidValue", j.bad[i]}
	}
	for _, d := range j.refs[i] {
		if fault != nil {
			break
		}
		switch {
		case j.state[d] == 1 || j.circ[d]:
			j.circ[i] = true
			fault = &bulkFault{http.StatusConflict, "", fmt.Sprintf("operation %d: circular bulkId reference: bulkId %q cannot be resolved before this operation runs", i+1, j.ops[d].BulkID)}
		default:
			j.run(d)
			if j.stopped {
				j.state[i] = 0
				return
			}
			if j.circ[d] {
				j.circ[i] = true
				fault = &bulkFault{http.StatusConflict, "", fmt.Sprintf("operation %d: circular bulkId reference through bulkId %q", i+1, j.ops[d].BulkID)}
			} else if _, ok := j.ids[j.ops[d].BulkID]; !ok {
				fault = &bulkFault{http.StatusBadRequest, "invalidValue", fmt.Sprintf("bulkId %q names a POST that failed", j.ops[d].BulkID)}
			}
		}
	}
	if fault != nil {
		j.record(i, res, fault.status, fault.body())
		return
	}
	j.exec(i, res)
}

// bulkFault is an operation refused before it is dispatched.
type bulkFault struct {
	status   int
	scimType string
	detail   string
}

func (f *bulkFault) body() []byte { return errorBody(f.status, f.scimType, f.detail) }

// record sets operation i's result and counts an error against
// failOnErrors.
func (j *bulkJob) record(i int, res *bulkResult, status int, body []byte) {
	res.Status = strconv.Itoa(status)
	if status >= 400 {
		if !json.Valid(body) {
			body = (&bulkFault{status, "", http.StatusText(status)}).body()
		}
		// The response of a failed operation is its SCIM error (RFC 7644
		// §3.7.3); that of a successful one adds nothing to location and
		// version.
		res.Response = json.RawMessage(body)
		j.errs++
		if j.fail > 0 && j.errs >= j.fail {
			j.stopped = true
		}
	}
	j.state[i] = 2
	j.results[i] = res
}

// exec dispatches operation i as a request of its own.
func (j *bulkJob) exec(i int, res *bulkResult) {
	op := j.ops[i]
	if err := j.r.Context().Err(); err != nil {
		// Past the request's deadline nothing more can be written: the
		// operations left are not run, as after failOnErrors errors.
		j.stopped = true
		return
	}
	method := strings.ToUpper(op.Method)
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		j.record(i, res, http.StatusBadRequest, (&bulkFault{http.StatusBadRequest, "invalidValue", fmt.Sprintf("operation %d: method %q is not POST, PUT, PATCH or DELETE", i+1, op.Method)}).body())
		return
	}
	path := j.resolvePath(op.Path)
	u, err := url.Parse(path)
	segs := []string{""}
	if err == nil {
		segs = strings.Split(strings.Trim(u.Path, "/"), "/")
		segs[0] = canonicalEndpoints[strings.ToLower(segs[0])]
	}
	switch {
	case err != nil || op.Path == "" || len(segs) > 2 || (segs[0] != "Users" && segs[0] != "Groups"):
		j.record(i, res, http.StatusBadRequest, (&bulkFault{http.StatusBadRequest, "invalidPath", fmt.Sprintf("operation %d: path %q is not /Users, /Groups or one of their resources", i+1, op.Path)}).body())
		return
	case method == http.MethodPost && len(segs) != 1, method != http.MethodPost && len(segs) != 2:
		j.record(i, res, http.StatusBadRequest, (&bulkFault{http.StatusBadRequest, "invalidPath", fmt.Sprintf("operation %d: %s takes %s", i+1, method, map[bool]string{true: "a resource type's endpoint, such as /Users", false: "a resource's path, such as /Users/{id}"}[method == http.MethodPost])}).body())
		return
	}
	if method != http.MethodPost {
		res.Location = j.req.base + "/" + segs[0] + "/" + segs[1]
	}
	if !j.h.limit.Allow(j.req.org.ID) {
		j.record(i, res, http.StatusTooManyRequests, (&bulkFault{http.StatusTooManyRequests, "", "too many requests for this organization; retry the operation later"}).body())
		return
	}

	var data []byte
	if method != http.MethodDelete {
		data = j.resolveData(op.Data)
	}
	sub := j.r.Clone(j.r.Context())
	sub.Method = method
	sub.URL = &url.URL{Path: Prefix + j.req.org.Slug + "/" + strings.Join(segs, "/"), RawQuery: u.RawQuery}
	sub.Header = http.Header{"Content-Type": {contentType}}
	if op.Version != "" {
		sub.Header.Set("If-Match", op.Version)
	}
	sub.ContentLength = int64(len(data))
	sub.Body = http.NoBody
	req := &request{org: j.req.org, actor: j.req.actor, base: j.req.base, pageLen: -1}
	rec := &buffered{header: http.Header{}}
	j.h.dispatch(rec, sub, req, segs, data)

	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	res.Version = rec.header.Get("ETag")
	if loc := rec.header.Get("Location"); loc != "" {
		res.Location = loc
	}
	if method == http.MethodPost && status == http.StatusCreated && op.BulkID != "" {
		var created struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(rec.body.Bytes(), &created) == nil && created.ID != "" {
			j.ids[op.BulkID] = created.ID
		}
	}
	j.record(i, res, status, bytes.TrimSpace(rec.body.Bytes()))
}

// resolvePath replaces a bulkId reference in a path's segments
// (/Groups/bulkId:qwerty) by the id of the resource its POST created.
func (j *bulkJob) resolvePath(path string) string {
	if !strings.Contains(path, bulkIDPrefix) {
		return path
	}
	segs := strings.Split(path, "/")
	for k, s := range segs {
		if id, ok := strings.CutPrefix(s, bulkIDPrefix); ok {
			if v, ok := j.ids[id]; ok {
				segs[k] = v
			}
		}
	}
	return strings.Join(segs, "/")
}

// resolveData replaces bulkId references in an operation's data by the
// ids their POSTs created. A reference is a string "bulkId:…" that is a
// value sub-attribute or a PATCH operation's value, or an element of a
// list there: members[].value, manager.value, the value of an add to
// members. Data without references is passed on as sent.
func (j *bulkJob) resolveData(data json.RawMessage) []byte {
	if !bytes.Contains(data, []byte(bulkIDPrefix)) {
		return data
	}
	v, ok := decodeNumbers(data)
	if !ok {
		return data // the operation's own validation says what is wrong
	}
	walkRefs(v, func(s string) string {
		if id, ok := j.ids[strings.TrimPrefix(s, bulkIDPrefix)]; ok {
			return id
		}
		return s
	})
	b, err := json.Marshal(v)
	if err != nil {
		return data
	}
	return b
}

// bulkRefs lists the bulkIds an operation references, in its path and its
// data.
func bulkRefs(op bulkOp) []string {
	var out []string
	for _, s := range strings.Split(op.Path, "/") {
		if id, ok := strings.CutPrefix(s, bulkIDPrefix); ok {
			out = append(out, id)
		}
	}
	if bytes.Contains(op.Data, []byte(bulkIDPrefix)) {
		if v, ok := decodeNumbers(op.Data); ok {
			walkRefs(v, func(s string) string {
				out = append(out, strings.TrimPrefix(s, bulkIDPrefix))
				return s
			})
		}
	}
	return out
}

func decodeNumbers(data []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber() // numbers pass through unchanged
	var v any
	return v, d.Decode(&v) == nil
}

// walkRefs calls f on each bulkId reference in v and stores what it
// returns in its place.
func walkRefs(v any, f func(string) string) {
	var under func(v any, inValue bool) any
	under = func(v any, inValue bool) any {
		switch x := v.(type) {
		case string:
			if inValue && strings.HasPrefix(x, bulkIDPrefix) {
				return f(x)
			}
		case []any:
			for k, e := range x {
				x[k] = under(e, inValue)
			}
		case map[string]any:
			for k, e := range x {
				x[k] = under(e, strings.EqualFold(k, "value"))
			}
		}
		return v
	}
	under(v, false)
}
