package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/migrations"
)

// Two serve replicas started at the same moment on an empty, unmigrated
// database, as a Deployment's pods are: both come up (one applies the
// migrations, the other waits for its lock and finds nothing to do); an
// IdP push whose requests a load balancer spreads over both ends with
// every user once (the same users also created by two clients at once,
// one on each replica); the reconciler runs once per tick between them;
// a login session made on one works on the other; and they share the
// rate limit.
func TestTwoReplicasOnAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs two replicas and a push")
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	dsn := pgtest.EmptyDSN(t)
	env := map[string]string{"DATABASE_URL": dsn, "SCIMBRIDGE_SECRET_KEY": base64.StdEncoding.EncodeToString(key)}
	flags := []string{"--reconcile-schedule", "@every 1s", "--api-rate", "10"}
	a := launchServe(env, append(flags, "--init-org", "acme")...)
	b := launchServe(env, flags...)
	a.waitServing(t)
	b.waitServing(t)
	token := a.initOrgToken(t)
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)

	t.Run("migrations are applied once", func(t *testing.T) {
		files, err := fs.Glob(migrations.FS, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		onA, onB := strings.Count(a.stderr.String(), `"msg":"applied migration"`), strings.Count(b.stderr.String(), `"msg":"applied migration"`)
		applied := onA + onB
		t.Logf("migrations applied by a: %d, by b: %d", onA, onB)
		var rows, versions int
		if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &versions); err != nil {
			t.Fatal(err)
		}
		if applied != len(files) || rows != len(files) || versions != len(files) {
			t.Errorf("%d migrations: the replicas logged %d applied, goose recorded %d (%d versions)", len(files), applied, rows, versions)
		}
	})

	// The load balancer: each request to the next replica.
	var turn atomic.Int64
	spread := func() string {
		if turn.Add(1)%2 == 0 {
			return scimBase(a.base, "acme")
		}
		return scimBase(b.base, "acme")
	}
	plan := newPushPlan("replica", 300)

	t.Run("a user created on both at once exists once", func(t *testing.T) {
		onA := newIDPClient(func() string { return scimBase(a.base, "acme") }, token)
		onB := newIDPClient(func() string { return scimBase(b.base, "acme") }, token)
		var wg sync.WaitGroup
		idA, idB := make([]string, 100), make([]string, 100)
		errs := make(chan error, 200)
		for w := range 4 {
			wg.Add(2)
			for c, ids := range map[*idpClient][]string{onA: idA, onB: idB} {
				go func() {
					defer wg.Done()
					for i := w; i < len(ids); i += 4 {
						id, err := c.pushUser(plan.users[i])
						if err != nil {
							errs <- err
						}
						ids[i] = id
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for i := range idA {
			if idA[i] == "" || idA[i] != idB[i] {
				t.Errorf("%s: created as %q on one replica and %q on the other", plan.users[i].UserName, idA[i], idB[i])
			}
		}
		onA.report(t)
		onB.report(t)
		if onA.statuses[http.StatusConflict]+onB.statuses[http.StatusConflict] == 0 {
			t.Log("no race: each user was found by the lookup of the second client")
		}
	})

	t.Run("a push spread over both is exactly once", func(t *testing.T) {
		c := newIDPClient(spread, token)
		ids, gids, errs := plan.run(8, func(int) *idpClient { return c }, func() {})
		for _, err := range errs {
			t.Error(err)
		}
		c.report(t)
		plan.check(t, c, dsn, "acme", ids, gids)
	})

	t.Run("the reconciler runs once per tick", func(t *testing.T) {
		// Over a few ticks of "@every 1s": a run every tick, by one
		// replica or the other, never two in one tick.
		var from time.Time
		if err := db.QueryRow(ctx, `SELECT now()`).Scan(&from); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		rows, _ := db.Query(ctx, `SELECT started_at FROM reconcile_runs r JOIN organizations o ON o.id = r.org_id
			WHERE o.slug = 'acme' AND started_at >= $1 AND started_at < $1 + interval '5 seconds' ORDER BY started_at`, from)
		starts, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(starts); i++ {
			if gap := starts[i].Sub(starts[i-1]); gap < 500*time.Millisecond {
				t.Errorf("two runs %v apart, at %v and %v", gap, starts[i-1], starts[i])
			}
		}
		// A tick may pass unrun when the one before ran late (a loaded
		// machine): its run counts for both.
		if len(starts) < 3 || len(starts) > 5 {
			t.Errorf("%d runs in 5 s of a one-second schedule: %v", len(starts), starts)
		}
		t.Logf("runs: %v", starts)
	})

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	t.Run("a session made on one works on the other", func(t *testing.T) {
		out, _ := runCLI(t, env, "breakglass", "--org", "acme", "--public-url", a.base)
		link, err := url.Parse(strings.TrimSpace(out))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := browser.PostForm(a.base+"/auth/acme/breakglass", url.Values{"token": {link.Query().Get("token")}})
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/orgs/acme/" {
			t.Fatalf("sign-in on replica a: %d at %s", resp.StatusCode, resp.Request.URL)
		}
		for name, rs := range map[string]*runningServe{"a": a, "b": b} {
			resp, err := browser.Get(rs.base + "/auth/acme/me")
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "break-glass-owner") {
				t.Errorf("the session on replica %s: %d %s", name, resp.StatusCode, body)
			}
		}
	})

	t.Run("they share the rate limit", func(t *testing.T) {
		// --api-rate 10 is the service's: a burst of 20, 10 on each of
		// two replicas, once both count two by their heartbeats.
		for _, rs := range []*runningServe{a, b} {
			deadline := time.Now().Add(25 * time.Second)
			for {
				_, m := get(t, rs.base+"/metrics")
				if strings.Contains(m, "\nscimbridge_replicas_live 2\n") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a replica does not count two replicas:\n%s", m)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		for name, rs := range map[string]*runningServe{"a": a, "b": b} {
			// Twenty at once, so that little refills meanwhile (5/s).
			var admitted atomic.Int64
			var wg sync.WaitGroup
			began := time.Now()
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := browser.Get(rs.base + "/api/v1/orgs/acme/users")
					if err != nil {
						t.Error(err)
						return
					}
					body := readAll(t, resp)
					switch resp.StatusCode {
					case http.StatusOK:
						admitted.Add(1)
					case http.StatusTooManyRequests:
					default:
						t.Errorf("replica %s: %d %s", name, resp.StatusCode, body)
					}
				}()
			}
			wg.Wait()
			refilled := int64(time.Since(began).Seconds()*5) + 1
			if n := admitted.Load(); n < 10 || n > 10+refilled {
				t.Errorf("replica %s admitted %d of 20 at once, want its share of the service's burst, 10 (and %d refilled)", name, n, refilled)
			}
		}
	})
}
