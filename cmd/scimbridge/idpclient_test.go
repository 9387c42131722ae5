package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The IdP side of the fault tests: clients that push as Okta and Entra
// do and retry as they do, and the check of what a push left behind.

// idpClient is one IdP's connection to an organization's SCIM endpoint.
// It counts every answer by status and records each breach of the
// promises an IdP relies on while the service is in trouble: no 500, and
// every 503 with Retry-After and an RFC 7644 error body.
type idpClient struct {
	// base returns the SCIM base URL of the organization for the next
	// request (replicas: one or the other, as a load balancer picks).
	base  func() string
	token string
	http  *http.Client
	// retry is how long the client waits before retrying (Okta and
	// Entra back off for seconds; the tests shorten it).
	retry time.Duration
	// giveUp bounds each operation's retries.
	giveUp time.Duration

	mu       sync.Mutex
	statuses map[int]int
	connErrs int
	breaches []string
}

func newIDPClient(base func() string, token string) *idpClient {
	return &idpClient{base: base, token: token, statuses: map[int]int{},
		http:  &http.Client{Timeout: 30 * time.Second},
		retry: 50 * time.Millisecond, giveUp: 90 * time.Second}
}

// do sends one request and reads the answer; code 0 is a connection error.
func (c *idpClient) do(method, path string, body any) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base()+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json; charset=utf-8")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.mu.Lock()
		c.connErrs++
		c.mu.Unlock()
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statuses[resp.StatusCode]++
	switch {
	case resp.StatusCode == http.StatusInternalServerError:
		c.breaches = append(c.breaches, fmt.Sprintf("%s %s: 500 %s", method, path, raw))
	case resp.StatusCode == http.StatusServiceUnavailable:
		schemas, _ := m["schemas"].([]any)
		if resp.Header.Get("Retry-After") == "" || m["status"] != "503" || len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
			c.breaches = append(c.breaches, fmt.Sprintf("%s %s: 503 with Retry-After %q and body %s, want an RFC 7644 error with Retry-After",
				method, path, resp.Header.Get("Retry-After"), raw))
		}
	}
	return resp.StatusCode, m
}

// transient is what an IdP retries: no answer, a 5xx, a 429.
func transient(code int) bool {
	return code == 0 || code >= 500 || code == http.StatusTooManyRequests
}

// until repeats op, waiting c.retry between attempts, until it says done.
func (c *idpClient) until(what string, op func() (done bool, err error)) error {
	deadline := time.Now().Add(c.giveUp)
	for time.Now().Before(deadline) {
		done, err := op()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if done {
			return nil
		}
		time.Sleep(c.retry)
	}
	return fmt.Errorf("%s: still failing after %v", what, c.giveUp)
}

// lookup finds a resource by filter as Okta and Entra do, retrying
// transient failures; "" when there is none.
func (c *idpClient) lookup(resource, filter string) (string, error) {
	var id string
	err := c.until("lookup "+filter, func() (bool, error) {
		code, l := c.do("GET", "/"+resource+"?filter="+url.QueryEscape(filter)+"&startIndex=1&count=100", nil)
		switch {
		case transient(code):
			return false, nil
		case code != http.StatusOK:
			return false, fmt.Errorf("%d %v", code, l)
		}
		res, _ := l["Resources"].([]any)
		switch {
		case l["totalResults"] == float64(0):
			return true, nil
		case len(res) != 1 || l["totalResults"] != float64(1):
			return false, fmt.Errorf("%v results, want at most one", l["totalResults"])
		}
		id, _ = res[0].(map[string]any)["id"].(string)
		return true, nil
	})
	return id, err
}

// pushedUser is a user as the IdP sends it.
type pushedUser struct {
	UserName, ExternalID, GivenName, FamilyName, DisplayName, Department string
}

