package scim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/scim"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// tenant is one organization of a running server, with a valid token.
type tenant struct {
	t     testing.TB
	db    *postgres.DB
	srv   *httptest.Server
	orgID string
	base  string // SCIM base URL of the organization
	token string
}

// newServer starts the real HTTP stack on a fresh database.
func newServer(t testing.TB) (*postgres.DB, *httptest.Server) {
	return newServerMaxBody(t, 64<<10)
}

// newServerMaxBody is newServer taking request bodies of up to maxBody bytes.
func newServerMaxBody(t testing.TB, maxBody int64) (*postgres.DB, *httptest.Server) {
	t.Helper()
	db := pgtest.DB(t)
	hs := httpserver.New(httpserver.Config{Ready: db.Ready})
	scim.New(scim.Config{Store: db, Usage: db.NewTokenUsage(), MaxBody: maxBody}).Mount(hs)
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	return db, srv
}

func newTenant(t testing.TB, db *postgres.DB, srv *httptest.Server, slug string) *tenant {
	t.Helper()
	ctx := context.Background()
	org, err := db.CreateOrganization(ctx, slug, "")
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := db.CreateSCIMToken(ctx, org.ID, "idp", 0)
	if err != nil {
		t.Fatal(err)
	}
	return &tenant{t: t, db: db, srv: srv, orgID: org.ID, base: srv.URL + "/scim/v2/" + slug, token: secret}
}

// setup is a server with one tenant.
func setup(t testing.TB) *tenant {
	db, srv := newServer(t)
	return newTenant(t, db, srv, "acme")
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return m
}

// do sends a request; body may be nil, a string or anything JSON-encodable.
func (tn *tenant) do(method, path string, body any, headers ...string) response {
	tn.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			tn.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, tn.base+path, rd)
	if err != nil {
		tn.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("Authorization", "Bearer "+tn.token)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request and fails the test unless the status is want.
func (tn *tenant) must(want int, method, path string, body any, headers ...string) map[string]any {
	tn.t.Helper()
	r := tn.do(method, path, body, headers...)
	if r.status != want {
		tn.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(tn.t)
}
