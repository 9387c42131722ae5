package directory

import "testing"

// TestFoldASCII: identities that differ in the case of ASCII letters are
// one; a non-ASCII character never becomes an ASCII one (or another
// non-ASCII one), whatever Unicode's case mapping says about it.
func TestFoldASCII(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, a, b string
		same       bool
	}{
		{"ASCII case", "Kate@Corp.Example", "kate@corp.example", true},
		{"Kelvin sign U+212A is not K", "\u212Aate@corp.example", "kate@corp.example", false},
		{"Kelvin sign U+212A is not k", "\u212Aate@corp.example", "Kate@corp.example", false},
		{"Angstrom sign U+212B is not Å U+00C5", "\u212Bsa@corp.example", "\u00C5sa@corp.example", false},
		{"Angstrom sign U+212B is not å U+00E5", "\u212Bsa@corp.example", "\u00E5sa@corp.example", false},
		{"Å U+00C5 is not å U+00E5", "\u00C5sa@corp.example", "\u00E5sa@corp.example", false},
		{"dotless ı U+0131 is not i", "k\u0131m@corp.example", "kim@corp.example", false},
		{"dotless ı U+0131 is not I", "k\u0131m@corp.example", "kIm@corp.example", false},
		{"dotted İ U+0130 is not i", "k\u0130m@corp.example", "kim@corp.example", false},
		{"dotted İ U+0130 is not I", "k\u0130m@corp.example", "kIm@corp.example", false},
		{"full-width Ｋ U+FF2B is not K", "\uFF2Bate@corp.example", "Kate@corp.example", false},
		{"full-width Ｋ U+FF2B is not full-width ｋ U+FF4B", "\uFF2Bate@corp.example", "\uFF4Bate@corp.example", false},
		{"Cyrillic а U+0430 is not Latin a", "k\u0430te@corp.example", "kate@corp.example", false},
		{"Cyrillic А U+0410 is not Latin A", "k\u0410te@corp.example", "kAte@corp.example", false},
		{"Greek Κ U+039A is not K", "\u039Aate@corp.example", "kate@corp.example", false},
		{"long s ſ U+017F is not s", "\u017Fam@corp.example", "sam@corp.example", false},
		{"ASCII case around non-ASCII", "ÉLODIE@Exemple.FR", "Élodie@exemple.fr", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fa, fb := FoldASCII(c.a), FoldASCII(c.b)
			if (fa == fb) != c.same {
				t.Errorf("FoldASCII(%q) = %q, FoldASCII(%q) = %q: same = %v, want %v", c.a, fa, c.b, fb, fa == fb, c.same)
			}
			if na, nb := NormalizeEmail(c.a), NormalizeEmail(c.b); (na == nb) != c.same {
				t.Errorf("NormalizeEmail(%q) = %q, NormalizeEmail(%q) = %q: same = %v, want %v", c.a, na, c.b, nb, na == nb, c.same)
			}
			// Folding changes only A–Z: the non-ASCII bytes stay as given.
			for _, s := range []string{c.a, c.b} {
				f := FoldASCII(s)
				if len(f) != len(s) {
					t.Fatalf("FoldASCII(%q) = %q changed the length", s, f)
				}
				for i := 0; i < len(s); i++ {
					if s[i] >= 0x80 && f[i] != s[i] {
						t.Errorf("FoldASCII(%q) = %q changed the non-ASCII byte %d", s, f, i)
					}
				}
			}
		})
	}
}

// TestIdentityFoldIsTheSameEverywhere: the derived emails of a user, an
// observation's Git key and the JIT domain check fold as FoldASCII does.
func TestIdentityFoldIsTheSameEverywhere(t *testing.T) {
	t.Parallel()
	u := User{Attributes: map[string]any{"userName": "x", "emails": []any{
		map[string]any{"value": "\u212Aate@Corp.Example"}, map[string]any{"value": "Kate@Corp.Example"},
	}}}
	if err := u.Derive(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"\u212Aate@corp.example", "kate@corp.example"}; len(u.Emails) != 2 || u.Emails[0] != want[0] || u.Emails[1] != want[1] {
		t.Errorf("Derive: emails = %q, want %q", u.Emails, want)
	}
	_, email, login := GitKey(GitObservation{Provider: "GitHub", Email: " \u212Aate@Corp.Example ", Login: "\u212Aate"})
	if email != "\u212Aate@corp.example" || login != "\u212Aate" {
		t.Errorf("GitKey: email %q, login %q; want the Kelvin sign kept", email, login)
	}
	p := JITPolicy{Mode: JITDomain, Domains: []string{"korp.example"}}
	if p.Allows("kate@\u212Aorp.example", true) {
		t.Error("JIT: a Kelvin-sign domain passed for korp.example")
	}
	if !p.Allows("kate@KORP.example", true) {
		t.Error("JIT: an ASCII upper-case domain did not pass for korp.example")
	}
}
