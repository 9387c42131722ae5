package check

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var (
	exportedOnce sync.Once
	exported     map[string]*dto.MetricFamily
	exportedErr  error
)

// exportedMetrics runs the service as an operator would try it (serve on
// the embedded PostgreSQL, an organization made by --init-org, the
// reconciler every second), sends it a few requests so that every
// labelled series exists, and returns the metric families its /metrics
// serves. It runs once per test process.
func exportedMetrics(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	bin := scimbridge(t)
	exportedOnce.Do(func() { exported, exportedErr = scrapeRealServer(bin) })
	if exportedErr != nil {
		t.Fatal(exportedErr)
	}
	return exported
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func scrapeRealServer(bin string) (map[string]*dto.MetricFamily, error) {
	dir, err := os.MkdirTemp("", "scimbridge-metrics-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	// As root, the embedded PostgreSQL runs as the postgres account,
	// which must reach the data dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--log-format", "json", "--init-org", "acme", "--reconcile-schedule", "@every 1s")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for _, k := range []string{"SCIMBRIDGE_PG_BIN", "TMPDIR"} {
		if v := os.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		// SIGTERM: serve stops its embedded PostgreSQL on the way out.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	token, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("serve --init-org printed no token: %v\n%s", err, stderr.String())
	}
	token = strings.TrimSpace(token)
	var base string
	for _, line := range strings.Split(stderr.String(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving" {
			base = "http://" + rec.Addr
		}
	}
	if base == "" {
		return nil, fmt.Errorf("serve did not say where it listens:\n%s", stderr.String())
	}
	get := func(path, token string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	for _, r := range []struct{ path, token string }{
		{"/scim/v2/acme/Users", token}, {"/scim/v2/acme/Users", ""}, {"/api/v1/orgs/acme/users", ""}, {"/readyz", ""},
	} {
		if err := get(r.path, r.token); err != nil {
			return nil, err
		}
	}
	// The reconciler's series appear once it has run for acme.
	want := []string{"scimbridge_http_requests_total", "scimbridge_reconcile_runs_total", "scimbridge_reconcile_open_conflicts",
		"scimbridge_reconcile_changes_total", "scimbridge_replicas_live", "scimbridge_db_pool_connections"}
	for {
		fams, err := scrape(ctx, base+"/metrics")
		if err != nil {
			return nil, err
		}
		missing := ""
		for _, w := range want {
			if fams[w] == nil || len(fams[w].Metric) == 0 {
				missing = w
			}
		}
		if missing == "" {
			return fams, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("/metrics never served %s:\n%s", missing, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// seriesNames are the names a query may select: each family's, and a
// histogram's or summary's _bucket, _sum and _count.
func seriesNames(fams map[string]*dto.MetricFamily) map[string]bool {
	names := map[string]bool{}
	for name, f := range fams {
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}
