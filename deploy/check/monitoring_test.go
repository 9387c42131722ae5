package check

import (
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

var (
	dashboardPath = filepath.Join(deployDir, "grafana", "scimbridge.json")
	alertsPath    = filepath.Join(deployDir, "prometheus", "alerts.yaml")
	operationsDoc = filepath.Join(repoRoot, "docs", "operations.md")
)

// external are the metrics the rules read from elsewhere than scimbridge:
// kube-state-metrics, for readiness (which the service does not export).
var external = map[string]bool{"kube_pod_container_status_ready": true}

func promqlParser() parser.Parser { return parser.NewParser(parser.Options{}) }

// grafanaVars stands in for the variables Grafana replaces in a query
// before Prometheus sees it.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// dashboardQueries returns every panel's queries, by panel title.
func dashboardQueries(d dashboard) map[string][]string {
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out[p.Title] = append(out[p.Title], tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// alertQueries returns every rule's expression, by alert name.
func alertQueries(t *testing.T) (map[string]string, *rulefmt.RuleGroups) {
	t.Helper()
	groups, errs := rulefmt.ParseFile(alertsPath, false, model.UTF8Validation, promqlParser(), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("%s: %v", alertsPath, errs)
	}
	out := map[string]string{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	return out, groups
}

// metricNames returns the metric names a PromQL expression selects.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := promqlParser().ParseExpr(grafanaVars.Replace(expr))
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name == "" {
				t.Errorf("%q selects series without naming a metric", expr)
			}
			names = append(names, name)
		}
		return nil
	})
	return names
}

// The rule file is one Prometheus loads: strict YAML, every expression
// valid PromQL, every template valid; and every alert says how bad it is,
// what happened, and links a runbook that docs/operations.md has.
func TestAlertRulesLoadAndLinkTheirRunbooks(t *testing.T) {
	t.Parallel()
	_, groups := alertQueries(t)
	doc, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(string(doc))
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", r.Alert)
			}
			url := r.Annotations["runbook_url"]
			_, anchor, _ := strings.Cut(url, "/docs/operations.md#")
			if !anchors[anchor] {
				t.Errorf("%s: runbook_url %q names no heading of docs/operations.md", r.Alert, url)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts")
	}
}

var headingRE = regexp.MustCompile(`(?m)^#{1,6} (.+)$`)

// markdownAnchors returns the anchors GitHub makes of a document's
// headings: lower case, punctuation dropped, spaces to hyphens.
func markdownAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(doc, -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(m[1])) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		out[b.String()] = true
	}
	return out
}

// The dashboard is one Grafana imports: JSON, unique panel ids, panels
// inside the 24-column grid, every query valid PromQL on the dashboard's
// data source variable, and every variable a query uses defined.
func TestDashboardIsWellFormed(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q uid %q", d.Title, d.UID)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, want := range []string{"datasource", "namespace", "job"} {
		if !vars[want] {
			t.Errorf("no variable %q", want)
		}
	}
	ids := map[int]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q at %+v: outside the grid", p.Title, p.GridPos)
			}
			if p.Type != "row" {
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q: data source %+v, want ${datasource}", p.Title, p.Datasource)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
			}
			for _, tg := range p.Targets {
				for _, m := range regexp.MustCompile(`\$(\w+)`).FindAllStringSubmatch(tg.Expr, -1) {
					if !vars[m[1]] && !strings.HasPrefix(m[1], "__") {
						t.Errorf("panel %q uses $%s, which the dashboard does not define", p.Title, m[1])
					}
				}
				metricNames(t, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
}

// The dashboard and the alerts read only metrics a real server exports
// (and kube-state-metrics' readiness); the dashboard shows every metric
// of scimbridge's own, and docs/operations.md explains every one.
func TestDashboardAndAlertsReadExportedMetrics(t *testing.T) {
	t.Parallel()
	fams := exportedMetrics(t)
	names := seriesNames(fams)
	alerts, _ := alertQueries(t)
	used := map[string]bool{}
	for title, exprs := range dashboardQueries(readDashboard(t)) {
		for _, e := range exprs {
			for _, n := range metricNames(t, e) {
				used[n] = true
				if !names[n] {
					t.Errorf("dashboard panel %q reads %s, which /metrics does not serve", title, n)
				}
			}
		}
	}
	for alert, e := range alerts {
		for _, n := range metricNames(t, e) {
			if !names[n] && !external[n] {
				t.Errorf("alert %s reads %s, which /metrics does not serve", alert, n)
			}
		}
	}
	doc, err := os.ReadFile(operationsDoc)
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range fams {
		if !strings.HasPrefix(name, "scimbridge_") {
			continue
		}
		shown := used[name]
		if f.GetType() == dto.MetricType_HISTOGRAM {
			shown = used[name+"_bucket"] || used[name+"_count"]
		}
		if !shown {
			t.Errorf("the dashboard shows nothing of %s", name)
		}
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/operations.md does not explain %s", name)
		}
	}
	if t.Failed() {
		t.Logf("exported: %v", slices.Sorted(maps.Keys(names)))
	}
}
