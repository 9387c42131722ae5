package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Targets of issue 11 that the summary checks.
const (
	targetRawRatio      = 0.5  // push rate ≥ this × raw INSERT rate
	targetTenthRatio    = 0.7  // slowest tenth ≥ this × fastest tenth
	targetLookupP99MS   = 10.0 // userName eq p99, during and after the push
	targetRSSMiB        = 150.0
	targetTenantP99     = 3.0 // no tenant's p99 above this × the single-tenant p99
	targetTenantRateGap = 0.2 // tenants' total rate within this of the single-tenant push
)

// runSummary is what the run says about the targets; a field is zero when
// the phase it needs did not run. Latencies in milliseconds.
type runSummary struct {
	PushUsers          int64     `json:"push_users,omitempty"`
	PushRate           float64   `json:"push_users_per_second,omitempty"`
	PushRequestP99MS   float64   `json:"push_request_p99_ms,omitempty"` // lookups and creates together
	RawRate            float64   `json:"raw_inserts_per_second,omitempty"`
	RawRates           []float64 `json:"raw_inserts_per_second_each,omitempty"`
	PushOverRaw        float64   `json:"push_over_raw,omitempty"`
	Tenths             []float64 `json:"push_tenths_per_second,omitempty"`
	SlowestOverFastest float64   `json:"slowest_over_fastest_tenth,omitempty"`
	LookupDuringP50MS  float64   `json:"lookup_during_push_p50_ms,omitempty"`
	LookupDuringP99MS  float64   `json:"lookup_during_push_p99_ms,omitempty"`
	LookupAfterP50MS   float64   `json:"lookup_after_push_p50_ms,omitempty"`
	LookupAfterP99MS   float64   `json:"lookup_after_push_p99_ms,omitempty"`
	RSSPeakMiB         float64   `json:"server_rss_peak_mib,omitempty"`

	Tenants            int        `json:"tenants,omitempty"`
	TenantsRate        float64    `json:"tenants_users_per_second,omitempty"`
	TenantsTenths      []float64  `json:"tenants_tenths_per_second,omitempty"`
	TenantP99MS        [3]float64 `json:"tenant_p99_min_median_max_ms"`
	BaselineRate       float64    `json:"baseline_users_per_second,omitempty"`
	BaselineP99MS      float64    `json:"baseline_request_p99_ms,omitempty"`
	WorstTenantOverP99 float64    `json:"worst_tenant_p99_over_baseline,omitempty"`
	TenantsOverRate    float64    `json:"tenants_rate_over_baseline,omitempty"`
}

func summarizeRun(rep *report, baseline *runSummary) *runSummary {
	s := &runSummary{}
	for _, p := range rep.Phases {
		switch p.Name {
		case "raw":
			if p.Wall > 0 {
				s.RawRates = append(s.RawRates, float64(p.Done)/p.Wall.Seconds())
			}
		case "push":
			s.PushUsers = p.Done
			if p.Wall > 0 {
				s.PushRate = float64(p.Done) / p.Wall.Seconds()
			}
			s.PushRequestP99MS = ms(p.RequestP99)
			s.Tenths = p.Tenths
			if k, ok := p.kind("lookup-userName"); ok {
				s.LookupDuringP50MS, s.LookupDuringP99MS = ms(k.P50), ms(k.P99)
			}
		case "lookup":
			if k, ok := p.kind("lookup-userName"); ok {
				s.LookupAfterP50MS, s.LookupAfterP99MS = ms(k.P50), ms(k.P99)
			}
		case "tenants":
			s.Tenants = len(p.Tenants)
			if p.Wall > 0 {
				s.TenantsRate = float64(p.Done) / p.Wall.Seconds()
			}
			s.TenantsTenths = p.Tenths
			p99s := make([]float64, len(p.Tenants))
			for i, t := range p.Tenants {
				p99s[i] = ms(t.P99)
			}
			if len(p99s) > 0 {
				slices.Sort(p99s)
				s.TenantP99MS = [3]float64{p99s[0], p99s[(len(p99s)-1)/2], p99s[len(p99s)-1]}
			}
		}
	}
	if len(s.RawRates) > 0 {
		for _, r := range s.RawRates {
			s.RawRate += r
		}
		s.RawRate /= float64(len(s.RawRates))
		if s.PushRate > 0 {
			s.PushOverRaw = s.PushRate / s.RawRate
		}
	}
	if len(s.Tenths) == 10 {
		s.SlowestOverFastest = slices.Min(s.Tenths) / slices.Max(s.Tenths)
	}
	if rep.RSS != nil {
		s.RSSPeakMiB = float64(rep.RSS.HWMKiB) / 1024
	}
	if baseline != nil && s.Tenants > 0 {
		s.BaselineRate, s.BaselineP99MS = baseline.PushRate, baseline.PushRequestP99MS
		if s.BaselineP99MS > 0 {
			s.WorstTenantOverP99 = s.TenantP99MS[2] / s.BaselineP99MS
		}
		if s.BaselineRate > 0 {
			s.TenantsOverRate = s.TenantsRate / s.BaselineRate
		}
	}
	return s
}

// kind returns the phase's summary of request kind k.
func (p phaseResult) kind(k string) (kindSummary, bool) {
	for _, ks := range p.Kinds {
		if ks.Kind == k {
			return ks, ks.Count > ks.Errors
		}
	}
	return kindSummary{}, false
}

