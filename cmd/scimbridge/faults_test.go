package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/pgcluster"
)

// PostgreSQL stopped and started again in the middle of an IdP push, as a
// restart or failover does: requests meanwhile get 503 with Retry-After
// (never a 500), the pool recovers by itself, and after the clients'
// retries every user exists exactly once. The clients push as Okta does:
// look the userName up, create it when absent, retry on 503 and 429.
func TestAPostgreSQLRestartMidPushLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("restarts a PostgreSQL cluster")
	}
	ctx := context.Background()
	dir, cl, rs, token := privateServe(t, "5s")
	base := rs.base + "/scim/v2/acme"

	var statuses sync.Map // status → count
	count := func(code int) {
		v, _ := statuses.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	do := func(method, path string, body any) (int, map[string]any) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		count(resp.StatusCode)
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", method, path)
		}
		return resp.StatusCode, m
	}
	// push provisions one user as Okta does, retrying until it exists.
	push := func(name string) error {
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			code, l := do("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+name+`"`)+"&startIndex=1&count=100", nil)
			if code == http.StatusOK {
				if l["totalResults"] != float64(0) {
					return nil
				}
				code, _ = do("POST", "/Users", map[string]any{
					"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name,
					"externalId": "ext-" + name, "active": true, "password": "x", "groups": []any{},
					"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}},
				})
				if code == http.StatusCreated || code == http.StatusConflict {
					continue // confirm by the lookup
				}
			}
			time.Sleep(100 * time.Millisecond) // Okta backs off; Retry-After is 5 s, shortened here
		}
		return fmt.Errorf("%s never provisioned", name)
	}

	const workers, each = 4, 60
	var done atomic.Int64
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := push(fmt.Sprintf("user-%d-%d@example.com", w, i)); err != nil {
					errs <- err
				}
				done.Add(1)
			}
		}()
	}
	// Restart once a third of the push is in.
	for done.Load() < workers*each/3 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := cl.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, rs.base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with PostgreSQL stopped = %d, want 503", code)
	}
	time.Sleep(time.Second)
	if _, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	got := map[int]int64{}
	statuses.Range(func(k, v any) bool { got[k.(int)] = v.(*atomic.Int64).Load(); return true })
	if got[http.StatusInternalServerError] > 0 {
		t.Errorf("%d answers were 500 during the restart: %v", got[http.StatusInternalServerError], got)
	}
	if got[http.StatusServiceUnavailable] == 0 {
		t.Logf("no 503 seen (the restart fell between requests): %v", got)
	}
	// Exactly once: the list counts every user, and no userName twice.
	code, l := do("GET", "/Users?startIndex=1&count=100", nil)
	if code != http.StatusOK || l["totalResults"] != float64(workers*each) {
		t.Fatalf("after the push: %d, %v users, want %d", code, l["totalResults"], workers*each)
	}
	t.Logf("statuses: %v", got)
}

// privateServe runs serve on a PostgreSQL cluster of the test's own, which
// the test may stop, start or pause without disturbing other tests, and
// returns the cluster's data dir, the cluster, serve, and the SCIM token
// of its organization acme.
func privateServe(t *testing.T, requestTimeout string) (string, *pgcluster.Cluster, *runningServe, string) {
	t.Helper()
	dir := dataDir(t)
	cl, err := pgcluster.Start(context.Background(), pgcluster.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Stop(context.Background()) })
	rs := startServe(t, map[string]string{
		"DATABASE_URL":                    cl.DSN("postgres"),
		"SCIMBRIDGE_REQUIRE_DATABASE_URL": "true",
	}, "--init-org", "acme", "--request-timeout", requestTimeout)
	return dir, cl, rs, rs.initOrgToken(t)
}

// A paused database (its postmaster and every backend stopped with
// SIGSTOP, as a frozen VM or a stalled disk does): no request hangs. Each
// gets its answer, 503 with Retry-After, within the request deadline, and
// all works again once the database runs.
func TestAPausedDatabaseAnswersWithinTheDeadline(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("pauses a PostgreSQL cluster")
	}
	dir, _, rs, token := privateServe(t, "1s")
	get := func(path string) (int, string, time.Duration) {
		req, _ := http.NewRequest("GET", rs.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start)
	}
	if code, _, _ := get("/scim/v2/acme/Users"); code != http.StatusOK {
		t.Fatalf("before the pause: %d", code)
	}
	pid, err := os.ReadFile(filepath.Join(dir, "pg", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	postmaster := strings.SplitN(string(pid), "\n", 2)[0]
	signal := func(sig string) {
		// The backends first on SIGSTOP, the postmaster first on SIGCONT.
		cmds := [][]string{{"pkill", "-" + sig, "-P", postmaster}, {"kill", "-" + sig, postmaster}}
		if sig == "CONT" {
			cmds[0], cmds[1] = cmds[1], cmds[0]
		}
		for _, c := range cmds {
			_ = exec.Command(c[0], c[1:]...).Run()
		}
	}
	signal("STOP")
	paused := true
	t.Cleanup(func() {
		if paused {
			signal("CONT")
		}
	})
	for _, path := range []string{"/scim/v2/acme/Users", "/scim/v2/acme/Users?filter=" + url.QueryEscape(`userName eq "x"`), "/readyz"} {
		code, retry, took := get(path)
		if code != http.StatusServiceUnavailable || took > 10*time.Second {
			t.Errorf("GET %s on a paused database: %d after %v, want 503 within the 1 s deadline", path, code, took)
		}
		if path != "/readyz" && retry == "" {
			t.Errorf("GET %s: 503 without Retry-After", path)
		}
	}
	signal("CONT")
	paused = false
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, _ := get("/scim/v2/acme/Users")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGCONT: still %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
