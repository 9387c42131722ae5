package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/pgcluster"
)

// The database's volume full in the middle of an IdP push: the database
// lives in a tablespace on a small tmpfs, filled up by a file. Writes
// fail, as 503 with Retry-After (SQLSTATE 53100 is class 53, the store
// unavailable: an IdP retries it, and a full disk is the operator's to
// fix, not the request's), and the log names the cause; reads keep
// working and the replica stays ready. Once space returns, the IdP's
// retries succeed, and every user is there once, as sent, with its group
// memberships, and amcheck finds the tables and indexes sound.
//
// The WAL stays on the cluster's own disk: a full WAL volume makes
// PostgreSQL stop (PANIC), which is the restart of faults_test.go.
func TestAFullDiskRefusesWritesKeepsReadsAndLosesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fills a tmpfs")
	}
	if !canMount() {
		t.Skip("a full disk is tested on a tmpfs of its own, and mounting one needs CAP_SYS_ADMIN (root on the host, or a privileged container); this process lacks it")
	}
	ctx := context.Background()
	dir := dataDir(t)
	vol := filepath.Join(filepath.Dir(dir), "vol")
	if err := os.Mkdir(vol, 0o700); err != nil {
		t.Fatal(err)
	}
	uid, gid := postgresAccount(t)
	if err := syscall.Mount("tmpfs", vol, "tmpfs", 0, fmt.Sprintf("size=32m,mode=0700,uid=%d,gid=%d", uid, gid)); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", vol, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(vol, syscall.MNT_DETACH) })
	cl, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Stop(context.Background()) })
	admin, err := pgx.Connect(ctx, cl.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	for _, sql := range []string{`CREATE TABLESPACE vol LOCATION '` + vol + `'`, `CREATE DATABASE scimbridge TABLESPACE vol`} {
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	dsn := cl.DSN("scimbridge")
	rs := startServe(t, map[string]string{"DATABASE_URL": dsn, "SCIMBRIDGE_REQUIRE_DATABASE_URL": "true"},
		"--init-org", "acme", "--request-timeout", "5s")
	token := rs.initOrgToken(t)
	base := scimBase(rs.base, "acme")
	c := newIDPClient(func() string { return base }, token)
	c.retry = 20 * time.Millisecond
	plan := newPushPlan("disk", 240)
	ids, gids, errs := plan.runUsers(0, 80, 4, func(int) *idpClient { return c }, func() {})
	for _, err := range errs {
		t.Fatal(err)
	}

	// Fill the volume.
	filler := filepath.Join(vol, "filler")
	if err := fill(filler); err != nil {
		t.Fatal(err)
	}
	filled := true
	t.Cleanup(func() {
		if filled {
			_ = os.Remove(filler)
		}
	})

	// The rest of the push goes on, and its writes fail.
	type result struct {
		ids  []string
		errs []error
	}
	pushed := make(chan result, 1)
	go func() {
		ids, _, errs := plan.runUsers(80, len(plan.users), 4, func(int) *idpClient { return c }, func() {})
		pushed <- result{ids, errs}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for c.count(http.StatusServiceUnavailable) < 30 {
		if c.count(http.StatusInternalServerError) > 0 {
			c.report(t)
			t.FailNow()
		}
		if time.Now().After(deadline) {
			c.report(t)
			t.Fatal("no write failed with the volume full")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Reads keep working, and the replica stays ready: taking it out of
	// rotation would stop the reads too, and would not free the disk.
	for _, path := range []string{"/Users?startIndex=1&count=100", "/Users/" + ids[0], "/Groups/" + gids[0],
		"/Users?filter=" + url.QueryEscape(`userName eq "`+plan.users[1].UserName+`"`)} {
		if code, m := c.do("GET", path, nil); code != http.StatusOK {
			t.Errorf("GET %s with the volume full: %d %v", path, code, m)
		}
	}
	if code, body := get(t, rs.base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the volume full: %d %s", code, body)
	}
	if logs := rs.stderr.String(); !strings.Contains(logs, "No space left on device") || !strings.Contains(logs, "53100") {
		t.Errorf("the log does not name the full disk (SQLSTATE 53100, No space left on device):\n%s", lastLines(logs, 5))
	}

	// Refused, not crashed: PostgreSQL ran on (a restart would answer
	// 503 too).
	pgLog, _ := os.ReadFile(filepath.Join(dir, "run", "postgres.log"))
	if strings.Contains(string(pgLog), "PANIC") || strings.Contains(string(pgLog), "terminating any other active server processes") ||
		!strings.Contains(string(pgLog), "could not extend file") {
		t.Errorf("PostgreSQL's log with the volume full:\n%s", lastLines(string(pgLog), 20))
	}

	// Space returns: the retries go through.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	filled = false
	r := <-pushed
	for _, err := range r.errs {
		t.Error(err)
	}
	c.report(t)
	if t.Failed() {
		t.FailNow()
	}
	for i := 80; i < len(ids); i++ {
		ids[i] = r.ids[i]
	}
	plan.check(t, c, dsn, "acme", ids, gids)

	// amcheck: every B-tree index agrees with its table, every heap page
	// is sound.
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS amcheck`); err != nil {
		t.Fatalf("amcheck (PostgreSQL's contrib): %v", err)
	}
	var indexes int
	if err := db.QueryRow(ctx, `SELECT count(bt_index_check(c.oid, true)) FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
		WHERE am.amname = 'btree' AND i.indisvalid AND c.relnamespace = 'public'::regnamespace`).Scan(&indexes); err != nil {
		t.Errorf("bt_index_check: %v", err)
	}
	rows, _ := db.Query(ctx, `SELECT c.relname || ': block ' || v.blkno || ': ' || v.msg FROM pg_class c, verify_heapam(c.oid) v
		WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace`)
	problems, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(problems) > 0 {
		t.Errorf("verify_heapam: %v %v", err, problems)
	}
	t.Logf("%d B-tree indexes checked; answers: %v", indexes, c.statuses)
}

// canMount reports whether this process may mount filesystems: it has
// CAP_SYS_ADMIN in its effective set.
func canMount() bool {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && caps&(1<<21) != 0 // CAP_SYS_ADMIN
		}
	}
	return false
}

// postgresAccount is the account the test's clusters run as: the
// postgres account when root (see pgcluster), else this process's.
func postgresAccount(t *testing.T) (uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return os.Getuid(), os.Getgid()
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// fill writes a file at path until its filesystem has no space left.
func fill(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 4 << 10, 512} {
		chunk := make([]byte, size)
		for {
			if _, err := f.Write(chunk); err != nil {
				if errors.Is(err, syscall.ENOSPC) {
					break
				}
				return err
			}
		}
	}
	return nil
}

// lastLines is the end of a log.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
