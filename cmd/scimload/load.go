package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	userSchema    = "urn:ietf:params:scim:schemas:core:2.0:User"
	groupSchema   = "urn:ietf:params:scim:schemas:core:2.0:Group"
	patchSchema   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimMediaType = "application/scim+json"
	pageSize      = 100
)

// loader runs the phases against one SCIM base URL.
type loader struct {
	cfg      config
	hc       *http.Client
	errs     *errorLog
	progress io.Writer
	// ids[i] is the SCIM id of user i, filled by the push phase (distinct
	// indexes per worker) or by collectIDs.
	ids []string
	// pg is the connection to the server's PostgreSQL (--pg), or nil.
	pg *pgProbe
	// baseline is the summary of the single-tenant push (--baseline).
	baseline *runSummary
	// cpu measures where each phase's CPU time went, when the server's
	// pid is known.
	cpu *cpuMeter
}

func newLoader(cfg config, progress io.Writer) *loader {
	tr := &http.Transport{
		Proxy:               nil, // only ever the --base host
		MaxIdleConns:        2 * cfg.concurrency,
		MaxIdleConnsPerHost: 2 * cfg.concurrency,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &loader{
		cfg: cfg,
		hc: &http.Client{Transport: tr, Timeout: 60 * time.Second,
			// A redirect is an answer to check (the break-glass login's
			// 303 sets the session), never one to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		errs:     newErrorLog(),
		progress: progress,
		ids:      make([]string, cfg.users),
	}
}

func (l *loader) close() { l.hc.CloseIdleConnections() }

// call is one SCIM request and what makes its answer a success.
type call struct {
	kind   string
	method string
	path   string // after the base URL, starting with "/"
	body   any    // sent as JSON when non-nil
	want   []int  // accepted statuses
	into   any    // the response is decoded into this when non-nil
	check  func() error
	// to is the organization (tenants phase); zero: --base and --token.
	to tenant
	// lat receives the latency of a successful request when non-nil.
	lat *time.Duration
	// raw is sent as the body, with rawType, when non-nil (body unset):
	// a form or a signed webhook payload, byte for byte.
	raw     []byte
	rawType string
	// header is set on the request after the defaults; an empty
	// Authorization removes the bearer token.
	header map[string]string
	// respHeader receives the response's header when non-nil.
	respHeader *http.Header
}

// do sends c, records its latency (or its failure) in rec and reports
// success. A request cut short by the end of ctx is not recorded.
func (l *loader) do(ctx context.Context, rec *recorder, c call) bool {
	where := c.method + " " + redactToken(c.path)
	req, err := l.newRequest(ctx, c)
	if err != nil {
		rec.fail(c.kind, 0, where, err.Error())
		return false
	}
	start := time.Now()
	status, body, hdr, err := l.roundTrip(req)
	elapsed := time.Since(start)
	switch {
	case err != nil && ctx.Err() != nil:
		return false
	case err != nil:
		rec.fail(c.kind, 0, where, err.Error())
		return false
	case !slices.Contains(c.want, status):
		rec.fail(c.kind, status, where, string(body))
		return false
	}
	if c.respHeader != nil {
		*c.respHeader = hdr
	}
	if c.into != nil {
		if err := json.Unmarshal(body, c.into); err != nil {
			rec.fail(c.kind, status, where, fmt.Sprintf("decode response: %v: %s", err, body))
			return false
		}
	}
	if c.check != nil {
		if err := c.check(); err != nil {
			rec.fail(c.kind, status, where, err.Error())
			return false
		}
	}
	rec.ok(c.kind, elapsed)
	if c.lat != nil {
		*c.lat = elapsed
	}
	return true
}

// redactToken hides a token= query parameter (a break-glass link's
// secret) from the error log.
func redactToken(path string) string {
	p, q, ok := strings.Cut(path, "?")
	if !ok || !strings.Contains(q, "token=") {
		return path
	}
	v, err := url.ParseQuery(q)
	if err != nil {
		return p + "?(redacted)"
	}
	v.Set("token", "(redacted)")
	return p + "?" + v.Encode()
}

func (l *loader) newRequest(ctx context.Context, c call) (*http.Request, error) {
	var body io.Reader = http.NoBody
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	} else if c.raw != nil {
		body = bytes.NewReader(c.raw)
	}
	to := c.to
	if to.Base == "" {
		to = tenant{Base: l.cfg.base, Token: l.cfg.token}
	}
	req, err := http.NewRequestWithContext(ctx, c.method, to.Base+c.path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+to.Token)
	req.Header.Set("Accept", scimMediaType)
	if c.body != nil {
		req.Header.Set("Content-Type", scimMediaType)
	} else if c.raw != nil {
		req.Header.Set("Content-Type", c.rawType)
	}
	for k, v := range c.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	return req, nil
}

// roundTrip sends req and reads the whole body, so the connection is reused.
func (l *loader) roundTrip(req *http.Request) (int, []byte, http.Header, error) {
	resp, err := l.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header, err
}

// runWorkers runs job(i) for i in 0..n-1 on concurrency workers paced at
// rate jobs/s, and returns the wall time.
func (l *loader) runWorkers(ctx context.Context, name string, n int, rate float64, job func(ctx context.Context, i int)) time.Duration {
	start := time.Now()
	p := startPacer(ctx, n, rate)
	var done atomic.Int64
	stopProgress := l.showProgress(name, n, start, &done)
	var wg sync.WaitGroup
	for range min(l.cfg.concurrency, n) {
		wg.Go(func() {
			for i := range p.C {
				job(ctx, i)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	stopProgress()
	return time.Since(start)
}

// showProgress prints the phase's progress every --progress until stopped.
func (l *loader) showProgress(name string, n int, start time.Time, done *atomic.Int64) (stop func()) {
	if l.cfg.progress <= 0 {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(l.cfg.progress)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				d, el := done.Load(), time.Since(start)
				fmt.Fprintf(l.progress, "scimload: %s: %d/%d done, %.0f/s\n", name, d, n, float64(d)/el.Seconds())
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

func (l *loader) userName(i int) string {
	return fmt.Sprintf("%s-%07d@example.com", l.cfg.prefix, i)
}

func (l *loader) externalID(i int) string {
	return fmt.Sprintf("ext-%s-%07d", l.cfg.prefix, i)
}

// userIndex is the inverse of userName; false for other users.
func (l *loader) userIndex(userName string) (int, bool) {
	rest, ok := strings.CutPrefix(userName, l.cfg.prefix+"-")
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, "@example.com")
	if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	i, err := strconv.Atoi(digits)
	if err != nil || i >= l.cfg.users || l.userName(i) != userName {
		return 0, false
	}
	return i, true
}

// filterQuery is the query Okta sends to look a resource up, e.g.
// filter=userName%20eq%20%22a%40example.com%22&startIndex=1&count=100.
func filterQuery(attr, op, value string, startIndex int) string {
	f := url.QueryEscape(fmt.Sprintf("%s %s %q", attr, op, value))
	return fmt.Sprintf("filter=%s&startIndex=%d&count=%d", strings.ReplaceAll(f, "+", "%20"), startIndex, pageSize)
}

type listResponse struct {
	TotalResults int        `json:"totalResults"`
	Resources    []resource `json:"Resources"`
}

type resource struct {
	ID          string   `json:"id"`
	UserName    string   `json:"userName"`
	ExternalID  string   `json:"externalId"`
	DisplayName string   `json:"displayName"`
	Members     []member `json:"members"`
}

type member struct {
	Value string `json:"value"`
}

// oktaUser is the body Okta POSTs to create a user.
type oktaUser struct {
	Schemas     []string    `json:"schemas"`
	UserName    string      `json:"userName"`
	Name        oktaName    `json:"name"`
	Emails      []oktaEmail `json:"emails"`
	DisplayName string      `json:"displayName"`
	Locale      string      `json:"locale"`
	ExternalID  string      `json:"externalId"`
	Groups      []string    `json:"groups"`
	Password    string      `json:"password"`
	Active      bool        `json:"active"`
}

type oktaName struct {
	GivenName  string `json:"givenName"`
	FamilyName string `json:"familyName"`
}

type oktaEmail struct {
	Primary bool   `json:"primary"`
	Value   string `json:"value"`
	Type    string `json:"type"`
}

func (l *loader) userBody(i int) oktaUser {
	family := fmt.Sprintf("User%07d", i)
	return oktaUser{
		Schemas:     []string{userSchema},
		UserName:    l.userName(i),
		Name:        oktaName{GivenName: "Load", FamilyName: family},
		Emails:      []oktaEmail{{Primary: true, Value: l.userName(i), Type: "work"}},
		DisplayName: "Load " + family,
		Locale:      "en-US",
		ExternalID:  l.externalID(i),
		Groups:      []string{},
		Password:    fmt.Sprintf("Pw-%07d-%08x!", i, rand.Uint32()),
		Active:      true,
	}
}

// phaseResult is one phase of the report.
type phaseResult struct {
	Name  string        `json:"name"`
	Wall  time.Duration `json:"-"`
	Kinds []kindSummary `json:"kinds"`
	Notes []string      `json:"notes,omitempty"`
	// Done counts the jobs that succeeded: users created by a push, rows
	// inserted by the raw phase.
	Done int64 `json:"done"`
	// Tenths is a push's rate (jobs/s) over each tenth of its jobs in
	// completion order.
	Tenths []float64 `json:"tenths_per_second,omitempty"`
	// Tenants is each organization of the tenants phase.
	Tenants []tenantResult `json:"tenants,omitempty"`
	CPU     cpuUse         `json:"cpu"`
	// RequestP99 is over every successful request of the phase.
	RequestP99 time.Duration `json:"request_p99_ns,omitempty"`
}

// runPhases runs one phase of --phases; before the groups phase it runs an
// "ids" phase if the push phase did not provide the ids the group needs.
func (l *loader) runPhases(ctx context.Context, name string) []phaseResult {
	var out []phaseResult
	if name == "groups" && l.missingIDs(l.groupPlan().needs) > 0 {
		fmt.Fprintln(l.progress, "scimload: phase ids (listing the ids of the users for the group)")
		out = append(out, l.runPhase(ctx, "ids"))
	}
	fmt.Fprintf(l.progress, "scimload: phase %s\n", name)
	return append(out, l.runPhase(ctx, name))
}

// runPhase runs one named phase.
func (l *loader) runPhase(ctx context.Context, name string) phaseResult {
	rec := newRecorder(l.errs)
	var wall time.Duration
	var notes []string
	res := phaseResult{Name: name}
	var cpu0 cpuUse
	if l.cpu != nil {
		cpu0 = l.cpu.read()
	}
	switch name {
	case "raw":
		var err error
		wall, res.Done, err = l.pg.rawInserts(ctx, rec, l.cfg.concurrency, l.cfg.rawDuration)
		if err != nil {
			l.errs.add("raw-insert", 0, "CREATE TABLE "+rawTable, err.Error())
		}
		notes = []string{fmt.Sprintf("%d durable autocommit INSERTs on %d connections", res.Done, l.cfg.concurrency)}
	case "push":
		wall, notes, res.Done, res.Tenths = l.push(ctx, rec)
	case "tenants":
		wall, notes, res.Done, res.Tenths, res.Tenants = l.pushTenants(ctx, rec)
	case "lookup":
		wall = l.lookups(ctx, rec)
	case "page":
		wall = l.pages(ctx, rec)
	case "ids":
		wall, notes = l.collectIDs(ctx, rec)
	case "groups":
		wall, notes = l.groups(ctx, rec)
	}
	res.Wall, res.Kinds, res.Notes, res.RequestP99 = wall, rec.summaries(wall), notes, rec.percentileAll(99)
	if l.cpu != nil {
		res.CPU = l.cpu.read().minus(cpu0)
		res.Notes = append(res.Notes, res.CPU.String(wall))
	}
	return res
}

// push replays Okta's initial push: a lookup by userName, then a create.
func (l *loader) push(ctx context.Context, rec *recorder) (time.Duration, []string, int64, []float64) {
	var created, skipped atomic.Int64
	ends := newCompletions(l.cfg.users)
	wall := l.runWorkers(ctx, "push", l.cfg.users, l.cfg.rate, func(ctx context.Context, i int) {
		var id string
		switch l.pushUser(ctx, rec, tenant{}, i, &id, nil) {
		case pushCreated:
			created.Add(1)
		case pushSkipped:
			skipped.Add(1)
		}
		l.ids[i] = id
		ends.add()
	})
	notes := []string{fmt.Sprintf("created %d, skipped %d (already there)", created.Load(), skipped.Load())}
	return wall, notes, created.Load(), ends.tenths()
}

// completions records when each job of a phase ended, in completion order.
type completions struct {
	start time.Time
	n     atomic.Int64
	at    []time.Duration
}

func newCompletions(jobs int) *completions {
	return &completions{start: time.Now(), at: make([]time.Duration, jobs)}
}

func (c *completions) add() {
	if k := c.n.Add(1) - 1; k < int64(len(c.at)) {
		c.at[k] = time.Since(c.start)
	}
}

// tenths is the rate (jobs/s) of each tenth of the jobs, by completion
// order; nil when fewer than ten jobs ended.
func (c *completions) tenths() []float64 {
	return tenthRates(c.at[:min(int(c.n.Load()), len(c.at))])
}

// tenthRates splits the sorted completion times ends into ten runs of
// jobs and returns each run's jobs per second.
func tenthRates(ends []time.Duration) []float64 {
	n := len(ends)
	if n < 10 {
		return nil
	}
	out := make([]float64, 10)
	var prev time.Duration
	for t := range 10 {
		from, to := t*n/10, (t+1)*n/10
		last := ends[to-1]
		out[t] = float64(to-from) / max(last-prev, time.Microsecond).Seconds()
		prev = last
	}
	return out
}

type pushOutcome int

const (
	pushFailed pushOutcome = iota
	pushCreated
	pushSkipped
)

// pushUser looks user i up in organization to (zero: --base) and creates
// it when missing; its id goes to *id and each successful request's
// latency to lat (when non-nil).
func (l *loader) pushUser(ctx context.Context, rec *recorder, to tenant, i int, id *string, lat func(time.Duration)) pushOutcome {
	name := l.userName(i)
	var found listResponse
	var d time.Duration
	ok := l.do(ctx, rec, call{
		kind: "lookup-userName", method: http.MethodGet, want: []int{http.StatusOK},
		path: "/Users?" + filterQuery("userName", "eq", name, 1), into: &found,
		check: func() error { return expectMatches(found, 0, 1) }, to: to, lat: &d,
	})
	if ok && lat != nil {
		lat(d)
	}
	switch {
	case !ok:
		return pushFailed
	case found.TotalResults == 1:
		*id = found.Resources[0].ID
		return pushSkipped
	}
	var u resource
	ok = l.do(ctx, rec, call{
		kind: "create", method: http.MethodPost, path: "/Users", want: []int{http.StatusCreated},
		body: l.userBody(i), into: &u, to: to, lat: &d,
		check: func() error {
			if u.ID == "" || !strings.EqualFold(u.UserName, name) {
				return fmt.Errorf("created user has id %q userName %q, want an id and %q", u.ID, u.UserName, name)
			}
			return nil
		},
	})
	if !ok {
		return pushFailed
	}
	if lat != nil {
		lat(d)
	}
	*id = u.ID
	return pushCreated
}

// expectMatches checks a filtered list has between lo and hi results, and
// that a single result is in Resources with an id.
func expectMatches(lr listResponse, lo, hi int) error {
	if lr.TotalResults < lo || lr.TotalResults > hi {
		return fmt.Errorf("totalResults %d, want %d..%d", lr.TotalResults, lo, hi)
	}
	if len(lr.Resources) != lr.TotalResults {
		return fmt.Errorf("totalResults %d but %d Resources", lr.TotalResults, len(lr.Resources))
	}
	for _, r := range lr.Resources {
		if r.ID == "" {
			return fmt.Errorf("a resource without id")
		}
	}
	return nil
}

// lookups alternates userName eq and externalId eq lookups of random pushed
// users; each must find exactly that user.
func (l *loader) lookups(ctx context.Context, rec *recorder) time.Duration {
	return l.runWorkers(ctx, "lookup", l.cfg.lookups, l.cfg.rate, func(ctx context.Context, j int) {
		i := l.rng(j).IntN(l.cfg.users)
		attr, value, kind := "userName", l.userName(i), "lookup-userName"
		if j%2 == 1 {
			attr, value, kind = "externalId", l.externalID(i), "lookup-externalId"
		}
		var found listResponse
		l.do(ctx, rec, call{
			kind: kind, method: http.MethodGet, want: []int{http.StatusOK},
			path: "/Users?" + filterQuery(attr, "eq", value, 1), into: &found,
			check: func() error {
				if err := expectMatches(found, 1, 1); err != nil {
					return fmt.Errorf("%s eq %q: %w", attr, value, err)
				}
				if r := found.Resources[0]; !strings.EqualFold(r.UserName, l.userName(i)) {
					return fmt.Errorf("%s eq %q found userName %q", attr, value, r.UserName)
				}
				return nil
			},
		})
	})
}

// rng is the random source of job j: reproducible whatever the scheduling.
func (l *loader) rng(j int) *rand.Rand {
	return rand.New(rand.NewPCG(l.cfg.seed, uint64(j)))
}

// pages fetches random pages of 100 users; totalResults must count at least
// the pushed users and the page must be full unless it is the last one.
func (l *loader) pages(ctx context.Context, rec *recorder) time.Duration {
	return l.runWorkers(ctx, "page", l.cfg.pages, l.cfg.rate, func(ctx context.Context, j int) {
		startIndex := 1 + l.rng(j).IntN(max(1, l.cfg.users-pageSize))
		var page listResponse
		l.do(ctx, rec, call{
			kind: "page", method: http.MethodGet, want: []int{http.StatusOK},
			path: fmt.Sprintf("/Users?startIndex=%d&count=%d", startIndex, pageSize), into: &page,
			check: func() error { return checkPage(page, startIndex, l.cfg.users) },
		})
	})
}

func checkPage(page listResponse, startIndex, atLeast int) error {
	if page.TotalResults < atLeast {
		return fmt.Errorf("totalResults %d, want at least %d", page.TotalResults, atLeast)
	}
	want := min(pageSize, max(0, page.TotalResults-startIndex+1))
	if len(page.Resources) != want {
		return fmt.Errorf("startIndex %d of %d: %d Resources, want %d", startIndex, page.TotalResults, len(page.Resources), want)
	}
	return nil
}

// groupPlan is what the groups phase adds: fill members in PATCHes of batch,
// then one measured PATCH of final new members.
type groupPlan struct {
	users int
	fill  int // users 0..fill-1
	final int // users users-final..users-1
}

// planGroup reserves the last batch users (at most half of them) for the
// final PATCH and fills the group with up to members of the others.
func planGroup(users, members, batch int) groupPlan {
	final := min(batch, users/2)
	return groupPlan{users: users, fill: min(members, users-final), final: final}
}

// needs reports whether user i goes into the group.
func (p groupPlan) needs(i int) bool { return i < p.fill || i >= p.users-p.final }

func (l *loader) groupPlan() groupPlan {
	return planGroup(l.cfg.users, l.cfg.groupMembers, l.cfg.batch)
}

// groups creates a group like Okta's group push and adds members in batches.
func (l *loader) groups(ctx context.Context, rec *recorder) (time.Duration, []string) {
	start := time.Now()
	notes, err := l.groupPush(ctx, rec, l.groupPlan())
	if err != nil {
		notes = append(notes, "stopped: "+err.Error())
	}
	return time.Since(start), notes
}

func (l *loader) groupPush(ctx context.Context, rec *recorder, plan groupPlan) ([]string, error) {
	if plan.final == 0 {
		return nil, fmt.Errorf("--users %d: the groups phase needs at least 2 users", l.cfg.users)
	}
	if missing := l.missingIDs(plan.needs); missing > 0 {
		return nil, fmt.Errorf("%d of the users the group needs do not exist (run the push phase first)", missing)
	}
	gid, err := l.createGroup(ctx, rec, "load-group-"+l.cfg.prefix)
	if err != nil {
		return nil, err
	}
	var each []string // each PATCH's latency, to see it grow with the group
	for from := 0; from < plan.fill; from += l.cfg.batch {
		start := time.Now()
		if !l.addMembers(ctx, rec, "group-patch", gid, l.ids[from:min(from+l.cfg.batch, plan.fill)]) {
			return nil, fmt.Errorf("a membership PATCH failed")
		}
		each = append(each, strconv.FormatInt(time.Since(start).Milliseconds(), 10))
	}
	notes := []string{fmt.Sprintf("group-patch: %d PATCH(es) of up to %d members, %d members in all, ms each: %s",
		len(each), l.cfg.batch, plan.fill, strings.Join(each, " "))}
	if !l.addMembers(ctx, rec, "group-patch-final", gid, l.ids[l.cfg.users-plan.final:]) {
		return notes, fmt.Errorf("the final PATCH failed")
	}
	notes = append(notes, fmt.Sprintf("group-patch-final: one PATCH adding %d new members to a group of %d", plan.final, plan.fill))
	l.getGroup(ctx, rec, gid, plan.fill+plan.final)
	return notes, nil
}

func (l *loader) missingIDs(need func(int) bool) int {
	n := 0
	for i, id := range l.ids {
		if need(i) && id == "" {
			n++
		}
	}
	return n
}

// collectIDs pages through the users with userName sw "<prefix>-" to learn
// the ids the push phase did not provide.
func (l *loader) collectIDs(ctx context.Context, rec *recorder) (time.Duration, []string) {
	start := time.Now()
	total, found := 1, 0 // total is known after the first page
	for startIndex := 1; startIndex <= total; startIndex += pageSize {
		var page listResponse
		if !l.do(ctx, rec, call{
			kind: "collect-ids", method: http.MethodGet, want: []int{http.StatusOK},
			path: "/Users?attributes=id,userName&" + filterQuery("userName", "sw", l.cfg.prefix+"-", startIndex), into: &page,
		}) {
			return time.Since(start), []string{"stopped: listing the users' ids failed"}
		}
		total = page.TotalResults
		for _, r := range page.Resources {
			if i, ok := l.userIndex(r.UserName); ok {
				l.ids[i] = r.ID
				found++
			}
		}
	}
	return time.Since(start), []string{fmt.Sprintf("found the ids of %d of %d users", found, l.cfg.users)}
}

// createGroup looks the group up by displayName like Okta, deletes a group
// left by an earlier run, and creates it empty.
func (l *loader) createGroup(ctx context.Context, rec *recorder, name string) (string, error) {
	var found listResponse
	if !l.do(ctx, rec, call{
		kind: "group-lookup", method: http.MethodGet, want: []int{http.StatusOK},
		path: "/Groups?excludedAttributes=members&" + filterQuery("displayName", "eq", name, 1), into: &found,
		check: func() error { return expectMatches(found, 0, 1) },
	}) {
		return "", fmt.Errorf("group lookup failed")
	}
	if found.TotalResults == 1 && !l.do(ctx, rec, call{
		kind: "group-delete", method: http.MethodDelete, want: []int{http.StatusNoContent},
		path: "/Groups/" + url.PathEscape(found.Resources[0].ID),
	}) {
		return "", fmt.Errorf("deleting the group of an earlier run failed")
	}
	var g resource
	if !l.do(ctx, rec, call{
		kind: "group-create", method: http.MethodPost, path: "/Groups", want: []int{http.StatusCreated},
		body: map[string]any{"schemas": []string{groupSchema}, "displayName": name, "members": []member{}},
		into: &g,
		check: func() error {
			if g.ID == "" {
				return fmt.Errorf("created group has no id")
			}
			return nil
		},
	}) {
		return "", fmt.Errorf("group create failed")
	}
	return g.ID, nil
}

// patchAdd is a PatchOp adding members.
type patchAdd struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

type patchOp struct {
	Op    string   `json:"op"`
	Path  string   `json:"path"`
	Value []member `json:"value"`
}

func addMembersBody(ids []string) patchAdd {
	ms := make([]member, len(ids))
	for i, id := range ids {
		ms[i] = member{Value: id}
	}
	return patchAdd{Schemas: []string{patchSchema}, Operations: []patchOp{{Op: "add", Path: "members", Value: ms}}}
}

func (l *loader) addMembers(ctx context.Context, rec *recorder, kind, gid string, ids []string) bool {
	return l.do(ctx, rec, call{
		kind: kind, method: http.MethodPatch, path: "/Groups/" + url.PathEscape(gid),
		want: []int{http.StatusOK, http.StatusNoContent}, body: addMembersBody(ids),
	})
}

// getGroup reads the whole group back and checks its member count.
func (l *loader) getGroup(ctx context.Context, rec *recorder, gid string, want int) {
	var g resource
	l.do(ctx, rec, call{
		kind: "group-get", method: http.MethodGet, path: "/Groups/" + url.PathEscape(gid),
		want: []int{http.StatusOK}, into: &g,
		check: func() error {
			if len(g.Members) != want {
				return fmt.Errorf("group has %d members, want %d", len(g.Members), want)
			}
			return nil
		},
	})
}
