package normalize

import (
	"fmt"
	"strings"
	"testing"
)

// The benchmarks use hostile bodies of many keys to show that the work stays
// linear in the body size (the middleware bounds the size, not the shape).

func manyKeys(prefix, format string, n int, suffix string) []byte {
	var b strings.Builder
	b.WriteString(prefix)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, format, i)
	}
	b.WriteString(suffix)
	return []byte(b.String())
}

func BenchmarkBodyFlattenedExtensionKeys(b *testing.B) {
	body := manyKeys(`{`, `"`+extURN+`:a%d":"x"`, 10000, `}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Body(User, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPatchPathlessKeys(b *testing.B) {
	body := manyKeys(`{"Operations":[{"op":"replace","value":{`, `"a%d":"x"`, 10000, `}}]}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Patch(User, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPatchMemberRemoval(b *testing.B) {
	body := manyKeys(`{"Operations":[{"op":"Remove","path":"members","value":[`, `{"value":"u%d"}`, 10000, `]}]}`)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Patch(Group, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilter(b *testing.B) {
	f := `name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org) and emails[type eq "work"].value eq "x"`
	for b.Loop() {
		if _, err := Filter(User, f); err != nil {
			b.Fatal(err)
		}
	}
}
