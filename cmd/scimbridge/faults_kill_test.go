package main

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/pgcluster"
)

// serve killed with SIGKILL twice in the middle of an IdP push (users
// created and added to and removed from groups, in Okta's and Entra's
// shapes, by eight clients), and started again on the same data dir each
// time: the embedded PostgreSQL outlives it and is reused, the requests
// cut by the kill are retried by the clients, and in the end every user
// exists exactly once with every attribute as sent, each creation
// audited once, and each group has exactly the members the push left.
func TestSIGKILLMidPushLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills serve mid-push")
	}
	dir := dataDir(t)
	addr := freeAddr(t)
	args := []string{"serve", "--addr", addr, "--data-dir", dir, "--log-format", "json"}
	p := startProcess(t, nil, append(args, "--init-org", "acme")...)
	token := p.token(t)
	t.Cleanup(func() { stopEmbedded(t, dir) })

	base := scimBase("http://"+addr, "acme")
	var clients []*idpClient
	client := func(int) *idpClient {
		c := newIDPClient(func() string { return base }, token)
		clients = append(clients, c)
		return c
	}
	plan := newPushPlan("kill", 480)
	var done atomic.Int64
	type result struct {
		ids  []string
		gids [2]string
		errs []error
	}
	pushed := make(chan result, 1)
	var finished atomic.Bool
	go func() {
		ids, gids, errs := plan.run(8, client, func() { done.Add(1) })
		finished.Store(true)
		pushed <- result{ids, gids, errs}
	}()
	for _, at := range []int64{int64(len(plan.users)) / 3, 2 * int64(len(plan.users)) / 3} {
		for done.Load() < at && !finished.Load() {
			time.Sleep(5 * time.Millisecond)
		}
		if finished.Load() {
			break
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.exited
		killed := time.Now()
		t.Logf("serve killed after %d users", done.Load())
		p = startProcess(t, nil, args...)
		t.Logf("serving again after %v", time.Since(killed))
	}
	r := <-pushed
	for _, err := range r.errs {
		t.Error(err)
	}
	for _, c := range clients {
		c.report(t)
	}
	if t.Failed() {
		t.FailNow()
	}
	cl, err := pgcluster.Start(context.Background(), pgcluster.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	plan.check(t, newIDPClient(func() string { return base }, token), cl.DSN(embeddedDB), "acme", r.ids, r.gids)

	// The last serve stops as usual, with the cluster it found running.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if p.err != nil {
		t.Errorf("serve after SIGTERM: %v\n%s", p.err, p.stderr.String())
	}
}

// stopEmbedded stops the embedded PostgreSQL under dir if it still runs
// (a killed serve leaves it running).
func stopEmbedded(t *testing.T, dir string) {
	if _, err := os.Stat(filepath.Join(dir, "pg", "postmaster.pid")); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if cl, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir}); err == nil {
		_ = cl.Stop(ctx)
	}
}
