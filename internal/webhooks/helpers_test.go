package webhooks_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/secretbox"
	"github.com/scimbridge/scimbridge/internal/webhooks"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var admin = directory.Actor{Kind: "cli", Name: "test"}

// clock is the injected clock of the store's times and the worker's
// backoffs and leases.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a database with an organization, a secret key and the
// subscription manager, as serve wires them.
type env struct {
	dsn   string
	db    *postgres.DB
	box   *secretbox.Box
	org   directory.Organization
	subs  webhooks.Subscriptions
	clock *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	key := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(key)
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dsn: pgtest.DSN(t), box: box, clock: newClock()}
	e.db = openDB(t, e.dsn)
	e.org = e.newOrg(t, "acme")
	// The receivers of these tests listen on 127.0.0.1 over http: the
	// operator's flag for private networks lets them be reached.
	e.subs = webhooks.Subscriptions{Store: e.db, Box: box, Egress: egress.Policy{AllowPrivate: true}, Now: e.clock.Now}
	return e
}

func openDB(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return postgres.New(pool, slog.New(slog.DiscardHandler))
}

// pgtestDB is another store on the env's database, with a pool of its
// own: a second replica.
func pgtestDB(t *testing.T, e *env) *postgres.DB { return openDB(t, e.dsn) }

func (e *env) newOrg(t *testing.T, slug string) directory.Organization {
	t.Helper()
	o, err := e.db.CreateOrganization(context.Background(), slug, slug)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (e *env) subscribe(t *testing.T, orgID, url string, types ...string) (directory.Subscription, string) {
	t.Helper()
	s, secret, err := e.subs.Create(context.Background(), admin, orgID, directory.SubscriptionInput{URL: url, EventTypes: types})
	if err != nil {
		t.Fatal(err)
	}
	return s, secret
}

// emit appends committed events as the store's writers do (the columns
// of postgres.appendEvent); the worker numbers them before fanning out.
func (e *env) emit(t *testing.T, orgID, typ, resource string, data any) {
	t.Helper()
	b, _ := json.Marshal(data)
	if _, err := e.db.Pool.Exec(context.Background(), `INSERT INTO events (org_id, type, resource_type, resource_id, actor_kind, actor_name, data)
		VALUES ($1, $2, 'User', $3, 'scim-token', 'okta', $4)`, orgID, typ, resource, b); err != nil {
		t.Fatal(err)
	}
}

// worker is a delivery worker on the env's clock, with a deterministic
// jitter (the full ceiling) and a short timeout.
func (e *env) worker(store webhooks.Store) *webhooks.Worker {
	if store == nil {
		store = e.db
	}
	return &webhooks.Worker{Store: store, Box: e.box, Client: webhooks.NewClient(egress.Policy{AllowPrivate: true}, 30*time.Second, 8),
		Now: e.clock.Now, Jitter: func(d time.Duration) time.Duration { return d }, Timeout: 2 * time.Second}
}

func runOnce(t *testing.T, w *webhooks.Worker) int {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) deliveries(t *testing.T, orgID, subID string) []directory.Delivery {
	t.Helper()
	ds, _, err := e.db.Deliveries(context.Background(), orgID, subID, postgres.DeliveryQuery{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// received is one request a receiver got.
type received struct {
	EventID   string
	Signature string
	Body      []byte
	Event     struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		ResourceID string `json:"resourceId"`
		Data       struct {
			N int `json:"n"`
		} `json:"data"`
	}
	ContentType string
}

// receiver is a real HTTP receiver. It verifies every signature as
// docs/events.md tells receivers to (written here again, not calling the
// package's Sign), and answers with answer (200 when nil).
type receiver struct {
	*httptest.Server
	secrets []string

	mu       sync.Mutex
	got      []received
	bad      int // requests whose signature did not verify
	inFlight int
	maxIn    int
	answer   func(r received, n int) int // n: how many requests came before
}

func newReceiver(t *testing.T, secrets ...string) *receiver {
	t.Helper()
	rc := &receiver{secrets: secrets}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	got := received{EventID: r.Header.Get("X-Scimbridge-Event-Id"), Signature: r.Header.Get("X-Scimbridge-Signature"), Body: body,
		ContentType: r.Header.Get("Content-Type")}
	_ = json.Unmarshal(body, &got.Event)
	rc.mu.Lock()
	ok := false
	for _, s := range rc.secrets {
		ok = ok || verify(s, got.Signature, body, time.Now(), 365*24*time.Hour)
	}
	if !ok {
		rc.bad++
	}
	n := len(rc.got)
	rc.got = append(rc.got, got)
	rc.inFlight++
	rc.maxIn = max(rc.maxIn, rc.inFlight)
	answer := rc.answer
	rc.mu.Unlock()
	status := http.StatusOK
	if answer != nil {
		status = answer(got, n)
	}
	rc.mu.Lock()
	rc.inFlight--
	rc.mu.Unlock()
	w.WriteHeader(status)
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// verify is the receiver's check of docs/events.md: parse t and every v1,
// recompute HMAC-SHA256(secret, t + "." + body), compare in constant
// time, and refuse a timestamp outside the tolerance.
func verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "." + string(body)))
	want := m.Sum(nil)
	for _, s := range sigs {
		got, err := hex.DecodeString(s)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// v1Count is how many v1 values a signature header holds.
func v1Count(header string) int { return strings.Count(header, "v1=") }
