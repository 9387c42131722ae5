package check

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// A float sample of the in-memory series below.
type fsample struct {
	t int64
	f float64
}

func (s fsample) T() int64                      { return s.t }
func (s fsample) ST() int64                     { return 0 }
func (s fsample) F() float64                    { return s.f }
func (s fsample) H() *histogram.Histogram       { return nil }
func (s fsample) FH() *histogram.FloatHistogram { return nil }
func (s fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s fsample) Copy() chunks.Sample           { return s }

type listSet struct {
	series []storage.Series
	i      int
}

func (s *listSet) Next() bool                        { s.i++; return s.i <= len(s.series) }
func (s *listSet) At() storage.Series                { return s.series[s.i-1] }
func (s *listSet) Err() error                        { return nil }
func (s *listSet) Warnings() annotations.Annotations { return nil }

// series is one scraped time series: its labels and its value at each
// minute of the scenario (a counter's total, a gauge's value).
type series struct {
	labels []string // name, value, … (__name__ first)
	value  func(minute int) float64
}

// scenario is 60 minutes of scrapes, one every 15 s.
const scenarioMinutes = 60

// memQueryable serves the series to PromQL's engine.
func memQueryable(ss []series) storage.Queryable {
	var all []storage.Series
	for _, s := range ss {
		var samples []chunks.Sample
		for ms := int64(0); ms <= scenarioMinutes*60_000; ms += 15_000 {
			m := float64(ms) / 60_000
			// Counters grow smoothly between the whole minutes.
			lo := s.value(int(m))
			hi := s.value(int(m) + 1)
			samples = append(samples, fsample{t: ms, f: lo + (hi-lo)*(m-float64(int(m)))})
		}
		all = append(all, storage.NewListSeries(labels.FromStrings(s.labels...), samples))
	}
	slices.SortFunc(all, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return &storage.MockQueryable{MockQuerier: &storage.MockQuerier{
		SelectMockFunction: func(_ bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
			var out []storage.Series
			for _, s := range all {
				ok := true
				for _, m := range ms {
					if !m.Matches(s.Labels().Get(m.Name)) {
						ok = false
					}
				}
				if ok {
					out = append(out, s)
				}
			}
			return &listSet{series: out}
		},
	}}
}

// counter grows by perMinute each minute.
func counter(perMinute float64) func(int) float64 {
	return func(m int) float64 { return perMinute * float64(m) }
}

func gauge(v float64) func(int) float64 { return func(int) float64 { return v } }

// prov is a counter of provisioning requests of an outcome, perMinute a
// minute, for organization org ("" without --metrics-org-labels).
func prov(org, outcome string, perMinute float64) series {
	l := []string{"__name__", "scimbridge_scim_provisioning_requests_total", "job", "scimbridge", "namespace", "scim",
		"operation", "POST /Users", "outcome", outcome, "scim_type", ""}
	if org != "" {
		l = append(l, "org", org)
	}
	return series{labels: l, value: counter(perMinute)}
}

func sequencer(outcome string, perMinute float64) series {
	return series{labels: []string{"__name__", "scimbridge_event_sequencer_passes_total", "job", "scimbridge", "namespace", "scim",
		"outcome", outcome}, value: counter(perMinute)}
}

func lag(seconds float64) series {
	return series{labels: []string{"__name__", "scimbridge_event_sequencer_lag_seconds", "job", "scimbridge", "namespace", "scim",
		"instance", "10.0.0.7:8080"}, value: gauge(seconds)}
}

// scim is a counter of SCIM requests answered code, perMinute a minute.
func scim(code string, perMinute float64) series {
	return series{labels: []string{"__name__", "scimbridge_http_requests_total", "job", "scimbridge", "namespace", "scim",
		"route", "POST /scim/v2/{org}/Users", "method", "POST", "code", code}, value: counter(perMinute)}
}

func runs(outcome string, perMinute float64) series {
	return series{labels: []string{"__name__", "scimbridge_reconcile_runs_total", "job", "scimbridge", "namespace", "scim",
		"outcome", outcome}, value: counter(perMinute)}
}

func pool(name string, value func(int) float64) series {
	return series{labels: []string{"__name__", "scimbridge_db_pool_" + name, "job", "scimbridge", "namespace", "scim",
		"instance", "10.0.0.7:8080"}, value: value}
}

// Each alert's expression, evaluated by Prometheus' own engine on an hour
// of made-up scrapes, holds for the situation it is named after and not
// for its near misses. (Its for: duration is Prometheus' to apply.)
func TestAlertsHoldForWhatTheyAreNamedAfter(t *testing.T) {
	t.Parallel()
	alerts, _ := alertQueries(t)
	covered := map[string]map[bool]bool{} // alert → fires → has a case
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute, Parser: promqlParser()})
	for _, tc := range []struct {
		name   string
		alert  string
		series []series
		fires  bool
	}{
		{"a quarter of SCIM requests fail", "ScimbridgeSCIMFailureRatioHigh",
			[]series{prov("", "ok", 75), prov("", "failure", 25)}, true},
		{"a tenth of SCIM requests fail", "ScimbridgeSCIMFailureRatioHigh",
			[]series{prov("", "ok", 90), prov("", "failure", 10)}, false},
		{"half of very few SCIM requests fail", "ScimbridgeSCIMFailureRatioHigh",
			[]series{prov("", "ok", 1), prov("", "failure", 1)}, false},
		{"one organization's requests fail among many that succeed", "ScimbridgeSCIMFailureRatioHigh",
			[]series{prov("acme", "ok", 10), prov("acme", "failure", 10), prov("globex", "ok", 500)}, true},
		{"38 % of SCIM requests fail or are held", "ScimbridgeSCIMFailureRatioNearQuarantine",
			[]series{prov("", "ok", 62), prov("", "failure", 18), prov("", "paused", 20)}, true},
		{"30 % of SCIM requests fail", "ScimbridgeSCIMFailureRatioNearQuarantine",
			[]series{prov("", "ok", 70), prov("", "failure", 30)}, false},
		{"half of very few SCIM requests fail, near quarantine", "ScimbridgeSCIMFailureRatioNearQuarantine",
			[]series{prov("", "ok", 1), prov("", "failure", 1)}, false},
		{"every SCIM request succeeds", "ScimbridgeSCIMFailureRatioNearQuarantine",
			[]series{prov("", "ok", 200)}, false},
		{"409s keep coming", "ScimbridgeSCIMConflicts",
			[]series{scim("201", 100), scim("409", 3)}, true},
		{"no 409", "ScimbridgeSCIMConflicts",
			[]series{scim("201", 100), scim("400", 3)}, false},
		{"a tenth of requests get 503", "ScimbridgeStoreUnavailable",
			[]series{scim("200", 90), scim("503", 10)}, true},
		{"a few 503s", "ScimbridgeStoreUnavailable",
			[]series{scim("200", 99), scim("503", 1)}, false},
		{"a tenth of SCIM requests take 8 s", "ScimbridgeSCIMSlow",
			latency(map[string]float64{"0.1": 90, "2.5": 90, "10": 100, "+Inf": 100}), true},
		{"every SCIM request takes under 250 ms", "ScimbridgeSCIMSlow",
			latency(map[string]float64{"0.1": 90, "0.25": 100, "2.5": 100, "10": 100, "+Inf": 100}), false},
		{"runs keep failing", "ScimbridgeReconcilerFailing",
			[]series{runs("ok", 1), runs("error", 0.2)}, true},
		{"runs succeed", "ScimbridgeReconcilerFailing",
			[]series{runs("ok", 1), runs("error", 0), runs("skipped", 1)}, false},
		{"replicas skip and nothing completes", "ScimbridgeReconcilerStuck",
			[]series{runs("ok", 0), runs("skipped", 0.4)}, true},
		{"replicas skip while another runs", "ScimbridgeReconcilerStuck",
			[]series{runs("ok", 0.2), runs("skipped", 0.4)}, false},
		{"the oldest event has waited two minutes", "ScimbridgeEventSequencerLagging",
			[]series{lag(120)}, true},
		{"events are numbered within a second", "ScimbridgeEventSequencerLagging",
			[]series{lag(0.5)}, false},
		{"sequencer passes fail and none succeeds", "ScimbridgeEventSequencerFailing",
			[]series{sequencer("error", 30), sequencer("ok", 0)}, true},
		{"one replica's passes fail while another's succeed", "ScimbridgeEventSequencerFailing",
			[]series{sequencer("error", 30), sequencer("ok", 30)}, false},
		{"19 of 20 connections in use", "ScimbridgeDBPoolExhausted",
			[]series{pool("acquired_connections", gauge(19)), pool("max_connections", gauge(20))}, true},
		{"5 of 20 connections in use", "ScimbridgeDBPoolExhausted",
			[]series{pool("acquired_connections", gauge(5)), pool("max_connections", gauge(20))}, false},
		{"acquisitions wait 200 ms", "ScimbridgeDBPoolWaits",
			[]series{pool("acquire_seconds_total", counter(12)), pool("acquires_total", counter(60))}, true},
		{"acquisitions wait 1 ms", "ScimbridgeDBPoolWaits",
			[]series{pool("acquire_seconds_total", counter(0.06)), pool("acquires_total", counter(60))}, false},
		{"a replica is not ready", "ScimbridgeReplicaNotReady",
			[]series{ready("a", 1), ready("b", 0)}, true},
		{"both replicas are ready", "ScimbridgeReplicaNotReady",
			[]series{ready("a", 1), ready("b", 1)}, false},
		{"no replica is ready", "ScimbridgeNoReplicaReady",
			[]series{ready("a", 0), ready("b", 0)}, true},
		{"one replica is ready", "ScimbridgeNoReplicaReady",
			[]series{ready("a", 1), ready("b", 0)}, false},
	} {
		if covered[tc.alert] == nil {
			covered[tc.alert] = map[bool]bool{}
		}
		covered[tc.alert][tc.fires] = true
		t.Run(tc.name, func(t *testing.T) {
			expr, ok := alerts[tc.alert]
			if !ok {
				t.Fatalf("no alert %s", tc.alert)
			}
			q, err := engine.NewInstantQuery(context.Background(), memQueryable(tc.series), nil, expr, time.UnixMilli(scenarioMinutes*60_000))
			if err != nil {
				t.Fatal(err)
			}
			res := q.Exec(context.Background())
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			v, err := res.Vector()
			if err != nil {
				t.Fatal(err)
			}
			if fires := len(v) > 0; fires != tc.fires {
				t.Fatalf("%s: fires = %v (%v), want %v", tc.alert, fires, v, tc.fires)
			}
		})
	}
	// Every alert has a case that fires and one that does not.
	for alert := range alerts {
		if !covered[alert][true] || !covered[alert][false] {
			t.Errorf("%s: no case where it fires, or none where it does not", alert)
		}
	}
}

// latency is the SCIM duration histogram: perMinute[le] requests a
// minute no slower than le (cumulative, as Prometheus' buckets are).
func latency(perMinute map[string]float64) []series {
	var out []series
	for le, n := range perMinute {
		out = append(out, series{labels: []string{"__name__", "scimbridge_http_request_duration_seconds_bucket", "job", "scimbridge",
			"namespace", "scim", "route", "GET /scim/v2/{org}/Users", "method", "GET", "code", "200", "le", le}, value: counter(n)})
	}
	return out
}

func ready(pod string, v float64) series {
	return series{labels: []string{"__name__", "kube_pod_container_status_ready", "namespace", "scim", "pod", "scimbridge-" + pod,
		"container", "scimbridge"}, value: gauge(v)}
}
