package normalize

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// decodeStd parses JSON with encoding/json (UseNumber) for semantic
// comparison: key order is irrelevant, numbers compare by their literal.
func decodeStd(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return v
}

func assertJSONEqual(t testing.TB, got []byte, want string) {
	t.Helper()
	g, w := decodeStd(t, got), decodeStd(t, []byte(want))
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// assertError checks that err is an *Error with the SCIM type and a detail
// containing every fragment.
func assertError(t testing.TB, err error, scimType string, fragments ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error %s", err, err, scimType)
	}
	if e.ScimType != scimType {
		t.Errorf("ScimType = %q, want %q (detail %q)", e.ScimType, scimType, e.Detail)
	}
	for _, f := range fragments {
		if !strings.Contains(e.Detail, f) {
			t.Errorf("detail %q does not contain %q", e.Detail, f)
		}
	}
}

// fixture mirrors scim/testdata/*.json (see its README).
type fixture struct {
	Name  string `json:"name"`
	Steps []struct {
		Name    string `json:"name"`
		Request struct {
			Method string          `json:"method"`
			Path   string          `json:"path"`
			Body   json.RawMessage `json:"body"`
		} `json:"request"`
	} `json:"steps"`
}

// fixtureRequest is one request of a fixture with {{variables}} replaced by
// stable fake ids.
type fixtureRequest struct {
	file, step   string
	method, path string
	resource     Resource
	body         []byte // nil for GET/DELETE
	filter       string // the decoded ?filter=, "" if none
}

var fixtureVar = regexp.MustCompile(`\{\{(\w+)\}\}`)

func fixtureRequests(t testing.TB) []fixtureRequest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in ../testdata: %v", err)
	}
	var out []fixtureRequest
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raw = fixtureVar.ReplaceAll(raw, []byte("id-$1-0001"))
		var fx fixture
		if err := json.Unmarshal(raw, &fx); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range fx.Steps {
			req := fixtureRequest{file: filepath.Base(f), step: s.Name, method: s.Request.Method, path: s.Request.Path}
			u, err := url.Parse(s.Request.Path)
			if err != nil {
				t.Fatalf("%s: %s: %v", f, s.Name, err)
			}
			req.resource = User
			if strings.HasPrefix(u.Path, "/Groups") {
				req.resource = Group
			}
			req.filter = u.Query().Get("filter")
			if b := bytes.TrimSpace(s.Request.Body); len(b) > 0 && !bytes.Equal(b, []byte("null")) {
				req.body = b
			}
			out = append(out, req)
		}
	}
	return out
}
