package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/pgcluster"
)

// SIGTERM to serve while eight clients create users as fast as it
// answers, and one request is in flight with half its body sent: that
// request completes (201) after the signal, new connections are refused
// meanwhile, serve exits 0 within --shutdown-timeout, and it stops the
// embedded PostgreSQL cleanly (no postmaster left, and the next start
// needs no crash recovery). Every user the clients were told was created
// is there, and no other: no request was cut after its work was done.
func TestSIGTERMUnderLoadFinishesWhatWasAcceptedAndStopsCleanly(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("signals serve under load")
	}
	dir := dataDir(t)
	const shutdownTimeout = 10 * time.Second
	p := startProcess(t, nil, "serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--log-format", "json",
		"--init-org", "acme", "--shutdown-timeout", shutdownTimeout.String())
	token := p.token(t)
	t.Cleanup(func() { stopEmbedded(t, dir) })
	addr := strings.TrimPrefix(p.base, "http://")
	base := scimBase(p.base, "acme")

	// The load: each client creates users one after the other on a
	// keep-alive connection, until the server is gone.
	type outcome struct {
		status int
		err    error
	}
	var (
		mu       sync.Mutex
		outcomes = map[string]outcome{}
		created  atomic.Int64
		termed   atomic.Bool
		wg       sync.WaitGroup
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
			for i := range 100000 {
				u := newPushedUser(fmt.Sprintf("term-%d-%04d", w, i))
				b, _ := json.Marshal(u.body())
				req, _ := http.NewRequest("POST", base+"/Users", strings.NewReader(string(b)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/scim+json")
				resp, err := c.Do(req)
				o := outcome{err: err}
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					o.status = resp.StatusCode
				}
				mu.Lock()
				outcomes[u.UserName] = o
				mu.Unlock()
				if o.status == http.StatusCreated {
					created.Add(1)
				}
				if err != nil {
					if !termed.Load() {
						t.Errorf("POST before SIGTERM: %v", err)
					}
					return // the server is going: an IdP retries later
				}
			}
		}()
	}
	for created.Load() < 150 {
		time.Sleep(5 * time.Millisecond)
	}

	// One request in flight: headers and half the body sent.
	slow := newPushedUser("slow")
	body, _ := json.Marshal(slow.body())
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/scim+json\r\nContent-Length: %d\r\n\r\n%s",
		addr, token, len(body), body[:len(body)/2])
	time.Sleep(100 * time.Millisecond) // read by the server up to its body

	termed.Store(true)
	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), "shutting down: finishing in-flight requests") {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not begin its shutdown:\n%s", p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// New connections are refused while the request in flight holds
	// serve: the listener is closed (just after that line is logged),
	// nothing half-accepts them.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("serve still accepts connections 5 s after SIGTERM")
		}
	}
	for range 3 {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Error("a new connection was accepted after SIGTERM")
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("a new connection after SIGTERM: %v, want it refused", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-p.exited:
		t.Fatalf("serve exited with a request in flight: %v", p.err)
	default:
	}
	if _, err := conn.Write(body[len(body)/2:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight at SIGTERM got no answer: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(answer), slow.UserName) {
		t.Errorf("the request in flight at SIGTERM: %d %s, want 201", resp.StatusCode, answer)
	}
	select {
	case <-p.exited:
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("serve did not exit within --shutdown-timeout %v", shutdownTimeout)
	}
	took := time.Since(signalled)
	if p.err != nil || took > shutdownTimeout {
		t.Errorf("serve exited %v, %v after SIGTERM; want exit status 0 within --shutdown-timeout %v\n%s", p.err, took, shutdownTimeout, p.stderr.String())
	}
	wg.Wait()

	// The embedded PostgreSQL was stopped, cleanly: its postmaster.pid
	// is gone, and the next start is not a crash recovery.
	if _, err := os.Stat(filepath.Join(dir, "pg", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after serve exited: %v; the embedded PostgreSQL was left running", err)
	}
	logFile := filepath.Join(dir, "run", "postgres.log")
	before, _ := os.ReadFile(logFile)
	ctx := context.Background()
	cl, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(logFile)
	startLog := string(after[len(before):])
	if !strings.Contains(startLog, "database system was shut down at") || strings.Contains(startLog, "not properly shut down") ||
		strings.Contains(startLog, "automatic recovery") {
		t.Errorf("the embedded PostgreSQL was not shut down cleanly; its next start logs:\n%s", startLog)
	}

	// Created exactly when the client was told so.
	db, err := pgx.Connect(ctx, cl.DSN(embeddedDB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	rows, _ := db.Query(ctx, `SELECT user_name FROM users WHERE source = 'scim'`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, n := range names {
		stored[n] = true
	}
	if !stored[slow.UserName] {
		t.Errorf("%s, answered 201 after SIGTERM, is not stored", slow.UserName)
	}
	answered, refused := 0, 0
	for name, o := range outcomes {
		switch {
		case o.status == http.StatusCreated:
			answered++
			if !stored[name] {
				t.Errorf("%s was answered 201 but is not stored", name)
			}
		case o.err != nil:
			refused++
			if stored[name] {
				t.Errorf("%s is stored, but its request was cut off without an answer: %v", name, o.err)
			}
		default:
			t.Errorf("%s: answered %d", name, o.status)
		}
	}
	if len(stored) != answered+1 {
		t.Errorf("%d users stored, %d answered 201", len(stored), answered+1)
	}
	t.Logf("%d users created, %d requests failed to connect or were cut before being read; serve exited %v after SIGTERM", answered, refused, took)
}