func newPushedUser(name string) pushedUser {
	return pushedUser{UserName: name + "@example.com", ExternalID: "00u" + name, GivenName: "Given " + name,
		FamilyName: "Family " + name, DisplayName: "Display " + name, Department: "Dept " + name}
}

func (u pushedUser) body() map[string]any {
	return map[string]any{
		"schemas":     []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
		"userName":    u.UserName,
		"externalId":  u.ExternalID,
		"name":        map[string]any{"givenName": u.GivenName, "familyName": u.FamilyName},
		"displayName": u.DisplayName,
		"emails":      []any{map[string]any{"value": u.UserName, "type": "work", "primary": true}},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"department": u.Department},
		"groups":   []any{},
		"password": "x7Kp2q9m",
		"active":   true,
	}
}

// pushUser provisions u as Okta does and returns its id: look the
// userName up, create it when absent; on no answer or a 5xx, send the
// POST again; on a 409 (the earlier POST did land, or another client got
// there first), look it up again.
func (c *idpClient) pushUser(u pushedUser) (string, error) {
	filter := `userName eq "` + u.UserName + `"`
	id, err := c.lookup("Users", filter)
	if err != nil || id != "" {
		return id, err
	}
	err = c.until("create "+u.UserName, func() (bool, error) {
		code, m := c.do("POST", "/Users", u.body())
		switch {
		case code == http.StatusCreated:
			id, _ = m["id"].(string)
			return true, nil
		case code == http.StatusConflict:
			var err error
			if id, err = c.lookup("Users", filter); err == nil && id == "" {
				err = fmt.Errorf("409, and the lookup finds no user")
			}
			return true, err
		case transient(code):
			return false, nil
		}
		return false, fmt.Errorf("%d %v", code, m)
	})
	return id, err
}

