package httpserver_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/httpserver"
)

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReadyzAnswersWhatReadySays(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	s := httpserver.New(httpserver.Config{Ready: func(context.Context) error {
		if down.Load() {
			return errors.New("database unreachable")
		}
		return nil
	}})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, c := range []struct {
		down bool
		want int
	}{{false, 200}, {true, 503}, {false, 200}} {
		down.Store(c.down)
		resp, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b := body(t, resp)
		if resp.StatusCode != c.want {
			t.Fatalf("down=%v: /readyz = %d, want %d", c.down, resp.StatusCode, c.want)
		}
		if strings.Contains(b, "unreachable") {
			t.Fatalf("/readyz leaks the internal error: %q", b)
		}
	}
}

func TestRequestIDsAndMetricsByRoute(t *testing.T) {
	t.Parallel()
	s := httpserver.New(httpserver.Config{})
	s.Handle("GET /things/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if httpserver.RequestID(r.Context()) == "" {
			t.Error("no request id in the handler's context")
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	s.Handle("/sub/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpserver.SetRoute(r, "GET /sub/Users")
	}))
	s.Handle("GET /boom", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/things/1", nil)
	req.Header.Set("X-Request-Id", "from-the-proxy-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body(t, resp)
	if got := resp.Header.Get("X-Request-Id"); got != "from-the-proxy-1" {
		t.Fatalf("X-Request-Id = %q, want the client's", got)
	}
	req.Header.Set("X-Request-Id", "bad id\twith junk")
	resp, _ = http.DefaultClient.Do(req)
	body(t, resp)
	if got := resp.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Fatalf("X-Request-Id = %q, want a fresh id in place of junk", got)
	}
	for _, p := range []string{"/things/2", "/sub/x", "/boom"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
		if p == "/boom" && resp.StatusCode != 500 {
			t.Fatalf("panic: status %d, want 500", resp.StatusCode)
		}
	}
	resp, _ = http.Get(srv.URL + "/metrics")
	metrics := body(t, resp)
	for _, want := range []string{
		`scimbridge_http_requests_total{code="418",method="GET",route="GET /things/{id}"} 3`,
		`scimbridge_http_requests_total{code="200",method="GET",route="GET /sub/Users"} 1`,
		`scimbridge_http_requests_total{code="500",method="GET",route="GET /boom"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// seriesCount is how many series the registry's request counter has.
func seriesCount(t *testing.T, s *httpserver.Server) int {
	t.Helper()
	mfs, err := s.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "scimbridge_http_requests_total" {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestJunkMethodsAndPathsCannotGrowTheMetrics(t *testing.T) {
	t.Parallel()
	s := httpserver.New(httpserver.Config{})
	s.Handle("/sub/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A sub-router that names its route with the client's method, as
		// the SCIM handler does.
		httpserver.SetRoute(r, httpserver.MethodLabel(r.Method)+" /sub/")
		w.WriteHeader(http.StatusTeapot)
	}))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for i := range 200 {
		method := "JUNK" + strings.Repeat("X", i) // a new token each time
		for _, path := range []string{"/sub/x", "/nowhere/" + strings.Repeat("p", i)} {
			req, err := http.NewRequest(method, srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body(t, resp)
		}
	}
	// "other /sub/" + 418 and "unmatched" + other + 404 (or 405).
	if n := seriesCount(t, s); n > 3 {
		mfs, _ := s.Registry.Gather()
		t.Fatalf("%d series after junk requests, want at most 3: %v", n, mfs)
	}
}

func TestMethodLabelKeepsKnownMethodsOnly(t *testing.T) {
	t.Parallel()
	for m, want := range map[string]string{
		"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH",
		"DELETE": "DELETE", "OPTIONS": "OPTIONS", "get": "other", "TRACE": "other",
		"PROPFIND": "other", "": "other", strings.Repeat("A", 60<<10): "other",
	} {
		if got := httpserver.MethodLabel(m); got != want {
			t.Errorf("MethodLabel(%.20q) = %q, want %q", m, got, want)
		}
	}
}

func TestEveryRequestHasTheConfiguredDeadline(t *testing.T) {
	t.Parallel()
	for _, timeout := range []time.Duration{0, time.Minute} {
		s := httpserver.New(httpserver.Config{RequestTimeout: timeout})
		var deadline time.Time
		var has bool
		s.Handle("GET /x", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			deadline, has = r.Context().Deadline()
		}))
		srv := httptest.NewServer(s.Handler())
		start := time.Now()
		resp, err := http.Get(srv.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
		srv.Close()
		switch {
		case timeout == 0 && has:
			t.Errorf("no RequestTimeout, yet the request has a deadline %v away", deadline.Sub(start))
		case timeout > 0 && (!has || deadline.Before(start.Add(timeout-time.Second)) || deadline.After(time.Now().Add(timeout))):
			t.Errorf("RequestTimeout %v: deadline %v (set %v), want about %v from the request", timeout, deadline.Sub(start), has, timeout)
		}
	}
}