// verdict says whether a measured value meets its target.
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func writeSummary(b *strings.Builder, s *runSummary) {
	if s == nil {
		return
	}
	b.WriteString("\nsummary:\n")
	if len(s.RawRates) > 0 {
		each := make([]string, len(s.RawRates))
		for i, r := range s.RawRates {
			each[i] = fmt.Sprintf("%.0f", r)
		}
		fmt.Fprintf(b, "  raw durable INSERTs: %.0f rows/s (each raw phase: %s)\n", s.RawRate, strings.Join(each, ", "))
	}
	if s.PushRate > 0 {
		fmt.Fprintf(b, "  push: %d users at %.1f users/s (a lookup and a create each; request p99 %.2fms)\n", s.PushUsers, s.PushRate, s.PushRequestP99MS)
		if s.PushOverRaw > 0 {
			fmt.Fprintf(b, "  push/raw: %.3f (target ≥ %.1f: %s)\n", s.PushOverRaw, targetRawRatio, verdict(s.PushOverRaw >= targetRawRatio))
		}
	}
	writeTenths(b, "push", s.Tenths)
	if s.LookupDuringP99MS > 0 {
		fmt.Fprintf(b, "  userName eq during the push: p50 %.2fms p99 %.2fms (target p99 ≤ %.0fms: %s)\n",
			s.LookupDuringP50MS, s.LookupDuringP99MS, targetLookupP99MS, verdict(s.LookupDuringP99MS <= targetLookupP99MS))
	}
	if s.LookupAfterP99MS > 0 {
		fmt.Fprintf(b, "  userName eq after the push: p50 %.2fms p99 %.2fms (target p99 ≤ %.0fms: %s)\n",
			s.LookupAfterP50MS, s.LookupAfterP99MS, targetLookupP99MS, verdict(s.LookupAfterP99MS <= targetLookupP99MS))
	}
	if s.Tenants > 0 {
		fmt.Fprintf(b, "  tenants: %d organizations at %.1f users/s in all; tenant p99 min %.2fms, median %.2fms, max %.2fms\n",
			s.Tenants, s.TenantsRate, s.TenantP99MS[0], s.TenantP99MS[1], s.TenantP99MS[2])
		writeTenths(b, "tenants", s.TenantsTenths)
		if s.BaselineP99MS > 0 {
			fmt.Fprintf(b, "  worst tenant p99 / single-tenant p99 %.2fms: %.2f (target ≤ %.0f: %s)\n",
				s.BaselineP99MS, s.WorstTenantOverP99, targetTenantP99, verdict(s.WorstTenantOverP99 <= targetTenantP99))
		}
		if s.BaselineRate > 0 {
			fmt.Fprintf(b, "  total rate / single-tenant rate %.1f users/s: %.3f (target within %.0f%%: %s)\n",
				s.BaselineRate, s.TenantsOverRate, 100*targetTenantRateGap, verdict(s.TenantsOverRate >= 1-targetTenantRateGap))
		}
	}
	if s.RSSPeakMiB > 0 {
		fmt.Fprintf(b, "  server peak RSS: %.1f MiB (target ≤ %.0f MiB: %s)\n", s.RSSPeakMiB, targetRSSMiB, verdict(s.RSSPeakMiB <= targetRSSMiB))
	}
}

func writeTenths(b *strings.Builder, name string, tenths []float64) {
	if len(tenths) != 10 {
		return
	}
	each := make([]string, len(tenths))
	for i, r := range tenths {
		each[i] = fmt.Sprintf("%.0f", r)
	}
	ratio := slices.Min(tenths) / slices.Max(tenths)
	fmt.Fprintf(b, "  %s by tenths (users/s): %s; slowest/fastest %.3f (target ≥ %.1f: %s)\n",
		name, strings.Join(each, " "), ratio, targetTenthRatio, verdict(ratio >= targetTenthRatio))
}

// writeStatements prints pg_stat_statements' top statements.
func writeStatements(b *strings.Builder, st []stmtStat) {
	if len(st) == 0 {
		return
	}
	b.WriteString("\npg_stat_statements, top statements by total time (nested ones too with pg_stat_statements.track=all):\n")
	fmt.Fprintf(b, "%10s %10s %9s %9s  %s\n", "total ms", "calls", "mean ms", "rows", "query")
	for _, s := range st {
		q := strings.Join(strings.Fields(s.Query), " ")
		if !s.TopLevel {
			q = "(nested) " + q
		}
		fmt.Fprintf(b, "%10.0f %10d %9.3f %9d  %s\n", s.TotalMS, s.Calls, s.MeanMS, s.Rows, truncate(q, 200))
	}
}

// readBaseline reads the summary of an earlier run's JSON report.
func readBaseline(path string) (*runSummary, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--baseline: %w", err)
	}
	var rep struct {
		Summary *runSummary `json:"summary"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("--baseline %s: %w", path, err)
	}
	if rep.Summary == nil || rep.Summary.PushRate == 0 {
		return nil, fmt.Errorf("--baseline %s: not the report of a push", path)
	}
	return rep.Summary, nil
}

var dsnPassword = regexp.MustCompile(`password=\S+`)

// redactDSN hides a connection string's password for the report.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
		return u.String()
	}
	return dsnPassword.ReplaceAllString(dsn, "password=redacted")
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
