package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecode holds the admin API's body decoding to its contract for any
// body: a refusal is a client error (400, or 413 past the limit) with a
// detail, never a 500; an accepted body fits the limit, is one JSON
// object (or null, which encoding/json takes as an empty one) naming only
// fields of the request type, and means what plain encoding/json makes of
// it: decode only adds refusals, it never changes a value.
func FuzzDecode(f *testing.F) {
	const limit = 256
	for _, s := range []string{
		`{"issuer":"https://idp.example","clientId":"c","scopes":["openid","email"],"jit":"domains","jitDomains":["example.com"]}`,
		`{"ISSUER":"x","clientid":"y"}`,
		`{"issuer":"x","unknown":1}`,
		`{"issuer":"x"} {"issuer":"y"}`,
		`{"issuer":"x"}` + " \n\t",
		`{"issuer":"x"}]`,
		`{"scopes":"openid"}`,
		`{"scopes":[1]}`,
		`{"issuer":`,
		`[]`, `null`, `"x"`, `1`, ``, ` `,
		`{"issuer":"` + strings.Repeat("a", limit) + `"}`,
		`{"issuer":"x"}` + strings.Repeat(" ", limit),
		`{"issuer":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	h := &Handler{maxBody: limit}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPut, "/api/v1/orgs/acme/idp", bytes.NewReader(body))
		var got idpUpdate
		err := h.decode(httptest.NewRecorder(), r, &got)
		if err != nil {
			p, ok := problemOf(err)
			if !ok || (p.Status != http.StatusBadRequest && p.Status != http.StatusRequestEntityTooLarge) || p.Detail == "" {
				t.Fatalf("decode(%q) = %v, answered as %+v (client error %v)", body, err, p, ok)
			}
			if p.Status == http.StatusRequestEntityTooLarge && len(body) <= limit {
				t.Fatalf("decode(%q): 413 for %d bytes, under the limit %d", body, len(body), limit)
			}
			return
		}
		if len(body) > limit {
			t.Fatalf("decode accepted %d bytes, over the limit %d", len(body), limit)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			t.Fatalf("decode accepted %q, which is not one JSON object: %v", body, err)
		}
		typ := reflect.TypeFor[idpUpdate]()
		for k := range fields {
			known := false
			for i := range typ.NumField() {
				tag, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
				known = known || strings.EqualFold(tag, k)
			}
			if !known {
				t.Fatalf("decode accepted the unknown field %q in %q", k, body)
			}
		}
		var want idpUpdate
		if err := json.Unmarshal(body, &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("decode(%q) = %+v, encoding/json reads %+v (%v)", body, got, want, err)
		}
	})
}
