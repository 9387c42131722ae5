package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scimbridge/internal/directory"
)

func init() {
	register(command{name: "scim health", summary: "Show an organization's provisioning health: requests and failures per operation over 1h/24h/7d against Entra's quarantine threshold, each token's last request, Okta's job-stopping 409s and the last failed requests.", flags: scimHealthFlags})
}

// healthMetrics counts SCIM requests for Prometheus by operation, outcome
// and scimType (fixed sets), and by organization only when the operator
// asks for it: one series per organization can be many.
type healthMetrics struct {
	requests *prometheus.CounterVec
	byOrg    bool
}

func newHealthMetrics(reg prometheus.Registerer, byOrg bool) *healthMetrics {
	labels := []string{"operation", "outcome", "scim_type"}
	if byOrg {
		labels = append(labels, "org")
	}
	m := &healthMetrics{byOrg: byOrg, requests: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "scimbridge_scim_provisioning_requests_total",
		Help: "SCIM requests of known tokens by operation, outcome (ok, failure, paused) and RFC 7644 scimType; by organization with --metrics-org-labels.",
	}, labels)}
	reg.MustRegister(m.requests)
	return m
}

func (m *healthMetrics) Record(r directory.SCIMRequest) {
	outcome := "ok"
	switch {
	case r.Paused:
		outcome = "paused"
	case r.Failed():
		outcome = "failure"
	}
	values := []string{r.Operation, outcome, r.ScimType}
	if m.byOrg {
		// The slug is the operator's or an org admin's name for the
		// organization, never a SCIM client's value.
		values = append(values, r.OrgSlug)
	}
	m.requests.WithLabelValues(values...).Inc()
}

// healthRecorders sends each note to every recorder.
type healthRecorders []interface{ Record(directory.SCIMRequest) }

func (rs healthRecorders) Record(r directory.SCIMRequest) {
	for _, x := range rs {
		x.Record(r)
	}
}

func scimHealthFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	failures := fs.Int("failures", 10, "how many of the last failed requests to show (0-100)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("scim health", args); err != nil {
			return err
		}
		if *failures < 0 || *failures > directory.MaxRecentFailures {
			return usagef("--failures %d: want 0-%d", *failures, directory.MaxRecentFailures)
		}
		return withOrg(ctx, e, c, "scim health", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			ph, err := db.ProvisioningHealth(ctx, o.ID, time.Now())
			if err != nil {
				return err
			}
			if *asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ph)
			}
			printHealth(e, o, ph, *failures)
			return nil
		})
	}
}

func printHealth(e env, o directory.Organization, ph directory.ProvisioningHealth, failures int) {
	w := e.stdout
	fmt.Fprintf(w, "Provisioning health of %s at %s (warn at %.0f%% failing; Entra quarantines above %.0f%%)\n\n",
		o.Slug, ph.At.UTC().Format(time.RFC3339), directory.WarnRatio*100, directory.QuarantineRatio*100)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WINDOW\tREQUESTS\tFAILURES\tFAILING\tSTATE")
	for _, hw := range ph.Windows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f%%\t%s\n", hw.Window, hw.Requests, hw.Failures, hw.Ratio()*100, hw.State)
	}
	_ = tw.Flush()
	if len(ph.Windows) > 1 && ph.Windows[1].Requests > 0 {
		fmt.Fprintln(w, "\nLast 24h by operation:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  OPERATION\tREQUESTS\tFAILURES")
		for _, oc := range ph.Windows[1].ByOperation {
			fmt.Fprintf(tw, "  %s\t%d\t%d\n", oc.Operation, oc.Requests, oc.Failures)
		}
		_ = tw.Flush()
		if len(ph.Windows[1].ByError) > 0 {
			fmt.Fprintln(w, "\nLast 24h failures by kind:")
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  OPERATION\tSTATUS\tSCIMTYPE\tCOUNT")
			for _, ec := range ph.Windows[1].ByError {
				fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\n", ec.Operation, ec.Status, dash(ec.ScimType), ec.Count)
			}
			_ = tw.Flush()
		}
	}
	if ph.Okta409 > 0 {
		fmt.Fprintf(w, "\n%d POST /Users answered 409 in the last 24h: Okta stops its import or push job at each; resolve the existing user before Okta retries.\n", ph.Okta409)
	}
	fmt.Fprintln(w, "\nTokens:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tLAST REQUEST\tOPERATION\tSTATUS\tCLIENT")
	for _, t := range ph.Tokens {
		name := t.Name
		if t.Revoked {
			name += " (revoked)"
		}
		status := "-"
		if t.LastStatus != 0 {
			status = fmt.Sprint(t.LastStatus)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", name, stamp(t.LastAt), dash(t.LastOperation), status, dash(t.Client))
	}
	_ = tw.Flush()
	if failures > 0 && len(ph.Recent) > 0 {
		fmt.Fprintf(w, "\nLast failed requests (newest first, %d of %d kept):\n", min(failures, len(ph.Recent)), len(ph.Recent))
		for _, f := range ph.Recent[:min(failures, len(ph.Recent))] {
			fmt.Fprintf(w, "  %s  %s %s  %d %s  token %s\n", f.At.UTC().Format(time.RFC3339), f.Method, f.Path, f.Status, dash(f.ScimType), f.TokenName)
			if f.Detail != "" {
				fmt.Fprintf(w, "      %s\n", f.Detail)
			}
			if f.OktaStopsOn409() {
				fmt.Fprintln(w, "      Okta stops its job at this 409")
			}
			if f.Body != "" {
				fmt.Fprintf(w, "      body: %s\n", strings.ReplaceAll(f.Body, "\n", " "))
			}
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
