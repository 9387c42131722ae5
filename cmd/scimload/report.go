package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// report is the whole run, printed as a table and optionally as JSON.
type report struct {
	Start       time.Time         `json:"start"`
	Base        string            `json:"base"`
	GoVersion   string            `json:"go_version"`
	Machine     machine           `json:"machine"`
	Flags       map[string]string `json:"flags"`
	Phases      []phaseResult     `json:"phases"`
	RSS         *rssReport        `json:"server_rss,omitempty"`
	PG          map[string]string `json:"postgres_settings,omitempty"`
	Summary     *runSummary       `json:"summary,omitempty"`
	Statements  []stmtStat        `json:"pg_stat_statements,omitempty"`
	Errors      errorsReport      `json:"errors"`
	Interrupted string            `json:"interrupted,omitempty"`
}

type errorsReport struct {
	Total int           `json:"total"`
	First []errorSample `json:"first_distinct"`
}

// MarshalJSON writes durations as milliseconds.
func (s kindSummary) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Kind   string  `json:"kind"`
		Count  int     `json:"count"`
		Errors int     `json:"errors"`
		RPS    float64 `json:"requests_per_second"`
		P50    float64 `json:"p50_ms"`
		P90    float64 `json:"p90_ms"`
		P99    float64 `json:"p99_ms"`
		Max    float64 `json:"max_ms"`
	}{s.Kind, s.Count, s.Errors, s.RPS, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max)})
}

// MarshalJSON adds the wall time in seconds.
func (p phaseResult) MarshalJSON() ([]byte, error) {
	type plain phaseResult
	return json.Marshal(struct {
		plain
		WallSeconds float64 `json:"wall_seconds"`
	}{plain(p), p.Wall.Seconds()})
}

func writeJSONFile(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeTable prints the human-readable report.
func writeTable(w io.Writer, rep *report) error {
	var b strings.Builder
	writeHeader(&b, rep)
	writeRows(&b, rep.Phases)
	b.WriteString("\n")
	for _, p := range rep.Phases {
		fmt.Fprintf(&b, "%s: %.2fs wall", p.Name, p.Wall.Seconds())
		for _, n := range p.Notes {
			b.WriteString("; " + n)
		}
		b.WriteString("\n")
	}
	writeRSS(&b, rep.RSS)
	writePG(&b, rep.PG)
	writeSummary(&b, rep.Summary)
	writeStatements(&b, rep.Statements)
	writeErrors(&b, rep)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeRows prints one row per phase and kind, names left-aligned and
// numbers right-aligned.
func writeRows(b *strings.Builder, phases []phaseResult) {
	pw, kw := len("phase"), len("kind")
	for _, p := range phases {
		pw = max(pw, len(p.Name))
		for _, k := range p.Kinds {
			kw = max(kw, len(k.Kind))
		}
	}
	const nums = "%8s %7s %9s %10s %10s %10s %10s\n"
	fmt.Fprintf(b, "%-*s  %-*s"+nums, pw, "phase", kw, "kind", "count", "errors", "req/s", "p50", "p90", "p99", "max")
	for _, p := range phases {
		for _, k := range p.Kinds {
			fmt.Fprintf(b, "%-*s  %-*s"+nums, pw, p.Name, kw, k.Kind, strconv.Itoa(k.Count), strconv.Itoa(k.Errors),
				fmt.Sprintf("%.1f", k.RPS), fmtDur(k.P50), fmtDur(k.P90), fmtDur(k.P99), fmtDur(k.Max))
		}
	}
}

func writeHeader(b *strings.Builder, rep *report) {
	m := rep.Machine
	fmt.Fprintf(b, "scimload %s against %s\n", rep.Start.Format(time.RFC3339), rep.Base)
	fmt.Fprintf(b, "%s %s, %d CPUs (%s), memory %s, host %s\n", rep.GoVersion, m.OS, m.NumCPU, m.CPUModel, m.MemTotal, m.Hostname)
	names := make([]string, 0, len(rep.Flags))
	for k := range rep.Flags {
		names = append(names, k)
	}
	slices.Sort(names)
	var fl []string
	for _, k := range names {
		fl = append(fl, fmt.Sprintf("--%s=%s", k, rep.Flags[k]))
	}
	fmt.Fprintf(b, "flags: %s\n\n", strings.Join(fl, " "))
}

func writeRSS(b *strings.Builder, r *rssReport) {
	if r == nil {
		b.WriteString("server RSS: not sampled\n")
		return
	}
	fmt.Fprintf(b, "server pid %d (%s): peak RSS (VmHWM) %s [%s at start], max sampled VmRSS %s [%s at start], %d samples every %s\n",
		r.PID, r.How, mib(r.HWMKiB), mib(r.StartHWMKiB), mib(r.MaxRSSKiB), mib(r.StartRSSKiB), r.Samples, rssInterval)
	if r.Exited {
		b.WriteString("server process EXITED during the run\n")
	}
	if r.Error != "" {
		fmt.Fprintf(b, "server RSS sampling: %s\n", r.Error)
	}
}

func writePG(b *strings.Builder, settings map[string]string) {
	if len(settings) == 0 {
		return
	}
	var kv []string
	for _, k := range durabilitySettings {
		kv = append(kv, k+"="+settings[k])
	}
	fmt.Fprintf(b, "server's PostgreSQL: %s\n", strings.Join(kv, " "))
}

func writeErrors(b *strings.Builder, rep *report) {
	if rep.Interrupted != "" {
		fmt.Fprintf(b, "run interrupted: %s\n", rep.Interrupted)
	}
	fmt.Fprintf(b, "errors: %d\n", rep.Errors.Total)
	for _, e := range rep.Errors.First {
		status := "no response"
		if e.Status != 0 {
			status = fmt.Sprintf("status %d", e.Status)
		}
		fmt.Fprintf(b, "  %s, %s, %s: %s\n", e.Kind, status, e.Where, e.Detail)
	}
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// fmtDur prints a latency in milliseconds, "-" when there is none.
func fmtDur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", ms(d))
}
