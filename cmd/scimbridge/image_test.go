package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/pgtest"
)

// Every flag can be set by its SCIMBRIDGE_* variable, and the command line
// wins: the variables here that name the address and the log format would
// stop serve from starting (startServe gives both flags), and the body
// bound, given only by its variable, is applied.
func TestEnvironmentSetsFlagsAndTheCommandLineWins(t *testing.T) {
	t.Parallel()
	rs := startServe(t, map[string]string{
		"DATABASE_URL":          pgtest.DSN(t),
		"SCIMBRIDGE_ADDR":       "256.0.0.1:99999",
		"SCIMBRIDGE_LOG_FORMAT": "text",
		"SCIMBRIDGE_MAX_BODY":   "2048",
		"SCIMBRIDGE_SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	}, "--init-org", "acme")
	token := rs.initOrgToken(t)
	big := `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"` + strings.Repeat("x", 3000) + `"}`
	req, _ := http.NewRequest("POST", rs.base+"/scim/v2/acme/Users", strings.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 3 KB body under SCIMBRIDGE_MAX_BODY=2048 = %d, want 413", resp.StatusCode)
	}
}

// dockerfile reads what the container image runs: its ENTRYPOINT and CMD
// (exec form) and its ENV, so that the test below runs the binary the way
// the image does and follows the Dockerfile when it changes.
func dockerfile(t *testing.T) (argv []string, env map[string]string) {
	t.Helper()
	f, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	env = map[string]string{}
	pair := regexp.MustCompile(`([A-Z_][A-Z0-9_]*)=(\S+)`)
	var entry, cmd []string
	// Join continuation lines, then read the final stage's instructions.
	text := strings.ReplaceAll(string(f), "\\\n", " ")
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		word, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(word) {
		case "FROM":
			env, entry, cmd = map[string]string{}, nil, nil
		case "ENV":
			for _, m := range pair.FindAllStringSubmatch(rest, -1) {
				env[m[1]] = m[2]
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &entry); err != nil {
				t.Fatalf("ENTRYPOINT %s: want the exec form", rest)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(rest), &cmd); err != nil {
				t.Fatalf("CMD %s: want the exec form", rest)
			}
		}
	}
	if len(entry) == 0 {
		t.Fatal("the Dockerfile has no ENTRYPOINT")
	}
	return append(entry, cmd...), env
}

// The container's default command, run as the image runs it: the
// binary with the Dockerfile's ENTRYPOINT and CMD and its ENV, and
// nothing of this machine (no PATH, so no PostgreSQL binaries). It refuses to start without DATABASE_URL, saying so, and with one
// it migrates, serves and logs JSON. Only the listen address is changed,
// to a free port on loopback.
func TestContainerDefaultCommand(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	argv, env := dockerfile(t)
	bin := filepath.Join(t.TempDir(), "scimbridge")
	// Built with the test's own settings, from the build cache: the
	// image's CGO_ENABLED=0 and -trimpath would rebuild the whole tree
	// (two minutes here) to test what the binary does, which they do not
	// change. make build checks that the static build compiles.
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	start := func(extra ...string) (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(bin, argv[1:]...)
		cmd.Env = []string{"PATH=/nonexistent"} // nothing of this machine: no initdb, no HOME
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Env = append(cmd.Env, extra...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &stderr
	}

	cmd, stderr := start()
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); err == nil || code == 0 || !strings.Contains(stderr.String(), "DATABASE_URL is required") {
		t.Fatalf("the image without DATABASE_URL: exit %d, %q; want a refusal naming DATABASE_URL", code, stderr.String())
	}

	cmd, stderr = start("DATABASE_URL="+pgtest.EmptyDSN(t), "SCIMBRIDGE_ADDR=127.0.0.1:0")
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var addr string
	for addr == "" && ctx.Err() == nil {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if line != "" && json.Unmarshal([]byte(line), &rec) != nil {
				t.Fatalf("a log line that is not JSON, under the image's SCIMBRIDGE_LOG_FORMAT: %q", line)
			}
			if rec.Msg == "serving" {
				addr = rec.Addr
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("the image's command did not serve:\n%s", stderr.String())
	}
	if code, body := get(t, "http://"+addr+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %q: the image's serve did not migrate the empty database", code, body)
	}
}

// The image is what docs/operations.md says: built by the Go release
// go.mod names, static (no cgo), on distroless' static image (no shell),
// run by a numeric non-root user (which Kubernetes' runAsNonRoot can
// verify), with no HEALTHCHECK (Kubernetes probes /healthz and /readyz)
// and the OCI labels registries and SBOM tools read.
func TestDockerfileMakesAStaticNonRootDistrolessImage(t *testing.T) {
	t.Parallel()
	f, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	toolchain := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindSubmatch(mod)
	if toolchain == nil {
		t.Fatal("go.mod has no toolchain line")
	}
	text := strings.ReplaceAll(string(f), "\\\n", " ")
	var stages [][]string // each stage's instructions
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%q before the first FROM", line)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], line)
	}
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build stage and the image", len(stages))
	}
	build, final := strings.Join(stages[0], "\n"), stages[1]
	if want := "FROM golang:" + string(toolchain[1]) + " "; !strings.HasPrefix(stages[0][0], want) {
		t.Errorf("build stage %q, want %s… (go.mod's toolchain)", stages[0][0], want)
	}
	if !strings.Contains(build, "CGO_ENABLED=0 go build") {
		t.Error("the binary is not built with CGO_ENABLED=0: it would not run on a static image")
	}
	if !strings.HasPrefix(final[0], "FROM gcr.io/distroless/static") {
		t.Errorf("image base %q, want gcr.io/distroless/static…", final[0])
	}
	var user string
	labels := map[string]bool{}
	for _, in := range final {
		word, rest, _ := strings.Cut(in, " ")
		switch strings.ToUpper(word) {
		case "HEALTHCHECK":
			t.Errorf("%q: Kubernetes probes the service; a HEALTHCHECK would run a second, different check", in)
		case "USER":
			user = strings.TrimSpace(rest)
		case "LABEL":
			for _, m := range regexp.MustCompile(`(org\.opencontainers\.image\.[a-z.]+)=`).FindAllStringSubmatch(rest, -1) {
				labels[m[1]] = true
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q, want a numeric non-root user", user)
	}
	for _, l := range []string{"title", "description", "source", "version", "revision", "created"} {
		if !labels["org.opencontainers.image."+l] {
			t.Errorf("no label org.opencontainers.image.%s", l)
		}
	}
}
