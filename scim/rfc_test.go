package scim_test

import (
	"slices"
	"testing"
)

const enterpriseURN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func groupBody(name string, members ...string) map[string]any {
	b := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name}
	if len(members) > 0 {
		list := make([]any, len(members))
		for i, m := range members {
			list[i] = map[string]any{"value": m}
		}
		b["members"] = list
	}
	return b
}

// keys returns the sorted top-level keys of a resource.
func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestPatchWithAttributesAnswers200WithTheResource(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	uid := tn.must(201, "POST", "/Users", userBody("pat@example.com"))["id"].(string)
	gid := tn.must(201, "POST", "/Groups", groupBody("Readers", uid))["id"].(string)
	rename := func(v string) map[string]any {
		return patchBody(map[string]any{"op": "replace", "path": "displayName", "value": v})
	}

	// Without attributes or excludedAttributes: 204, no body.
	for _, p := range []string{"/Users/" + uid, "/Groups/" + gid} {
		if r := tn.do("PATCH", p, rename("plain")); r.status != 204 || len(r.body) != 0 {
			t.Fatalf("PATCH %s: %d %s, want 204 without body", p, r.status, r.body)
		}
	}

	cases := []struct {
		name, path string
		want       []string // top-level keys of the answer
	}{
		{"user, attributes", "/Users/" + uid + "?attributes=displayName", []string{"displayName", "id", "meta", "schemas"}},
		{"user, attributes=id alone", "/Users/" + uid + "?attributes=id", []string{"id", "meta", "schemas"}},
		{"user, excludedAttributes", "/Users/" + uid + "?excludedAttributes=emails,name,groups," + enterpriseURN,
			[]string{"active", "displayName", "id", "meta", "schemas", "userName"}},
		{"group, attributes", "/Groups/" + gid + "?attributes=displayName,members", []string{"displayName", "id", "members", "meta", "schemas"}},
		{"group, excludedAttributes=members", "/Groups/" + gid + "?excludedAttributes=members", []string{"displayName", "id", "meta", "schemas"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := "Renamed " + string(rune('A'+i))
			r := tn.do("PATCH", c.path, rename(name))
			if r.status != 200 {
				t.Fatalf("status %d, want 200: %s", r.status, r.body)
			}
			m := r.json(t)
			if got := keys(m); !slices.Equal(got, c.want) {
				t.Fatalf("keys %v, want %v: %s", got, c.want, r.body)
			}
			if slices.Contains(c.want, "displayName") && m["displayName"] != name {
				t.Fatalf("the answer is not the patched resource: %s", r.body)
			}
			if tag := r.header.Get("ETag"); tag == "" || tag != m["meta"].(map[string]any)["version"] {
				t.Fatalf("ETag %q, meta %v", tag, m["meta"])
			}
			if c.path[:7] == "/Groups" && slices.Contains(c.want, "members") {
				if ms := m["members"].([]any); len(ms) != 1 || ms[0].(map[string]any)["value"] != uid {
					t.Fatalf("members %v", ms)
				}
			}
		})
	}
}

// A removed attribute is unassigned (RFC 7643 §2.5): active then reads as
// true, its default, and an empty multi-valued attribute, a user's emails
// or a group's members alike, is left out of the resource.
func TestRemovedAttributesReadAsUnassigned(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	uid := tn.must(201, "POST", "/Users", userBody("rem@example.com", "active", false))["id"].(string)
	if u := tn.must(200, "GET", "/Users/"+uid, nil); u["active"] != false {
		t.Fatalf("created inactive, reads %v", u["active"])
	}
	tn.must(204, "PATCH", "/Users/"+uid, patchBody(
		map[string]any{"op": "remove", "path": "active"},
		map[string]any{"op": "remove", "path": "emails"}))
	u := tn.must(200, "GET", "/Users/"+uid, nil)
	if u["active"] != true {
		t.Fatalf("active after remove: %v, want true", u["active"])
	}
	if _, ok := u["emails"]; ok {
		t.Fatalf("emails after remove: %v", u["emails"])
	}
	if l := tn.must(200, "GET", "/Users?filter="+urlq(`active eq true`), nil); l["totalResults"] != float64(1) {
		t.Fatalf("a user whose active was removed is not found by active eq true: %v", l)
	}

	gid := tn.must(201, "POST", "/Groups", groupBody("Team", uid))["id"].(string)
	if g := tn.must(200, "GET", "/Groups/"+gid, nil); len(g["members"].([]any)) != 1 {
		t.Fatalf("members %v", g["members"])
	}
	tn.must(204, "PATCH", "/Groups/"+gid, patchBody(map[string]any{"op": "remove", "path": "members"}))
	g := tn.must(200, "GET", "/Groups/"+gid, nil)
	if _, ok := g["members"]; ok {
		t.Fatalf("members after remove: %v, want no attribute", g["members"])
	}
	empty := tn.must(201, "POST", "/Groups", groupBody("Empty"))
	if _, ok := empty["members"]; ok {
		t.Fatalf("a group created without members has members %v", empty["members"])
	}
	l := tn.must(200, "GET", "/Groups?filter="+urlq(`displayName eq "Empty"`), nil)
	if _, ok := l["Resources"].([]any)[0].(map[string]any)["members"]; ok {
		t.Fatalf("listed empty group has members: %v", l)
	}
}
