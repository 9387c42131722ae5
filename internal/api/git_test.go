package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/directory"
)

func sha(n int) string { return fmt.Sprintf("%040x", n) }

// commit is an author observation of commit n on acme/pipes, ago before
// now.
func commit(n int, email, login string, ago time.Duration) map[string]any {
	return map[string]any{"provider": "github", "repo": "acme/pipes", "sha": sha(n), "name": "N" + fmt.Sprint(n),
		"email": email, "login": login, "time": time.Now().Add(-ago).UTC().Format(time.RFC3339)}
}

// observe ingests observations through the API.
func (tn *tenant) observe(obs ...map[string]any) map[string]any {
	tn.t.Helper()
	return tn.must(200, "POST", "/git/observations", map[string]any{"observations": obs})
}

// identityID finds an identity the way the CLI does.
func (tn *tenant) identityID(provider, email, login string) string {
	tn.t.Helper()
	g, err := tn.db.FindGitIdentity(context.Background(), tn.id, provider, email, login)
	if err != nil {
		tn.t.Fatal(err)
	}
	return g.ID
}

// mapIdentity maps an identity through the API.
func (tn *tenant) mapIdentity(id, user string) map[string]any {
	tn.t.Helper()
	return tn.must(200, "PUT", "/git/identities/"+id+"/mapping", map[string]any{"user": user})
}

// deactivate deactivates a SCIM user as the IdP would.
func (tn *tenant) deactivate(u directory.User) {
	tn.t.Helper()
	if _, err := tn.db.UpdateUser(context.Background(), directory.Actor{Kind: "scim-token", Name: "idp"}, tn.id, u.ID, 0,
		func(cur directory.User) (directory.User, error) {
			attrs := make(map[string]any, len(cur.Attributes))
			for k, v := range cur.Attributes {
				attrs[k] = v
			}
			attrs["active"] = false
			cur.Attributes = attrs
			return cur, nil
		}); err != nil {
		tn.t.Fatal(err)
	}
}

func byEmail(t *testing.T, l map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, it := range l["items"].([]any) {
		m := it.(map[string]any)
		out[str(m["email"])] = m
	}
	return out
}

// A batch of observations sent twice counts its commits once: the
// second answer has no new commit, and the identities' counts stay.
func TestGitObservationsAreIdempotent(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	batch := []map[string]any{
		commit(1, "Alice@Acme.test", "Alice", time.Hour), // role defaults to author
		commit(2, "alice@acme.test", "alice", 2*time.Hour),
		{"provider": "github", "repo": "acme/infra", "sha": sha(3), "name": "Bob", "email": "bob@acme.test", "role": "committer"},
		{"provider": "github", "repo": "acme/pipes", "name": "Bob", "login": "bob", "role": "pusher"},
	}
	want := []struct {
		name                                 string
		observations, newCommits, identities float64
	}{
		{"first time", 4, 3, 3},
		{"sent again", 4, 0, 3},
	}
	for _, w := range want {
		t.Run(w.name, func(t *testing.T) {
			got := tn.in(t).observe(batch...)
			if got["observations"] != w.observations || got["newCommits"] != w.newCommits || got["identities"] != w.identities {
				t.Fatalf("ingest %v, want %v", got, w)
			}
		})
	}
	l := tn.must(200, "GET", "/git/identities", nil)
	if l["total"] != float64(3) {
		t.Fatalf("identities %v", l)
	}
	ids := byEmail(t, l)
	alice := ids["alice@acme.test"]
	if alice["login"] != "alice" || alice["commits"] != float64(2) || alice["name"] != "N1" || alice["mappedTo"] != nil ||
		fmt.Sprint(alice["repos"]) != "[acme/pipes]" || len(alice["suggestions"].([]any)) != 0 {
		t.Fatalf("alice's identity %v", alice)
	}
	if bob := ids["bob@acme.test"]; bob["commits"] != float64(1) || fmt.Sprint(bob["repos"]) != "[acme/infra]" {
		t.Fatalf("bob's commit identity %v", bob)
	}
	if pusher := ids[""]; pusher["login"] != "bob" || pusher["commits"] != float64(0) {
		t.Fatalf("bob's pusher identity %v", pusher)
	}
}

