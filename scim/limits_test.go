package scim_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/scim"
)

// A user's attributes are bounded in size as well as in count: each PATCH
// operation with a value filter reads the whole stored attribute under the
// row lock, so a megabyte-long certificate made PATCHes cost seconds.
func TestUserAttributesAreBoundedInSize(t *testing.T) {
	t.Parallel()
	db := pgtest.DB(t)
	hs := httpserver.New(httpserver.Config{})
	scim.New(scim.Config{Store: db}).Mount(hs) // the default 1 MiB body
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)
	tn := newTenant(t, db, srv, "acme")
	big := strings.Repeat("A", 70<<10)
	cert := func(v string) []any {
		return []any{"x509Certificates", []any{map[string]any{"value": v}}}
	}
	r := tn.do("POST", "/Users", userBody("big@example.com", cert(big)...))
	scimError(t, r, 400, "invalidValue")
	if !strings.Contains(string(r.body), "65536") {
		t.Errorf("the detail does not name the bound: %s", r.body)
	}
	if l := tn.must(200, "GET", "/Users?filter="+urlq(`userName eq "big@example.com"`), nil); l["totalResults"] != float64(0) {
		t.Fatalf("the refused POST created the user: %v", l)
	}

	u := tn.must(201, "POST", "/Users", userBody("small@example.com", cert("MIIB")...))
	id := u["id"].(string)
	scimError(t, tn.do("PUT", "/Users/"+id, userBody("small@example.com", cert(big)...)), 400, "invalidValue")
	scimError(t, tn.do("PATCH", "/Users/"+id, patchBody(map[string]any{
		"op": "replace", "path": "x509Certificates", "value": []any{map[string]any{"value": big}},
	})), 400, "invalidValue")
	got := tn.must(200, "GET", "/Users/"+id, nil)
	if certs, _ := got["x509Certificates"].([]any); len(certs) != 1 || certs[0].(map[string]any)["value"] != "MIIB" {
		t.Fatalf("a refused request changed the user: %v", got["x509Certificates"])
	}

	// A user stored larger than the bound (before it existed) may still
	// change, as long as it does not grow.
	if _, err := tn.db.Pool.Exec(context.Background(),
		`UPDATE users SET attributes = jsonb_set(attributes, '{x509Certificates}', jsonb_build_array(jsonb_build_object('value', $2::text))) WHERE id = $1`,
		id, big); err != nil {
		t.Fatal(err)
	}
	tn.must(204, "PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "name.givenName", "value": "G"}))
	scimError(t, tn.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "nickName", "value": strings.Repeat("n", 100)})), 400, "invalidValue")
}