// pushGroup creates a group with no members as Okta does (or finds it).
func (c *idpClient) pushGroup(name string) (string, error) {
	filter := `displayName eq "` + name + `"`
	id, err := c.lookup("Groups", filter)
	if err != nil || id != "" {
		return id, err
	}
	err = c.until("create group "+name, func() (bool, error) {
		code, m := c.do("POST", "/Groups", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": []any{}})
		switch {
		case code == http.StatusCreated:
			id, _ = m["id"].(string)
			return true, nil
		case code == http.StatusConflict:
			var err error
			id, err = c.lookup("Groups", filter)
			return true, err
		case transient(code):
			return false, nil
		}
		return false, fmt.Errorf("%d %v", code, m)
	})
	return id, err
}

// Membership changes in the shapes the two IdPs send (DESIGN.md §6):
// Okta renames with every change and removes by a value filter; Entra
// capitalises its ops and removes by a value list.
func oktaAddMember(gid, group, uid, userName string) map[string]any {
	return patchOps(
		map[string]any{"op": "replace", "value": map[string]any{"id": gid, "displayName": group}},
		map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": uid, "display": userName}}})
}

func oktaRemoveMember(gid, group, uid string) map[string]any {
	return patchOps(
		map[string]any{"op": "replace", "value": map[string]any{"id": gid, "displayName": group}},
		map[string]any{"op": "remove", "path": `members[value eq "` + uid + `"]`})
}

func entraAddMember(uid string) map[string]any {
	return patchOps(map[string]any{"op": "Add", "path": "members", "value": []any{map[string]any{"value": uid}}})
}

func entraRemoveMember(uid string) map[string]any {
	return patchOps(map[string]any{"op": "Remove", "path": "members", "value": []any{map[string]any{"value": uid}}})
}

func patchOps(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": ops}
}

// patch sends a PATCH until it is answered 200 or 204: membership
// changes are idempotent, so an IdP sends them again after any failure.
func (c *idpClient) patch(path string, body map[string]any) error {
	return c.until("PATCH "+path, func() (bool, error) {
		code, m := c.do("PATCH", path, body)
		switch {
		case code == http.StatusOK || code == http.StatusNoContent:
			return true, nil
		case transient(code):
			return false, nil
		}
		return false, fmt.Errorf("%d %v", code, m)
	})
}

// report fails t on every breach and logs the answers seen.
func (c *idpClient) report(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, b := range c.breaches {
		if i == 10 {
			t.Errorf("… and %d more", len(c.breaches)-10)
			break
		}
		t.Error(b)
	}
	t.Logf("answers by status: %v; connection errors: %d", c.statuses, c.connErrs)
}

// pushPlan is a push: users, and for each user the group it is added
// to and whether it is removed again.
type pushPlan struct {
	users   []pushedUser
	groups  [2]string // Okta's group, Entra's group
	removed func(i int) bool
}

func newPushPlan(prefix string, n int) pushPlan {
	p := pushPlan{groups: [2]string{prefix + " Okta Group", prefix + " Entra Group"},
		removed: func(i int) bool { return i%5 == 0 }}
	for i := range n {
		p.users = append(p.users, newPushedUser(fmt.Sprintf("%s-%04d", prefix, i)))
	}
	return p
}

// run pushes the plan with workers clients of its own, each taking every
// workers-th user: create it, add it to its group (Okta's shape for even
// users, Entra's for odd), and for every fifth remove it again. progress
// is called after each user. It returns the ids of the users and groups,
// and what failed; it may run on a goroutine of its own.
func (p pushPlan) run(workers int, client func(w int) *idpClient, progress func()) (ids []string, gids [2]string, errs []error) {
	return p.runUsers(0, len(p.users), workers, client, progress)
}

// runUsers is run for the users lo to hi-1 only; ids has the length of
// the plan's users, with the ids of those.
func (p pushPlan) runUsers(lo, hi, workers int, client func(w int) *idpClient, progress func()) (ids []string, gids [2]string, errs []error) {
	c0 := client(0)
	for i, name := range p.groups {
		id, err := c0.pushGroup(name)
		if err != nil {
			return nil, gids, []error{err}
		}
		gids[i] = id
	}
	ids = make([]string, len(p.users))
	failed := make(chan error, len(p.users))
	var wg sync.WaitGroup
	for w := range workers {
		c := c0
		if w > 0 {
			c = client(w)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo + w; i < hi; i += workers {
				if err := p.one(c, i, ids, gids); err != nil {
					failed <- err
				}
				progress()
			}
		}()
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		errs = append(errs, err)
	}
	return ids, gids, errs
}

func (p pushPlan) one(c *idpClient, i int, ids []string, gids [2]string) error {
	u := p.users[i]
	id, err := c.pushUser(u)
	if err != nil {
		return err
	}
	ids[i] = id
	g := i % 2
	path := "/Groups/" + gids[g]
	add, remove := entraAddMember(id), entraRemoveMember(id)
	if g == 0 {
		add, remove = oktaAddMember(gids[g], p.groups[g], id, u.UserName), oktaRemoveMember(gids[g], p.groups[g], id)
	}
	if err := c.patch(path, add); err != nil {
		return err
	}
	if p.removed(i) {
		return c.patch(path, remove)
	}
	return nil
}

// check reads the organization back, over SCIM and straight from the
// database (dsn), and fails t unless the push is all there exactly once
// and whole: every user once with every attribute as sent, one creation
// audited for each, the kept user count exact, and each group with
// exactly the members the plan leaves it.
func (p pushPlan) check(t *testing.T, c *idpClient, dsn, org string, ids []string, gids [2]string) {
	t.Helper()
	byName := map[string]map[string]any{}
	for start := 1; ; start += 100 {
		code, l := c.do("GET", fmt.Sprintf("/Users?startIndex=%d&count=100", start), nil)
		if code != http.StatusOK {
			t.Fatalf("list users: %d %v", code, l)
		}
		res, _ := l["Resources"].([]any)
		for _, r := range res {
			u := r.(map[string]any)
			name, _ := u["userName"].(string)
			if byName[name] != nil {
				t.Errorf("%s listed twice", name)
			}
			byName[name] = u
		}
		if start == 1 && l["totalResults"] != float64(len(p.users)) {
			t.Errorf("totalResults %v after the push of %d users", l["totalResults"], len(p.users))
		}
		if len(res) < 100 {
			break
		}
	}
	if len(byName) != len(p.users) {
		t.Errorf("%d users listed after the push of %d", len(byName), len(p.users))
	}
	for i, u := range p.users {
		got := byName[u.UserName]
		if got == nil {
			t.Errorf("%s is missing", u.UserName)
			continue
		}
		name, _ := got["name"].(map[string]any)
		emails, _ := got["emails"].([]any)
		ent, _ := got["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"].(map[string]any)
		var email any
		if len(emails) == 1 {
			email = emails[0].(map[string]any)["value"]
		}
		if got["id"] != ids[i] || got["externalId"] != u.ExternalID || got["displayName"] != u.DisplayName || got["active"] != true ||
			name["givenName"] != u.GivenName || name["familyName"] != u.FamilyName || email != u.UserName || ent["department"] != u.Department {
			t.Errorf("%s is not as sent (id %s): %v", u.UserName, ids[i], got)
		}
	}
	for g, gid := range gids {
		code, grp := c.do("GET", "/Groups/"+gid, nil)
		if code != http.StatusOK {
			t.Fatalf("GET group %s: %d %v", p.groups[g], code, grp)
		}
		var got, want []string
		members, _ := grp["members"].([]any)
		for _, m := range members {
			got = append(got, m.(map[string]any)["value"].(string))
		}
		for i := g; i < len(ids); i += 2 {
			if !p.removed(i) {
				want = append(want, ids[i])
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if grp["displayName"] != p.groups[g] || !slices.Equal(got, want) {
			t.Errorf("group %s: %v with %d members, want %d (%d missing or extra)", p.groups[g], grp["displayName"], len(got), len(want), symDiff(got, want))
		}
	}

	// In the database: one creation audited per user (the audit event
	// is written in the change's transaction), and the user count the
	// trigger keeps equals the rows.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var users, creations, distinct, kept int
	if err := conn.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM users u WHERE u.org_id = o.id AND u.source = 'scim'),
			(SELECT count(*) FROM audit_events a JOIN users u ON u.org_id = a.org_id AND u.id::text = a.resource_id
				WHERE a.org_id = o.id AND a.action = 'user.create' AND u.source = 'scim'),
			(SELECT count(DISTINCT resource_id) FROM audit_events a WHERE a.org_id = o.id AND a.action = 'user.create'
				AND resource_id <> ALL (SELECT id::text FROM users WHERE org_id = o.id AND source <> 'scim')),
			(SELECT coalesce(sum(n), 0) FROM user_counts c WHERE c.org_id = o.id)
		FROM organizations o WHERE o.slug = $1`, org).Scan(&users, &creations, &distinct, &kept); err != nil {
		t.Fatal(err)
	}
	if users != len(p.users) || creations != users || distinct != users || kept != users {
		t.Errorf("in the database: %d users from SCIM, %d creations of them audited, %d users created (not counting others), kept count %d; want %d of each",
			users, creations, distinct, kept, len(p.users))
	}
}

func symDiff(a, b []string) int {
	in := map[string]int{}
	for _, s := range a {
		in[s]++
	}
	for _, s := range b {
		in[s]--
	}
	n := 0
	for v := range maps.Values(in) {
		if v != 0 {
			n++
		}
	}
	return n
}

// scimBase is the SCIM base URL of org on a server at base.
func scimBase(base, org string) string { return strings.TrimRight(base, "/") + "/scim/v2/" + org }

// count is how many answers had the status code so far.
func (c *idpClient) count(code int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statuses[code]
}