// One bad observation refuses the batch: 400 naming it, and nothing is
// stored. Batches beyond 5000 observations or MaxBody are 413.
func TestBadGitObservationRefusesTheBatch(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	good := commit(1, "alice@acme.test", "alice", time.Hour)
	with := func(k string, v any) map[string]any {
		o := map[string]any{}
		for k, v := range good {
			o[k] = v
		}
		if v == nil {
			delete(o, k)
		} else {
			o[k] = v
		}
		return o
	}
	noKey := with("email", nil) // a login alone names an identity; without it, nothing does
	delete(noKey, "login")
	cases := []struct {
		name   string
		bad    map[string]any
		detail string
	}{
		{"no provider", with("provider", nil), "observation 2: provider is required"},
		{"a provider in capitals", with("provider", "GitHub"), "observation 2: provider"},
		{"a repo without owner", with("repo", "pipes"), "observation 2: repo \"pipes\" must be owner/name"},
		{"an abbreviated sha", with("sha", "abc1234"), "observation 2: sha"},
		{"a sha in capitals", with("sha", strings.ToUpper(sha(0xabcdef))), "observation 2: sha"},
		{"an author without sha", with("sha", nil), "observation 2: sha is required"},
		{"a pusher with a sha", with("role", "pusher"), "observation 2: sha must be empty"},
		{"an unknown role", with("role", "reviewer"), "observation 2: role"},
		{"neither email nor login", noKey, "observation 2: email or login is required"},
		{"a control character", with("name", "a\x00b"), "observation 2: name must not contain control characters"},
		{"a bad time", with("time", "yesterday"), "observation 2: time"},
		{"a wrong type", with("sha", 7), "observations.sha must be a JSON string"},
		{"an unknown field", with("author", "x"), `unknown field "author"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tn.in(t).do("POST", "/git/observations", map[string]any{"observations": []any{good, c.bad}})
			p := problem(t, r, 400, "invalid")
			if !strings.Contains(str(p["detail"]), c.detail) {
				t.Fatalf("detail %q does not contain %q", p["detail"], c.detail)
			}
		})
	}
	p := problem(t, tn.do("POST", "/git/observations", map[string]any{"observations": []any{}}), 400, "invalid")
	if !strings.Contains(str(p["detail"]), "observations is required") {
		t.Fatalf("detail %q", p["detail"])
	}
	big := make([]any, 0, 600)
	for i := range 600 {
		big = append(big, commit(i, "alice@acme.test", "alice", time.Hour))
	}
	p = problem(t, tn.do("POST", "/git/observations", map[string]any{"observations": big}), 413, "too-large")
	if !strings.Contains(str(p["detail"]), "larger than 65536 bytes") {
		t.Fatalf("detail %q", p["detail"])
	}
	if l := tn.must(200, "GET", "/git/identities?recent=all", nil); l["total"] != float64(0) {
		t.Fatalf("a refused batch stored identities: %v", l)
	}

	// More than 5000 observations in a body MaxBody allows.
	large := newEnv(t, withConfig(func(c *api.Config) { c.MaxBody = 4 << 20 })).tenant("acme")
	many := make([]map[string]any, 0, 5001)
	for i := range 5001 {
		many = append(many, map[string]any{"provider": "github", "repo": "a/b", "sha": sha(i), "email": "a@b.test"})
	}
	p = problem(t, large.do("POST", "/git/observations", map[string]any{"observations": many}), 413, "too-large")
	if !strings.Contains(str(p["detail"]), "5001 observations: at most 5000") {
		t.Fatalf("detail %q", p["detail"])
	}
	if l := large.must(200, "GET", "/git/identities?recent=all", nil); l["total"] != float64(0) {
		t.Fatalf("a refused batch stored identities: %v", l)
	}
}

// The mapping screen's list: recent identities (90 days by default),
// unmapped first when asked, each with its owner and the users suggested
// for it.
func TestGitIdentitiesListForMapping(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	alice := tn.scimUser("alice@acme.test")
	tn.scimUser("bob@acme.test")
	for _, n := range []string{"s1@acme.test", "s2@acme.test"} {
		if _, err := tn.db.CreateUser(context.Background(), seed, directory.User{OrgID: tn.id, Kind: directory.KindHuman, Source: directory.SourceJIT,
			Attributes: map[string]any{"userName": n, "emails": []any{map[string]any{"value": n}, map[string]any{"value": "shared@acme.test"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	gone := tn.user("gone@acme.test", directory.SourceJIT)
	tn.must(204, "DELETE", "/users/"+gone.ID, nil)

	tn.observe(
		commit(1, "alice@acme.test", "alice", 1*time.Hour),
		commit(2, "shared@acme.test", "", 2*time.Hour),
		commit(3, "123+octo@users.noreply.github.com", "octo", 3*time.Hour),
		commit(4, "gone@acme.test", "", 4*time.Hour),
		commit(5, "bob@acme.test", "bobby", 5*time.Hour),
		commit(6, "alice@acme.test", "alice-2", 6*time.Hour),
		commit(7, "old@acme.test", "", 200*24*time.Hour),
	)
	tn.mapIdentity(tn.identityID("github", "bob@acme.test", "bobby"), "alice@acme.test")
	tn.mapIdentity(tn.identityID("github", "alice@acme.test", "alice-2"), alice.ID)

	cases := []struct {
		query string
		want  []string // logins, or emails for those without
		total float64
	}{
		{"", []string{"alice", "shared@acme.test", "octo", "gone@acme.test", "bobby", "alice-2"}, 6},
		{"?recent=all", []string{"alice", "shared@acme.test", "octo", "gone@acme.test", "bobby", "alice-2", "old@acme.test"}, 7},
		{"?recent=365d", []string{"alice", "shared@acme.test", "octo", "gone@acme.test", "bobby", "alice-2", "old@acme.test"}, 7},
		{"?recent=90m", []string{"alice"}, 1},
		{"?unmappedFirst=true", []string{"alice", "shared@acme.test", "octo", "gone@acme.test", "bobby", "alice-2"}, 6},
		{"?unmappedFirst=true&limit=2&offset=3", []string{"gone@acme.test", "bobby"}, 6},
		{"?user=alice@acme.test", []string{"bobby", "alice-2"}, 2},
		{"?user=" + alice.ID + "&recent=1h", []string{}, 0},
		{"?limit=2&offset=1", []string{"shared@acme.test", "octo"}, 6},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			l := tn.in(t).must(200, "GET", "/git/identities"+c.query, nil)
			var got []string
			for _, it := range l["items"].([]any) {
				m := it.(map[string]any)
				k := str(m["login"])
				if k == "" {
					k = str(m["email"])
				}
				got = append(got, k)
			}
			if !slices.Equal(got, c.want) || l["total"] != c.total {
				t.Fatalf("got %q (total %v), want %q (total %v)", got, l["total"], c.want, c.total)
			}
		})
	}

	// Owners and suggestions, by login.
	l := tn.must(200, "GET", "/git/identities?recent=all", nil)
	type view struct{ mappedTo, suggestions string }
	got := map[string]view{}
	for _, it := range l["items"].([]any) {
		m := it.(map[string]any)
		k := str(m["login"])
		if k == "" {
			k = str(m["email"])
		}
		v := view{mappedTo: "-"}
		if to, ok := m["mappedTo"].(map[string]any); ok {
			v.mappedTo = fmt.Sprintf("%s %s %s %s", to["userName"], to["displayName"], to["status"], to["kind"])
			if to["id"] != alice.ID {
				t.Fatalf("mappedTo %v", to)
			}
		}
		var sug []string
		for _, s := range m["suggestions"].([]any) {
			s := s.(map[string]any)
			sug = append(sug, fmt.Sprintf("%s %s %s", s["userName"], s["status"], s["kind"]))
		}
		v.suggestions = strings.Join(sug, ", ")
		got[k] = v
	}
	aliceRef := "alice@acme.test alice@acme.test active human"
	want := map[string]view{
		"alice": {"-", "alice@acme.test active human"},
		// Two users share the address.
		"shared@acme.test": {"-", ""},
		// A noreply address names no mailbox.
		"octo": {"-", ""},
		// A removed user is not suggested.
		"gone@acme.test": {"-", ""},
		// The address's user is suggested, though the identity is alice's.
		"bobby": {aliceRef, "bob@acme.test active human"},
		// The owner is not suggested.
		"alice-2":       {aliceRef, ""},
		"old@acme.test": {"-", ""},
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %+v, want %+v", k, got[k], w)
		}
	}

	bad := []string{"?recent=forever", "?recent=0d", "?unmappedFirst=yes", "?limit=0"}
	for _, q := range bad {
		t.Run(q, func(t *testing.T) { problem(t, tn.in(t).do("GET", "/git/identities"+q, nil), 400, "invalid") })
	}
	problem(t, tn.do("GET", "/git/identities?user=nobody", nil), 404, "not-found")
}

// An identity has one owner at most: a second claim is 409 naming the
// owner, whoever asks first wins among concurrent claims, and mapping,
// unmapping are audited.
func TestGitMappingHasOneOwner(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	alice := tn.scimUser("alice@acme.test")
	tn.scimUser("bob@acme.test")
	gone := tn.user("gone@acme.test", directory.SourceJIT)
	tn.must(204, "DELETE", "/users/"+gone.ID, nil)
	tn.must(201, "POST", "/service-accounts", map[string]any{"name": "ci-bot"})
	tn.observe(commit(1, "dev@acme.test", "dev", time.Hour))
	id := tn.identityID("github", "dev@acme.test", "dev")
	mapping := "/git/identities/" + id + "/mapping"

	steps := []struct {
		name, method, path string
		body               any
		status             int
		typ                string // problem type, or the mapped userName
	}{
		{"map to alice by email", "PUT", mapping, map[string]any{"user": "alice@acme.test"}, 200, "alice@acme.test"},
		{"map to alice again, by id", "PUT", mapping, map[string]any{"user": alice.ID}, 200, "alice@acme.test"},
		{"bob's claim names alice", "PUT", mapping, map[string]any{"user": "bob@acme.test"}, 409, "conflict"},
		{"an unknown user", "PUT", mapping, map[string]any{"user": "nobody@acme.test"}, 404, "not-found"},
		{"a removed user", "PUT", mapping, map[string]any{"user": gone.ID}, 409, "conflict"},
		{"no user", "PUT", mapping, map[string]any{}, 400, "invalid"},
		{"an unknown identity", "PUT", "/git/identities/00000000-0000-0000-0000-000000000000/mapping", map[string]any{"user": "bob@acme.test"}, 404, "not-found"},
		{"a malformed identity id", "DELETE", "/git/identities/nope/mapping", nil, 404, "not-found"},
		{"unmap", "DELETE", mapping, nil, 204, ""},
		{"unmap again", "DELETE", mapping, nil, 204, ""},
		{"now bob may", "PUT", mapping, map[string]any{"user": "bob@acme.test"}, 200, "bob@acme.test"},
		{"unmap bob", "DELETE", mapping, nil, 204, ""},
		{"a service account", "PUT", mapping, map[string]any{"user": "ci-bot"}, 200, "ci-bot"},
	}
	for _, s := range steps {
		r := tn.do(s.method, s.path, s.body)
		switch {
		case s.status == 200:
			if r.status != 200 {
				t.Fatalf("%s: %d %s", s.name, r.status, r.body)
			}
			m := r.object(t)
			if to := m["mappedTo"].(map[string]any); to["userName"] != s.typ || m["id"] != id {
				t.Fatalf("%s: %v", s.name, m)
			}
		case s.status == 204:
			if r.status != 204 {
				t.Fatalf("%s: %d %s", s.name, r.status, r.body)
			}
		default:
			p := problem(t, r, s.status, s.typ)
			if s.name == "bob's claim names alice" && !strings.Contains(str(p["detail"]), "mapped to alice@acme.test") {
				t.Fatalf("%s: detail %q", s.name, p["detail"])
			}
		}
	}
	if to := tn.must(200, "GET", "/git/identities", nil)["items"].([]any)[0].(map[string]any)["mappedTo"].(map[string]any); to["kind"] != "service" {
		t.Fatalf("mapped to %v", to)
	}
	audit := names(t, tn.must(200, "GET", "/audit?resourceType=GitIdentity&resourceId="+id, nil), "action")
	if want := []string{"git.map", "git.unmap", "git.map", "git.unmap", "git.unmap", "git.map", "git.map"}; !slices.Equal(audit, want) {
		t.Fatalf("audited %q, want %q", audit, want)
	}

	// Concurrent claims of one identity: exactly one wins.
	tn.observe(commit(2, "contested@acme.test", "", time.Hour))
	contested := "/git/identities/" + tn.identityID("github", "contested@acme.test", "") + "/mapping"
	const claimants = 8
	for i := range claimants {
		tn.user(fmt.Sprintf("c%d@acme.test", i), directory.SourceJIT)
	}
	statuses := make([]int, claimants)
	var wg sync.WaitGroup
	for i := range claimants {
		wg.Go(func() {
			statuses[i] = tn.send(tn.token, "PUT", tn.url(contested), map[string]any{"user": fmt.Sprintf("c%d@acme.test", i)}).status
		})
	}
	wg.Wait()
	if slices.Sort(statuses); statuses[0] != 200 || statuses[1] != 409 || statuses[claimants-1] != 409 {
		t.Fatalf("concurrent claims answered %v, want one 200 and the rest 409", statuses)
	}
}

// resolve answers who an identity is: by email, by login, by a GitHub
// noreply address's login; a deactivated user still resolves, marked so;
// unmapped or unknown identities are 404.
func TestGitResolve(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	alice := tn.scimUser("alice@acme.test")
	bob := tn.scimUser("bob@acme.test")
	carol := tn.scimUser("carol@acme.test")
	tn.observe(
		commit(1, "alice@acme.test", "alice", time.Hour),
		commit(2, "octocat@home.test", "octocat", time.Hour),
		commit(3, "carol@acme.test", "", time.Hour),
		commit(4, "dan@acme.test", "", time.Hour),
	)
	tn.mapIdentity(tn.identityID("github", "alice@acme.test", "alice"), alice.ID)
	tn.mapIdentity(tn.identityID("github", "octocat@home.test", "octocat"), bob.ID)
	tn.mapIdentity(tn.identityID("github", "carol@acme.test", ""), carol.ID)
	tn.deactivate(carol)

	cases := []struct {
		name, query string
		status      int
		user        string // userName
		userStatus  string
		identity    string // the identity's email
	}{
		{"by email", "?email=alice@acme.test", 200, "alice@acme.test", "active", "alice@acme.test"},
		{"by email in capitals", "?email=ALICE@Acme.Test&provider=github", 200, "alice@acme.test", "active", "alice@acme.test"},
		{"by login", "?login=Alice", 200, "alice@acme.test", "active", "alice@acme.test"},
		{"by email and login", "?email=alice@acme.test&login=alice", 200, "alice@acme.test", "active", "alice@acme.test"},
		{"a GitHub noreply address by its login", "?email=12345%2Boctocat@users.noreply.github.com", 200, "bob@acme.test", "active", "octocat@home.test"},
		{"a noreply address with its + unencoded", "?email=12345+octocat@users.noreply.github.com", 200, "bob@acme.test", "active", "octocat@home.test"},
		{"an older noreply address", "?email=octocat@users.noreply.github.com", 200, "bob@acme.test", "active", "octocat@home.test"},
		{"a deactivated user", "?email=carol@acme.test", 200, "carol@acme.test", "deactivated", "carol@acme.test"},
		{"an unmapped identity", "?email=dan@acme.test", 404, "", "", ""},
		{"an unknown identity", "?email=eve@acme.test", 404, "", "", ""},
		{"another provider", "?email=alice@acme.test&provider=gitlab", 404, "", "", ""},
		{"neither email nor login", "?provider=github", 400, "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := tn.in(t).do("GET", "/git/resolve"+c.query, nil)
			switch c.status {
			case 404:
				problem(t, r, 404, "not-found")
				return
			case 400:
				problem(t, r, 400, "invalid")
				return
			}
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			m := r.object(t)
			u, g := m["user"].(map[string]any), m["identity"].(map[string]any)
			if u["userName"] != c.user || u["status"] != c.userStatus || u["kind"] != "human" || u["displayName"] != c.user || u["id"] == "" {
				t.Fatalf("user %v", u)
			}
			if g["email"] != c.identity || g["provider"] != "github" || g["mappedTo"].(map[string]any)["id"] != u["id"] || g["commits"] != float64(1) {
				t.Fatalf("identity %v", g)
			}
			if _, ok := g["suggestions"]; ok {
				t.Fatalf("resolve answers suggestions: %v", g)
			}
		})
	}
}
