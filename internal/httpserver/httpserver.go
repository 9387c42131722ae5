// Package httpserver is scimbridge's HTTP front: the mux that adapters mount
// their handlers on, health and readiness probes, Prometheus metrics, request
// ids, structured access logs and the server's timeouts.
package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures a Server.
type Config struct {
	Logger *slog.Logger
	// Ready reports whether the service can take traffic (database reachable
	// and migrated). nil means always ready.
	Ready func(context.Context) error
	// Registry receives the metrics; nil makes a fresh one.
	Registry *prometheus.Registry
	// RequestTimeout is every request's deadline: its context ends then,
	// so that the database work under it stops and the handler answers
	// (503 with Retry-After) instead of hanging on a held or paused
	// database. 0 means no deadline.
	RequestTimeout time.Duration
}

// Server routes requests and wraps every one with ids, logs and metrics.
type Server struct {
	mux      *http.ServeMux
	log      *slog.Logger
	ready    func(context.Context) error
	timeout  time.Duration
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns a server with /healthz, /readyz and /metrics mounted.
func New(cfg Config) *Server {
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		mux:      http.NewServeMux(),
		log:      log,
		ready:    cfg.Ready,
		timeout:  cfg.RequestTimeout,
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimbridge_http_requests_total",
			Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scimbridge_http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route", "method", "code"}),
	}
	reg.MustRegister(s.requests, s.latency)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s
}

// Handle mounts h on a ServeMux pattern.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the root handler with every middleware applied.
func (s *Server) Handler() http.Handler { return s.instrument(s.mux) }

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ready(ctx); err != nil {
			s.log.Warn("not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// NewHTTPServer returns an http.Server with timeouts that bound slow or
// idle clients. The write timeout leaves room after the request deadline
// for the answer that reports it.
func NewHTTPServer(addr string, h http.Handler, log *slog.Logger, requestTimeout time.Duration) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      max(75*time.Second, requestTimeout+15*time.Second), // Entra gives up after 60 s
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	routeKey
)

// RequestID is the id of the request being served, for logs.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// knownMethods are the methods that may appear in a metric label; anything
// else a client sends is counted as "other", so that junk methods cannot
// create series without bound.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// MethodLabel is the request method as a metric label or route prefix: one
// of the standard methods, or "other".
func MethodLabel(method string) string {
	if knownMethods[method] {
		return method
	}
	return "other"
}

// SetRoute names the route of the request for metrics and logs, where the
// mux pattern alone is too coarse (a sub-router under one prefix). route
// must come from a fixed set (a pattern, never a client's value); a method
// in it goes through MethodLabel.
func SetRoute(r *http.Request, route string) {
	if p, ok := r.Context().Value(routeKey).(*string); ok {
		*p = route
	}
}

var goodRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// codeLabel is the status code as a metric label; handlers only write
// codes from 100 to 599, but a bogus one would otherwise be a new series.
func codeLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

func logMethod(m string) string {
	if len(m) > 16 {
		return m[:16] + "…"
	}
	return m
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !goodRequestID.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		var route string
		ctx := context.WithValue(context.WithValue(r.Context(), requestIDKey, id), routeKey, &route)
		if s.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.timeout)
			defer cancel()
		}
		r = r.WithContext(ctx)
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "request_id", id, "panic", v)
				if rec.status == 0 {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			if route == "" {
				route = r.Pattern
			}
			if route == "" {
				route = "unmatched"
			}
			code := rec.status
			if code == 0 {
				code = http.StatusOK
			}
			d := time.Since(start)
			c := codeLabel(code)
			m := MethodLabel(r.Method)
			s.requests.WithLabelValues(route, m, c).Inc()
			s.latency.WithLabelValues(route, m, c).Observe(d.Seconds())
			// The URL's query is not logged: filters may carry personal data.
			// An unknown method is logged cut short: it is the client's.
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("request_id", id), slog.String("method", logMethod(r.Method)),
				slog.String("path", r.URL.Path), slog.String("route", route),
				slog.Int("status", code), slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", d))
		}()
		next.ServeHTTP(rec, r)
	})
}
