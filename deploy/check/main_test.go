package check

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// helmModule is the Helm the checks run, built from the Go module proxy
// (no binary download): the first run compiles it, later runs take it
// from the build cache.
const helmModule = "helm.sh/helm/v4/cmd/helm@v4.3.2"

var (
	repoRoot  = filepath.Join("..", "..")
	deployDir = ".."
	binDir    string // the scimbridge binary of this checkout, built once
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "scimbridge-deploy-check-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// helm runs Helm with args in deploy/ and returns its stdout; err carries
// its stderr.
func helm(args ...string) (string, error) {
	cmd := exec.Command("go", append([]string{"run", helmModule}, args...)...)
	cmd.Dir = deployDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

var (
	buildOnce sync.Once
	buildErr  error
)

// scimbridge returns the path of the service's binary, built from this
// checkout (the same command the Dockerfile runs, without its flags that
// only change how it is linked).
func scimbridge(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "scimbridge")
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/scimbridge")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/scimbridge: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

var envNameRE = regexp.MustCompile(`\b(SCIMBRIDGE_[A-Z0-9_]+)\b`)

// variables returns the SCIMBRIDGE_* variables a command of the binary
// names in its --help (each flag names the variable that sets it).
func variables(t *testing.T, command ...string) map[string]bool {
	t.Helper()
	cmd := exec.Command(scimbridge(t), append(command, "--help")...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scimbridge %s --help: %v", strings.Join(command, " "), err)
	}
	vars := map[string]bool{}
	for _, m := range envNameRE.FindAllStringSubmatch(string(out), -1) {
		vars[m[1]] = true
	}
	if len(vars) == 0 {
		t.Fatalf("scimbridge %s --help names no SCIMBRIDGE_* variable:\n%s", strings.Join(command, " "), out)
	}
	return vars
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
