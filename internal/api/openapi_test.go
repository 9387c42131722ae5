package api_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/api"
)

// The OpenAPI document served declares exactly the routes the handler
// serves, is OpenAPI 3.0, and every reference in it resolves.
func TestOpenAPIDescribesTheServedRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.send("", "GET", "/api/v1/openapi.json", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET openapi.json without a token: %d %q", r.status, r.header.Get("Content-Type"))
	}
	if string(r.body) != string(api.OpenAPIDoc()) {
		t.Fatal("the served document is not the embedded one")
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if !regexp.MustCompile(`^3\.0\.\d+$`).MatchString(doc.OpenAPI) {
		t.Fatalf("openapi %q, want 3.0.x", doc.OpenAPI)
	}

	var declared, served []string
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			declared = append(declared, strings.ToUpper(method)+" "+path)
			var o struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
				Parameters  []struct {
					Ref  string `json:"$ref"`
					Name string `json:"name"`
					In   string `json:"in"`
				} `json:"parameters"`
			}
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if o.OperationID == "" || len(o.Responses) == 0 {
				t.Errorf("%s %s: no operationId or responses", method, path)
			}
			// Every {param} of the path is declared.
			for _, m := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(path, -1) {
				ok := false
				for _, p := range o.Parameters {
					ok = ok || p.In == "path" && p.Name == m[1] || p.Ref == "#/components/parameters/"+m[1]
				}
				if !ok {
					t.Errorf("%s %s: path parameter %s is not declared", method, path, m[1])
				}
			}
		}
	}
	for _, rt := range api.Routes() {
		served = append(served, rt.Method+" "+rt.Pattern)
	}
	slices.Sort(declared)
	slices.Sort(served)
	if !slices.Equal(declared, served) {
		t.Fatalf("the document and the routes differ:\ndeclared %q\nserved   %q", declared, served)
	}

	// Every $ref points at something in the document.
	var whole any
	if err := json.Unmarshal(r.body, &whole); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if resolve(whole, ref) == nil {
					t.Errorf("$ref %q does not resolve", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(whole)
}

func resolve(doc any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	cur := doc
	for _, k := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}
