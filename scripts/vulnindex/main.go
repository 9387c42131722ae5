// Command vulnindex turns a folder of OSV files (the data/osv folder of the
// golang.org/x/vulndb module, which the Go module proxy serves) into the
// folder layout govulncheck reads with -db file://…: index/db.json,
// index/modules.json and ID/{id}.json. CI has no route to vuln.go.dev,
// only to the module proxy; this lets govulncheck run there.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
}

type module struct {
	Path  string `json:"path"`
	Vulns []vuln `json:"vulns"`
}

func main() {
	osv := flag.String("osv", "", "folder of OSV JSON files")
	out := flag.String("out", "", "folder to write the database to")
	flag.Parse()
	if *osv == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: vulnindex -osv DIR -out DIR")
		os.Exit(2)
	}
	if err := build(*osv, *out); err != nil {
		fmt.Fprintln(os.Stderr, "vulnindex:", err)
		os.Exit(1)
	}
}

func build(osvDir, out string) error {
	files, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no OSV files in %s", osvDir)
	}
	for _, d := range []string{"index", "ID"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return err
		}
	}
	byModule := map[string][]vuln{}
	var newest time.Time
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if e.ID == "" || strings.ContainsAny(e.ID, `/\`) {
			return fmt.Errorf("%s: bad id %q", f, e.ID)
		}
		if err := os.WriteFile(filepath.Join(out, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, a := range e.Affected {
			if p := a.Package.Name; p != "" && !seen[p] {
				seen[p] = true
				byModule[p] = append(byModule[p], vuln{ID: e.ID, Modified: e.Modified})
			}
		}
		if e.Modified.After(newest) {
			newest = e.Modified
		}
	}
	mods := make([]module, 0, len(byModule))
	for p, vs := range byModule {
		mods = append(mods, module{Path: p, Vulns: vs})
	}
	slices.SortFunc(mods, func(a, b module) int { return strings.Compare(a.Path, b.Path) })
	if err := writeJSON(filepath.Join(out, "index", "modules.json"), mods); err != nil {
		return err
	}
	return writeJSON(filepath.Join(out, "index", "db.json"), map[string]time.Time{"modified": newest})
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
