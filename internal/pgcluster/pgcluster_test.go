package pgcluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/pgcluster"
)

func tempDataDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "data")
}

func query(t *testing.T, dsn, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestFirstStartThenRestartKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := tempDataDir(t)

	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	if !c.Started() {
		t.Fatal("first start: Started() = false, want true")
	}
	if _, err := os.Stat(filepath.Join(dir, "pg", "PG_VERSION")); err != nil {
		t.Fatalf("initdb did not create the cluster: %v", err)
	}
	if got := query(t, c.DSN("postgres"), "SHOW listen_addresses"); got != "" {
		t.Errorf("listen_addresses = %q, want none (socket only)", got)
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	// A second Start while it runs reuses the server and does not own it.
	again, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("start while running: %v", err)
	}
	if again.Started() {
		t.Error("start while running: Started() = true, want reuse")
	}
	if err := again.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := query(t, c.DSN("postgres"), "SELECT v FROM kept"); got != "survives" {
		t.Fatalf("after Release of a reused cluster: %q", got)
	}

	if err := c.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pgcluster.WaitStopped(wctx, dir); err != nil {
		t.Fatalf("socket still there after stop: %v", err)
	}

	restarted, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir})
	if err != nil {
		t.Fatalf("restart on existing data dir: %v", err)
	}
	t.Cleanup(func() { _ = restarted.Stop(context.Background()) })
	if !restarted.Started() {
		t.Error("restart: Started() = false, want true")
	}
	if got := query(t, restarted.DSN("postgres"), "SELECT v FROM kept"); got != "survives" {
		t.Fatalf("after restart: %q, want the row written before", got)
	}
}

func TestLockServeRefusesSecondInstance(t *testing.T) {
	t.Parallel()
	dir := tempDataDir(t)
	release, err := pgcluster.LockServe(dir)
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	if _, err := pgcluster.LockServe(dir); !errors.Is(err, pgcluster.ErrServeRunning) {
		t.Fatalf("second lock: err = %v, want ErrServeRunning", err)
	}
	release()
	release2, err := pgcluster.LockServe(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release2()
}

func TestReleaseStopsOnlyWhatItStartedWhenNoServeRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := tempDataDir(t)
	release, err := pgcluster.LockServe(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	// A serve holds the dir: releasing must leave the server up.
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	query(t, c.DSN("postgres"), "SELECT 'still up'")
	release()
	if err := c.Release(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pgcluster.WaitStopped(wctx, dir); err != nil {
		t.Fatalf("Release with no serve did not stop the cluster: %v", err)
	}
}

// Not parallel: it changes where the package looks for system binaries.
func TestMissingBinariesSaysHowToInstall(t *testing.T) {
	pgcluster.SetSystemBinGlob(filepath.Join(t.TempDir(), "*", "bin"))
	defer pgcluster.SetSystemBinGlob("/usr/lib/postgresql/*/bin")
	empty := t.TempDir()
	getenv := func(k string) string {
		if k == "PATH" {
			return empty
		}
		return ""
	}
	_, err := pgcluster.Start(context.Background(), pgcluster.Options{DataDir: tempDataDir(t), Getenv: getenv})
	if !errors.Is(err, pgcluster.ErrNoBinaries) {
		t.Fatalf("err = %v, want ErrNoBinaries", err)
	}
	if want := "apt-get install -y postgresql"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}
