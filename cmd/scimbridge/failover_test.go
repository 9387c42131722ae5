package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/pgcluster"
)

// A primary switch in the middle of an IdP push: DATABASE_URL names a
// primary and its streaming standby (libpq's multi-host form, with
// target_session_attrs=read-write, as an HA PostgreSQL's clients do).
// The primary stops a third of the way in and the standby is promoted:
// meanwhile requests get 503 with Retry-After (never 500), the pool finds
// the new primary by itself, and after the clients' retries every user
// exists exactly once, as sent, with its group memberships.
func TestAFailoverMidPushLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("promotes a standby mid-push")
	}
	ctx := context.Background()
	primaryDir := dataDir(t)
	primary, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: primaryDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = primary.Stop(context.Background()) })
	admin, err := pgx.Connect(ctx, primary.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE scimbridge`); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)

	// The standby: a base backup of the primary that streams from it
	// (pg_basebackup -R writes standby.signal and primary_conninfo).
	standbyDir := dataDir(t)
	if err := os.Mkdir(standbyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(standbyDir, "pg"), 0o700); err != nil {
		t.Fatal(err)
	}
	uid, gid := postgresAccount(t)
	if err := os.Chown(filepath.Join(standbyDir, "pg"), uid, gid); err != nil {
		t.Fatal(err)
	}
	pgTool(t, "pg_basebackup", "-h", filepath.Join(primaryDir, "run"), "-p", "5432", "-U", "postgres",
		"-D", filepath.Join(standbyDir, "pg"), "-R", "-X", "stream", "-c", "fast")
	standby, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: standbyDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = standby.Stop(context.Background()) })

	dsn := "host=" + filepath.Join(primaryDir, "run") + "," + filepath.Join(standbyDir, "run") +
		" port=5432,5432 user=postgres dbname=scimbridge sslmode=disable target_session_attrs=read-write"
	rs := startServe(t, map[string]string{"DATABASE_URL": dsn, "SCIMBRIDGE_REQUIRE_DATABASE_URL": "true"},
		"--init-org", "acme", "--request-timeout", "5s")
	token := rs.initOrgToken(t)
	base := scimBase(rs.base, "acme")

	var clients []*idpClient
	client := func(int) *idpClient {
		c := newIDPClient(func() string { return base }, token)
		clients = append(clients, c)
		return c
	}
	plan := newPushPlan("failover", 360)
	var done atomic.Int64
	var finished atomic.Bool
	type result struct {
		ids  []string
		gids [2]string
		errs []error
	}
	pushed := make(chan result, 1)
	go func() {
		ids, gids, errs := plan.run(8, client, func() { done.Add(1) })
		finished.Store(true)
		pushed <- result{ids, gids, errs}
	}()
	for done.Load() < int64(len(plan.users))/3 && !finished.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	// The primary goes (a fast shutdown hands the standby all it
	// committed), and the standby is promoted a moment later.
	if err := primary.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := done.Load()
	time.Sleep(300 * time.Millisecond)
	if code, _ := get(t, rs.base+"/readyz"); code != 503 {
		t.Errorf("/readyz with no primary: %d, want 503", code)
	}
	pgTool(t, "pg_ctl", "promote", "-D", filepath.Join(standbyDir, "pg"), "-w")
	t.Logf("primary stopped after %d users, standby promoted", stopped)

	r := <-pushed
	for _, err := range r.errs {
		t.Error(err)
	}
	failures := 0
	for _, c := range clients {
		c.report(t)
		failures += c.count(503) + c.connErrs
	}
	if failures == 0 {
		t.Log("no request failed during the switch")
	}
	if t.Failed() {
		t.FailNow()
	}
	plan.check(t, clients[0], dsn, "acme", r.ids, r.gids)
	if code, _ := get(t, rs.base+"/readyz"); code != 200 {
		t.Errorf("/readyz on the new primary: %d", code)
	}
}

// pgTool runs one of PostgreSQL's programs as the account the test's
// clusters run as, and fails the test if it fails.
func pgTool(t *testing.T, name string, args ...string) {
	t.Helper()
	bin, err := pgcluster.FindBinaries(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	// The server's own directory holds the other programs too (PATH may
	// hold links to initdb, pg_ctl and postgres only).
	if real, err := filepath.EvalSymlinks(filepath.Join(bin, "postgres")); err == nil {
		bin = filepath.Dir(real)
	}
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir = os.TempDir()
	if os.Geteuid() == 0 {
		uid, gid := postgresAccount(t)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
