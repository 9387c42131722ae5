package scim

import (
	"fmt"
	"testing"

	elimity "github.com/elimity-com/scim"
)

// The PATCH benchmarks run the patcher alone, on what the normaliser
// hands it, at sizes past the request bounds: the work must stay linear
// whatever the bounds are set to.

func memberValueList(prefix string, n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = map[string]any{"value": fmt.Sprintf("%s-%08d", prefix, i)}
	}
	return out
}

// BenchmarkPatchMembersLarge adds n members in one operation and removes
// n others the way the normaliser rewrites Entra's remove: one
// members[value eq "…"] operation per id.
func BenchmarkPatchMembersLarge(b *testing.B) {
	for _, n := range []int{5000, 20000} {
		ops := []elimity.PatchOperation{op("add", "members", memberValueList("add", n))}
		for i := range n {
			ops = append(ops, op("remove", fmt.Sprintf(`members[value eq "rm-%08d"]`, i), nil))
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				mo := &memberOps{}
				if err := (&patcher{cat: groupCatalogue, doc: map[string]any{"displayName": "g"}, members: mo}).apply(ops); err != nil {
					b.Fatal(err)
				}
				if mc := mo.change(); len(mc.Add) != n || len(mc.Remove) != n {
					b.Fatalf("add %d, remove %d", len(mc.Add), len(mc.Remove))
				}
			}
		})
	}
}

// BenchmarkPatchEmailsLarge adds n emails to a user in one operation: a
// request over the bound on values, which must cost linear work to refuse.
func BenchmarkPatchEmailsLarge(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		values := make([]any, n)
		for i := range values {
			values[i] = map[string]any{"value": fmt.Sprintf("u%06d@example.com", i), "type": "work"}
		}
		ops := []elimity.PatchOperation{op("add", "emails", values)}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				d := map[string]any{"userName": "ann", "emails": []any{map[string]any{"value": "ann@example.com", "primary": true}}}
				_ = (&patcher{cat: userCatalogue, doc: d}).apply(ops)
			}
		})
	}
}
