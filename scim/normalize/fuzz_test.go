package normalize

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	fp "github.com/scim2/filter-parser/v2"
)

// Seeds come from the fixtures (real Okta/Entra shapes) and from a few edge
// cases; crashers found by fuzzing live in testdata/fuzz/<Target>.

func seedResources(f *testing.F, method string) []fixtureRequest {
	var out []fixtureRequest
	for _, fr := range fixtureRequests(f) {
		if fr.method == method || method == http.MethodPut && fr.method == http.MethodPost {
			out = append(out, fr)
		}
	}
	return out
}

// checkError fails unless err is an *Error with a known SCIM type and a
// detail.
func checkError(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is %T, not *Error", err, err)
	}
	switch e.ScimType {
	case "invalidSyntax", "invalidPath", "invalidValue", "invalidFilter", "noTarget":
	default:
		t.Fatalf("unknown ScimType %q", e.ScimType)
	}
	if e.Detail == "" {
		t.Fatalf("empty detail for %q", e.ScimType)
	}
}

func FuzzPatch(f *testing.F) {
	for _, fr := range seedResources(f, http.MethodPatch) {
		f.Add(uint8(fr.resource), fr.body)
	}
	for _, s := range []string{
		ops(`{"op":"replace","value":{"active":"False","name.givenName":"K","` + extURN + `":{"manager":""}}}`),
		ops(`{"op":"remove","path":"members","value":[{"value":"a"},"b"]}`),
		ops(`{"op":"replace","path":"name","value":{"givenName":null}}`),
		ops(`{"op":"add","path":"emails[type eq work].primary","value":"true"}`),
		`{"operations":[{"OP":"Remove","PATH":"manager","value":[{"value":"m"}]}]}`,
	} {
		f.Add(uint8(User), []byte(s))
		f.Add(uint8(Group), []byte(s))
	}
	f.Fuzz(func(t *testing.T, rb uint8, body []byte) {
		r := Resource(rb % 2)
		out, err := Patch(r, body)
		if err != nil {
			checkError(t, err)
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON output %q", out)
		}
		var msg struct {
			Schemas    []string
			Operations []struct {
				Op    string
				Path  *string
				Value json.RawMessage
			}
		}
		if err := json.Unmarshal(out, &msg); err != nil {
			t.Fatalf("output %s: %v", out, err)
		}
		if len(msg.Schemas) != 1 || msg.Schemas[0] != patchOpURN || len(msg.Operations) == 0 {
			t.Fatalf("output is not a PatchOp the library accepts: %s", out)
		}
		for i, op := range msg.Operations {
			if op.Op != "add" && op.Op != "remove" && op.Op != "replace" {
				t.Fatalf("operation %d has op %q: %s", i+1, op.Op, out)
			}
			if op.Path == nil {
				t.Fatalf("operation %d has no path: %s", i+1, out)
			}
			if _, err := fp.ParsePath([]byte(*op.Path)); err != nil {
				t.Fatalf("operation %d path %q does not parse: %v", i+1, *op.Path, err)
			}
			if op.Op != "remove" && (len(op.Value) == 0 || string(op.Value) == "null") {
				t.Fatalf("operation %d (%s) has no value: %s", i+1, op.Op, out)
			}
		}
		again, err := Patch(r, out)
		if err != nil {
			t.Fatalf("Patch(%s) refused its own output: %v", out, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n once  %s\n twice %s", out, again)
		}
	})
}

func FuzzBody(f *testing.F) {
	for _, fr := range seedResources(f, http.MethodPut) {
		f.Add(uint8(fr.resource), fr.body)
	}
	for _, s := range []string{
		`{"userName":"u","active":"True","emails":{"value":"a","primary":"false"},"title":null}`,
		`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0User":{"manager":"m"},"` + extURN + `:manager.value":"m","department":"D"}`,
		`{"displayName":"G","members":["a",{"value":"b","$ref":null}]}`,
		`{"displayName":"G","members":{"value":"a"}}`,
	} {
		f.Add(uint8(User), []byte(s))
		f.Add(uint8(Group), []byte(s))
	}
	f.Fuzz(func(t *testing.T, rb uint8, body []byte) {
		r := Resource(rb % 2)
		out, err := Body(r, body)
		if err != nil {
			checkError(t, err)
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON output %q", out)
		}
		var res struct{ Schemas []string }
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("output %s: %v", out, err)
		}
		if !containsFold(res.Schemas, coreURN(r)) {
			t.Fatalf("output schemas %v lack %s", res.Schemas, coreURN(r))
		}
		again, err := Body(r, out)
		if err != nil {
			t.Fatalf("Body(%s) refused its own output: %v", out, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n once  %s\n twice %s", out, again)
		}
	})
}

func FuzzFilter(f *testing.F) {
	for _, fr := range fixtureRequests(f) {
		if fr.filter != "" {
			f.Add(uint8(fr.resource), fr.filter)
		}
	}
	for _, s := range []string{
		`externalId eq jyoung`,
		`name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)`,
		`meta.Created gt 2015-10-10T14:38:21.8617979-07:00`,
		`emails[type eq "work"].value eq "x"`,
		`userName eq "x' OR 1=1 --"`,
		`userName eq x';DROP`,
		`not (a eq "\u00e9\ud83d\ude00") or b[c pr and d ne 1.5e3]`,
		`urn:ietf:params:scim:schemas:extension:enterprise:2.0User:manager.value EQ m`,
	} {
		f.Add(uint8(User), s)
	}
	f.Fuzz(func(t *testing.T, rb uint8, filter string) {
		r := Resource(rb % 2)
		out, err := Filter(r, filter)
		if err != nil {
			checkError(t, err)
			return
		}
		if out == "" {
			return
		}
		if _, err := fp.ParseFilter([]byte(out)); err != nil {
			t.Fatalf("Filter(%q) = %q, which fp.ParseFilter refuses: %v", filter, out, err)
		}
		again, err := Filter(r, out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: Filter(%q) = %q, Filter of that = %q, %v", filter, out, again, err)
		}
	})
}

// FuzzPatchOperation builds one operation from fuzzed parts, which reaches
// path parsing and the value rules far more often than FuzzPatch's raw bytes.
func FuzzPatchOperation(f *testing.F) {
	for _, s := range [][3]string{
		{"Replace", `emails[type eq work].primary`, `"True"`},
		{"remove", "members", `[{"value":"a"},{"$ref":null,"value":"b"}]`},
		{"add", "manager", `[{"$ref":"x","value":"m"}]`},
		{"replace", "", `{"id":"g","name.givenName":"K","` + extURN + `":{"manager":"","department":null}}`},
		{"replace", "name", `{"givenName":null,"familyName":"F"}`},
		{"replace", `emails[type eq "work"]`, `{"display":null,"primary":"false"}`},
		{"remove", "roles", `{"value":"r"}`},
		{"replace", extURN, `{"costCenter":"C"}`},
		{"add", "urn:ietf:params:scim:schemas:extension:enterprise:2.0User:manager.value", `"m"`},
	} {
		f.Add(uint8(User), s[0], s[1], []byte(s[2]))
		f.Add(uint8(Group), s[0], s[1], []byte(s[2]))
	}
	f.Fuzz(func(t *testing.T, rb uint8, op, path string, value []byte) {
		r := Resource(rb % 2)
		o := &object{}
		o.add("op", op)
		if path != "" {
			o.add("path", path)
		}
		if v, err := decodeJSON(value); err == nil {
			o.add("value", v)
		}
		body := encodeJSON(&object{members: []member{{key: "Operations", val: []any{o}}}})
		out, err := Patch(r, body)
		if err != nil {
			checkError(t, err)
			return
		}
		var msg struct{ Operations []struct{ Path string } }
		if err := json.Unmarshal(out, &msg); err != nil {
			t.Fatalf("output %s: %v", out, err)
		}
		for i, op := range msg.Operations {
			if _, err := fp.ParsePath([]byte(op.Path)); err != nil {
				t.Fatalf("operation %d path %q does not parse: %v (from %s)", i+1, op.Path, err, body)
			}
		}
		again, err := Patch(r, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n in    %s\n once  %s\n twice %s %v", body, out, again, err)
		}
	})
}
