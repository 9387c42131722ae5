package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/events"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/scim"
)

// feedPage is a page of GET …/events.
type feedPage struct {
	Events []struct {
		ID, Cursor, Type, OrganizationID, ResourceType, ResourceID string
		Actor                                                      struct{ Kind, Name string }
		Data                                                       json.RawMessage
	}
	Next string
}

func (tn *tenant) feed(query string) feedPage {
	tn.t.Helper()
	r := tn.do("GET", "/events"+query, nil)
	if r.status != 200 {
		tn.t.Fatalf("GET events%s: %d %s", query, r.status, r.body)
	}
	var p feedPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		tn.t.Fatal(err)
	}
	return p
}

func (tn *tenant) sequence() {
	tn.t.Helper()
	for {
		n, err := tn.db.SequenceEvents(context.Background(), 1000)
		if err != nil {
			tn.t.Fatal(err)
		}
		var waiting int
		if err := tn.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE org_id = $1 AND seq IS NULL`, tn.id).Scan(&waiting); err != nil {
			tn.t.Fatal(err)
		}
		if n == 0 && waiting == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFeedPagesThroughChangesInOrderAndKeepsItsCursorWhenEmpty(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.sequence() // the organization's own events (its owner and their role)
	head := tn.must(200, "GET", "/events/head", nil)["head"]
	ann := tn.scimUser("ann@example.com")
	ws := tn.workspace("data")
	tn.must(201, "POST", "/bindings", map[string]any{"role": "editor", "workspace": ws.ID, "user": ann.ID})
	tn.sequence()

	// From the head taken before: the two changes, one per page.
	p1 := tn.feed("?limit=1&after=" + str(head))
	p2 := tn.feed("?limit=1&after=" + p1.Next)
	p3 := tn.feed("?limit=1&after=" + p2.Next)
	if len(p1.Events) != 1 || p1.Events[0].Type != "user.created" || p1.Events[0].ResourceID != ann.ID || p1.Events[0].ResourceType != "user" {
		t.Fatalf("first page %+v", p1)
	}
	if len(p2.Events) != 1 || p2.Events[0].Type != "role.granted" || p2.Events[0].Actor.Kind != "api-token" {
		t.Fatalf("second page %+v", p2)
	}
	var role struct {
		User         struct{ ID string }
		Workspace    struct{ Name string }
		Role         string
		PreviousRole *string
	}
	if err := json.Unmarshal(p2.Events[0].Data, &role); err != nil || role.User.ID != ann.ID || role.Workspace.Name != "data" ||
		role.Role != "editor" || role.PreviousRole != nil {
		t.Fatalf("role data %s %v", p2.Events[0].Data, err)
	}
	if p1.Next != p1.Events[0].Cursor || p2.Next != p2.Events[0].Cursor {
		t.Fatalf("next is not the last event's cursor: %+v %+v", p1, p2)
	}
	if len(p3.Events) != 0 || p3.Next != p2.Next {
		t.Fatalf("past the end: %+v, want an empty page with the same cursor %s", p3, p2.Next)
	}
	// The head now is the last event's cursor.
	if h := tn.must(200, "GET", "/events/head", nil)["head"]; h != p2.Next {
		t.Fatalf("head %v, want %s", h, p2.Next)
	}
	// From the beginning, filtered: the break-glass owner's grant, then
	// ann's.
	p := tn.feed("?types=role.*")
	if len(p.Events) != 2 || p.Events[1].Cursor != p2.Next {
		t.Fatalf("role.* from the beginning: %+v", p)
	}
	p = tn.feed("?types=user.created&types=group.created")
	if len(p.Events) != 2 || p.Events[1].ResourceID != ann.ID {
		t.Fatalf("user.created, group.created: %+v", p)
	}
}

func TestFeedRefusesWhatItCannotReadWithAProblem(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	for _, q := range []string{"?after=42", "?after=c1_-1", "?after=c1_", "?after=c2_1", "?types=user.nope", "?types=*",
		"?limit=0", "?limit=1001", "?limit=x", "?types=" + strings.Repeat("user.created,", 33) + "user.created"} {
		m := problem(t, tn.do("GET", "/events"+q, nil), 400, "invalid")
		if !strings.Contains(str(m["detail"]), strings.SplitN(strings.TrimPrefix(q, "?"), "=", 2)[0]) && !strings.Contains(str(m["detail"]), "cursor") &&
			!strings.Contains(str(m["detail"]), "event type") {
			t.Errorf("%s: detail %q does not say what is wrong", q, m["detail"])
		}
	}
	for _, q := range []string{"?limit=1", "?limit=1000", "?after=c1_0", "?types=user.*,role.granted"} {
		if r := tn.do("GET", "/events"+q, nil); r.status != 200 {
			t.Errorf("%s: %d %s", q, r.status, r.body)
		}
	}
}

func TestFeedCursorOlderThanRetentionIsGoneWithWhatToDo(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	tn.scimUser("ann@example.com")
	tn.sequence()
	first := tn.feed("?limit=1")
	ctx := context.Background()
	if _, err := tn.db.Pool.Exec(ctx, `UPDATE events SET occurred_at = now() - interval '31 days' WHERE org_id = $1`, tn.id); err != nil {
		t.Fatal(err)
	}
	if n := events.New(events.Config{Store: tn.db}).PruneOnce(ctx); n != 3 {
		t.Fatalf("pruned %d, want 3", n)
	}
	for _, q := range []string{"", "?after=" + first.Next} {
		m := problem(t, tn.do("GET", "/events"+q, nil), 410, "gone")
		for _, want := range []string{"retention", "/api/v1/orgs/acme/events/head", "list the resources again", "follow the feed from the head"} {
			if !strings.Contains(str(m["detail"]), want) {
				t.Errorf("%q: detail %q does not say %q", q, m["detail"], want)
			}
		}
	}
	// The way out: the head, and the feed from it.
	head := str(tn.must(200, "GET", "/events/head", nil)["head"])
	bob := tn.scimUser("bob@example.com")
	tn.sequence()
	if p := tn.feed("?after=" + head); len(p.Events) != 1 || p.Events[0].ResourceID != bob.ID {
		t.Fatalf("from the head: %+v", p)
	}
}

func TestFeedIsTheOrganizationsOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acme, other := e.tenant("acme"), e.tenant("other")
	ann := acme.scimUser("ann@example.com")
	zed := other.scimUser("zed@example.com")
	acme.sequence()
	other.sequence()
	// Another organization's token: 404, as for an organization that
	// does not exist.
	for _, path := range []string{"/events", "/events/head"} {
		problem(t, e.send(other.token, "GET", acme.url(path), nil), 404, "not-found")
	}
	for _, c := range []struct {
		tn   *tenant
		want string
	}{{acme, ann.ID}, {other, zed.ID}} {
		p := c.tn.feed("?types=user.created")
		var ids []string
		for _, ev := range p.Events {
			if ev.OrganizationID != c.tn.id {
				t.Fatalf("%s's feed holds an event of %s", c.tn.slug, ev.OrganizationID)
			}
			ids = append(ids, ev.ResourceID)
		}
		if len(ids) != 2 || ids[1] != c.want { // the break-glass owner, then the user
			t.Fatalf("%s's users: %v", c.tn.slug, ids)
		}
	}
	// Only an org admin follows the feed.
	member := acme.scimUser("mo@example.com")
	problem(t, e.send(acme.tokenFor(member, "mo"), "GET", acme.url("/events"), nil), 403, "forbidden")
}

// TestConcurrentSCIMPushesReachAFollowingConsumerExactlyOnce pushes users
// over SCIM from many clients at once while a consumer follows the feed
// over the admin API with small pages, and the sequencer runs as serve
// runs it. When the pushes are done and the feed is drained, the
// consumer must have seen each created user exactly once, and nothing
// else of type user.created but the break-glass owner.
func TestConcurrentSCIMPushesReachAFollowingConsumerExactlyOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	ctx := context.Background()
	org, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	_, scimToken, err := db.CreateSCIMToken(ctx, org.ID, "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	tn := &tenant{slug: "acme", id: org.ID}
	owner, err := db.FindMember(ctx, org.ID, "break-glass-owner")
	if err != nil {
		t.Fatal(err)
	}
	_, apiToken, err := db.CreateAPIToken(ctx, seed, org.ID, owner.ID, "feed", 0)
	if err != nil {
		t.Fatal(err)
	}
	hs := httpserver.New(httpserver.Config{Ready: db.Ready})
	api.New(api.Config{Store: db}).Mount(hs)
	scim.New(scim.Config{Store: db}).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	tn.env = &env{t: t, db: db, srv: srv}
	tn.token = apiToken

	runCtx, stop := context.WithCancel(ctx)
	runDone := make(chan struct{})
	go func() {
		events.New(events.Config{Store: db, Interval: 5 * time.Millisecond}).Run(runCtx)
		close(runDone)
	}()
	defer func() { stop(); <-runDone }()

	const clients, perClient = 8, 30
	var (
		mu      sync.Mutex
		created = map[string]bool{}
		wg      sync.WaitGroup
	)
	for c := range clients {
		wg.Go(func() {
			for i := range perClient {
				body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d-%d@example.com","active":true}`, c, i)
				req, _ := http.NewRequest("POST", srv.URL+"/scim/v2/acme/Users", bytes.NewBufferString(body))
				req.Header.Set("Authorization", "Bearer "+scimToken)
				req.Header.Set("Content-Type", "application/scim+json")
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var u struct{ ID string }
				err = json.NewDecoder(resp.Body).Decode(&u)
				resp.Body.Close()
				if resp.StatusCode != 201 || err != nil {
					t.Errorf("POST /Users: %d %v", resp.StatusCode, err)
					return
				}
				mu.Lock()
				created[u.ID] = true
				mu.Unlock()
			}
		})
	}
	pushed := make(chan struct{})
	go func() { wg.Wait(); close(pushed) }()

	seen := map[string]int{}
	cursor, last := "", int64(0)
	// fail stops the test once the pushers are done: they report to t.
	fail := func(format string, args ...any) {
		t.Helper()
		<-pushed
		t.Fatalf(format, args...)
	}
	deadline := time.Now().Add(90 * time.Second)
	for done := false; ; {
		p := tn.feed("?types=user.created&limit=7&after=" + cursor)
		for _, ev := range p.Events {
			pos, err := directory.ParseCursor(ev.Cursor)
			if err != nil || pos <= last {
				fail("cursor %s after %s: not increasing (%v)", ev.Cursor, cursor, err)
			}
			seen[ev.ResourceID]++
			cursor, last = ev.Cursor, pos
		}
		if p.Next != cursor && len(p.Events) > 0 {
			fail("next %s, last event %s", p.Next, cursor)
		}
		cursor = p.Next
		if done && len(p.Events) == 0 {
			// Drained when nothing waits for the sequencer either.
			var waiting int
			if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE org_id = $1 AND seq IS NULL`, org.ID).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting == 0 {
				if p := tn.feed("?types=user.created&after=" + cursor); len(p.Events) == 0 {
					break
				}
			}
		}
		select {
		case <-pushed:
			done = true
		default:
		}
		if time.Now().After(deadline) {
			fail("the consumer saw %d of %d users in time", len(seen), len(created))
		}
	}
	if t.Failed() {
		return
	}
	if len(created) != clients*perClient {
		t.Fatalf("%d users created", len(created))
	}
	for id, n := range seen {
		switch {
		case n != 1:
			t.Errorf("user %s seen %d times", id, n)
		case !created[id] && id != owner.ID:
			t.Errorf("user %s in the feed was not pushed", id)
		}
	}
	for id := range created {
		if seen[id] == 0 {
			t.Errorf("user %s never reached the consumer", id)
		}
	}
}
