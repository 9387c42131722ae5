package main

import (
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// setting is a flag that a SCIMBRIDGE_* variable sets, as one command
// declares it.
type setting struct {
	command, flag, def string
}

// declaredFlags returns, from every registered command, the flags set by
// a variable (by variable) and the others (by command).
func declaredFlags() (byVar map[string][]setting, other map[string][]string) {
	byVar, other = map[string][]setting{}, map[string][]string{}
	for _, c := range commands {
		fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
		c.flags(fs, env{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard})
		fs.VisitAll(func(f *flag.Flag) {
			if m := envNameRE.FindStringSubmatch(f.Usage); m != nil {
				byVar[m[1]] = append(byVar[m[1]], setting{c.name, f.Name, f.DefValue})
			} else {
				other[c.name] = append(other[c.name], f.Name)
			}
		})
	}
	return byVar, other
}

// readVariables returns the SCIMBRIDGE_* variables the code reads by
// name (not through a flag): string literals passed to a getenv.
func readVariables(t *testing.T) map[string]bool {
	t.Helper()
	read := regexp.MustCompile(`(?:getenv|Getenv|envBool\(e,)\s*\(?\s*"(SCIMBRIDGE_[A-Z0-9_]+)"`)
	vars := map[string]bool{}
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "deploy" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range read.FindAllStringSubmatch(string(b), -1) {
			vars[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

// docRow returns the table row of docs/operations.md that starts with
// cell.
func docRow(doc, cell string) string {
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "| "+cell+" |") {
			return line
		}
	}
	return ""
}

// docs/operations.md's configuration reference is the code's: a row for
// every variable, naming its flag, every command's default, and every
// command with other flags names each of them; and it names no
// SCIMBRIDGE_* variable the code does not read.
func TestOperationsDocMatchesTheFlagsAndVariables(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	byVar, other := declaredFlags()
	known := map[string]bool{}
	for v, settings := range byVar {
		known[v] = true
		row := docRow(doc, "`"+v+"`")
		if row == "" {
			t.Errorf("no row for %s", v)
			continue
		}
		for _, s := range settings {
			if !strings.Contains(row, "`--"+s.flag+"`") {
				t.Errorf("%s's row does not name --%s (%s)", v, s.flag, s.command)
			}
			if s.def != "" && !strings.Contains(row, "`"+s.def+"`") {
				t.Errorf("%s's row does not give the default %q of %s", v, s.def, s.command)
			}
		}
	}
	for v := range readVariables(t) {
		known[v] = true
		if row := docRow(doc, "`"+v+"`"); row == "" || !strings.Contains(row, "| — |") {
			t.Errorf("no row for %s, read without a flag", v)
		}
	}
	if docRow(doc, "`DATABASE_URL`") == "" {
		t.Error("no row for DATABASE_URL")
	}
	for cmd, flags := range other {
		row := docRow(doc, "`scimbridge "+cmd+"`")
		if row == "" {
			t.Errorf("no row for scimbridge %s, whose flags %v no variable sets", cmd, flags)
			continue
		}
		for _, f := range flags {
			if !strings.Contains(row, "`--"+f+"`") {
				t.Errorf("scimbridge %s's row does not name --%s", cmd, f)
			}
		}
	}
	// Kubernetes' Service link variables, named where the chart turns
	// them off, are the only others.
	k8s := []string{"SCIMBRIDGE_SERVICE_HOST", "SCIMBRIDGE_PORT"}
	for _, m := range regexp.MustCompile(`SCIMBRIDGE_[A-Z0-9_]+`).FindAllString(doc, -1) {
		if !known[m] && !slices.Contains(k8s, m) {
			t.Errorf("docs/operations.md names %s, which the code does not read", m)
		}
	}
}
