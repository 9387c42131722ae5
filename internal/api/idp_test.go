package api_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/oidc"
)

func TestIdPSettingsRoutes(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	idp := provider(t)
	problem(t, tn.do("GET", "/idp", nil), 404, "not-found")
	problem(t, tn.do("PUT", "/idp", map[string]any{"issuer": "ftp://idp.example", "clientId": "c"}), 400, "invalid")
	problem(t, tn.do("PUT", "/idp", map[string]any{"issuer": idp.Issuer()}), 400, "invalid")
	// An issuer that does not answer discovery is refused before anything
	// is saved.
	problem(t, tn.do("PUT", "/idp", map[string]any{"issuer": "http://127.0.0.1:1/nowhere", "clientId": "c", "clientSecret": "s3cret"}), 400, "invalid")
	problem(t, tn.do("GET", "/idp", nil), 404, "not-found")

	got := tn.must(200, "PUT", "/idp", map[string]any{"issuer": idp.Issuer(), "clientId": "c", "clientSecret": "s3cret",
		"jit": "jit-with-domain", "jitDomains": []any{"Example.com"}})
	if got["jit"] != "jit-with-domain" || got["jitDomains"].([]any)[0] != "example.com" || got["clientId"] != "c" || got["clientSecretSet"] != true {
		t.Fatalf("saved %v", got)
	}
	// Scopes left out are the defaults plus groups, which this provider's
	// discovery lists in scopes_supported.
	r := tn.do("GET", "/idp", nil)
	if r.status != 200 || strings.Contains(string(r.body), "s3cret") || !strings.Contains(string(r.body), `"scopes":["openid","email","profile","groups"]`) ||
		!strings.Contains(string(r.body), `"clientSecretSet":true`) {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	tn.sealed(t, "s3cret")
}

// The client secret goes through the API to the store sealed, bound to
// its organization, and is never returned. A PUT without one keeps the
// stored secret only for the same client at the same issuer: it must
// never reach another provider's token endpoint.
func TestIdPClientSecretIsSealedAndKeptOnlyForTheSameClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.tenant("acme")
	a, b := provider(t), provider(t)
	put := func(issuer, clientID, secret string, wantSet bool) {
		t.Helper()
		body := map[string]any{"issuer": issuer, "clientId": clientID}
		if secret != "" {
			body["clientSecret"] = secret
		}
		if got := tn.must(200, "PUT", "/idp", body); got["clientSecretSet"] != wantSet || got["issuer"] != issuer || got["clientId"] != clientID {
			t.Fatalf("PUT %v: %v, want clientSecretSet %v", body, got, wantSet)
		}
		r := tn.do("GET", "/idp", nil)
		if r.status != 200 || strings.Contains(string(r.body), "s3cret") || strings.Contains(string(r.body), "n3w") ||
			!strings.Contains(string(r.body), `"clientSecretSet":`+map[bool]string{true: "true", false: "false"}[wantSet]) {
			t.Fatalf("GET after PUT %v: %d %s", body, r.status, r.body)
		}
	}

	put(a.Issuer(), "c", "s3cret", true)
	tn.sealed(t, "s3cret")
	put(a.Issuer(), "c", "", true) // same client, same issuer: kept
	tn.sealed(t, "s3cret")
	put(a.Issuer(), "c", "n3w", true) // a new one replaces it
	tn.sealed(t, "n3w")
	put(a.Issuer(), "other-client", "", false) // another client: dropped
	tn.sealed(t, "")
	put(a.Issuer(), "c", "", false) // and not brought back
	tn.sealed(t, "")
	put(a.Issuer(), "c", "s3cret", true)
	put(b.Issuer(), "c", "", false) // another issuer: dropped
	tn.sealed(t, "")

	// The sealed secret is bound to its organization: another's context
	// does not open it.
	put(a.Issuer(), "c", "s3cret", true)
	s, err := tn.db.IdPSettings(context.Background(), tn.id)
	if err != nil {
		t.Fatal(err)
	}
	other := e.tenant("other")
	if _, err := e.box.Open(s.ClientSecretSealed, oidc.SecretContext(other.id)); err == nil {
		t.Fatal("the sealed secret opens for another organization")
	}
}

// sealed checks what the store holds as the tenant's client secret: want
// sealed (never in the clear), or none when want is "".
func (tn *tenant) sealed(t *testing.T, want string) {
	t.Helper()
	s, err := tn.db.IdPSettings(context.Background(), tn.id)
	if err != nil {
		t.Fatal(err)
	}
	if want == "" {
		if len(s.ClientSecretSealed) != 0 {
			t.Fatalf("a client secret is still stored (%d bytes)", len(s.ClientSecretSealed))
		}
		return
	}
	if len(s.ClientSecretSealed) == 0 || bytes.Contains(s.ClientSecretSealed, []byte(want)) {
		t.Fatalf("stored secret %q is not %q sealed", s.ClientSecretSealed, want)
	}
	plain, err := tn.box.Open(s.ClientSecretSealed, oidc.SecretContext(tn.id))
	if err != nil || string(plain) != want {
		t.Fatalf("stored secret opens to %q (%v), want %q", plain, err, want)
	}
}

func TestIdPRoutesSayWhenSSOIsOff(t *testing.T) {
	t.Parallel()
	// Without the service (serve has no secret key), the routes say so.
	off := newEnv(t, withConfig(func(c *api.Config) { c.IdP = nil })).tenant("acme")
	for _, method := range []string{"GET", "PUT"} {
		if p := problem(t, off.do(method, "/idp", map[string]any{"issuer": "https://idp.example", "clientId": "c"}), 409, "conflict"); !strings.Contains(p["detail"].(string), "SCIMBRIDGE_SECRET_KEY") {
			t.Fatalf("%s: detail %v", method, p["detail"])
		}
	}
}
