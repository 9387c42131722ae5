package scim_test

import "testing"

// userNames and emails compare in ASCII case only (DESIGN §9). Unicode
// case folding would make each of these the provisioned ASCII address;
// over SCIM they are other people: a filter for one does not find the
// member, a push of the member does not adopt a JIT user signed in with
// one, and a push of one creates a user of its own.
func TestLookAlikeUserNamesAreOtherPeople(t *testing.T) {
	t.Parallel()
	tn := setup(t)
	members := map[string]string{} // address → id
	for _, m := range []string{"kate@corp.example", "kim@corp.example", "\u00C5sa@corp.example"} {
		members[m] = tn.must(201, "POST", "/Users", userBody(m))["id"].(string)
	}
	cases := []struct{ name, lookAlike, member string }{
		{"Kelvin sign U+212A", "\u212Aate@corp.example", "kate@corp.example"},
		{"full-width K U+FF2B", "\uFF2Bate@corp.example", "kate@corp.example"},
		{"Cyrillic a U+0430", "k\u0430te@corp.example", "kate@corp.example"},
		{"dotted capital I U+0130", "k\u0130m@corp.example", "kim@corp.example"},
		{"dotless i U+0131", "k\u0131m@corp.example", "kim@corp.example"},
		{"Angstrom sign U+212B", "\u212Bsa@corp.example", "\u00C5sa@corp.example"},
	}
	for _, c := range cases {
		for _, f := range []string{
			`userName eq "` + c.lookAlike + `"`,
			`emails eq "` + c.lookAlike + `"`,
			`emails[type eq "work" and value eq "` + c.lookAlike + `"]`,
		} {
			if l := tn.must(200, "GET", "/Users?filter="+urlq(f), nil); l["totalResults"] != float64(0) {
				t.Errorf("%s: %s found %v", c.name, f, l["Resources"])
			}
		}
	}
	// The members themselves are found in any ASCII case.
	if l := tn.must(200, "GET", "/Users?filter="+urlq(`userName eq "KATE@Corp.Example"`), nil); l["totalResults"] != float64(1) {
		t.Fatalf("kate in upper case: %v", l)
	}
	for _, c := range cases {
		got := tn.must(201, "POST", "/Users", userBody(c.lookAlike))
		if got["id"] == members[c.member] || got["userName"] != c.lookAlike {
			t.Fatalf("%s: the push of %q gave %v", c.name, c.lookAlike, got)
		}
	}

	// A JIT user signed in with a verified look-alike of an address the
	// IdP provisions later is not adopted by that push.
	jit := jitLogin(t, tn, "\u212Aen@corp.example", true)
	got := tn.must(201, "POST", "/Users", userBody("ken.o@corp.example", "emails", []any{map[string]any{"value": "Ken@corp.example"}}))
	if got["id"] == jit.ID {
		t.Fatalf("the push of ken.o (Ken@corp.example) adopted the JIT user %s", jit.UserName)
	}
	got = tn.must(201, "POST", "/Users", userBody("ken@corp.example"))
	if got["id"] == jit.ID {
		t.Fatalf("the push of ken@corp.example adopted the JIT user %s", jit.UserName)
	}
}
