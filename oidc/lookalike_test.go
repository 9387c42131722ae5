package oidc_test

import (
	"context"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Addresses an IdP may let anyone register and verify, that Unicode case
// folding (Go's strings.ToLower, PostgreSQL's lower() under a UTF-8
// locale) turns into, or near, a member's ASCII address. Identities
// compare in ASCII case only (DESIGN §9), so each is a stranger.
var lookAlikes = []struct{ name, email, victim string }{
	{"Kelvin sign U+212A", "\u212Aate@corp.example", "kate@corp.example"},
	{"upper-case Kelvin sign domain", "kate@\u212Aorp.example", "kate@korp.example"},
	{"Angstrom sign U+212B", "\u212Bsa@corp.example", "\u00C5sa@corp.example"},
	{"dotted capital I U+0130", "k\u0130m@corp.example", "kim@corp.example"},
	{"dotless i U+0131", "k\u0131m@corp.example", "kim@corp.example"},
	{"full-width K U+FF2B", "\uFF2Bate@corp.example", "kate@corp.example"},
	{"Cyrillic a U+0430", "k\u0430te@corp.example", "kate@corp.example"},
}

// A verified login whose email is a look-alike of an Org Admin's address
// is not linked to the Org Admin: under scim-only it has no account, and
// under JIT it gets one of its own.
func TestLookAlikeVerifiedEmailIsNotLinkedToAMembersAccount(t *testing.T) {
	t.Parallel()
	for _, policy := range []directory.JITPolicy{{Mode: directory.JITSCIMOnly}, {Mode: directory.JITAny}} {
		t.Run(policy.Mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, policy)
			members := map[string]directory.User{}
			for _, la := range lookAlikes {
				if _, ok := members[la.victim]; !ok {
					u := e.scimUser("acme", la.victim, "ext-"+la.victim, true)
					e.makeAdmin("acme", u.ID)
					members[la.victim] = u
				}
			}
			for i, la := range lookAlikes {
				t.Run(la.name, func(t *testing.T) {
					status, body := e.login(browser(t, true), "acme", idpUser{sub: "s-look-alike-" + string(rune('a'+i)), email: la.email, verified: true})
					switch policy.Mode {
					case directory.JITSCIMOnly:
						if status != 403 {
							t.Fatalf("%q signed in (%d) under scim-only: %s", la.email, status, body)
						}
					default:
						if status != 200 {
							t.Fatalf("%q: %d %s", la.email, status, body)
						}
						m := me(t, body)
						if m["id"] == members[la.victim].ID || m["source"] != directory.SourceJIT || m["userName"] != la.email {
							t.Fatalf("%q was not given an account of its own: %s", la.email, body)
						}
					}
				})
			}
			// The owners themselves, in any ASCII case, still find theirs.
			status, body := e.login(browser(t, true), "acme", idpUser{sub: "s-kate", email: "KATE@Corp.Example", verified: true})
			if status != 200 || me(t, body)["id"] != members["kate@corp.example"].ID {
				t.Fatalf("kate's own login: %d %s", status, body)
			}
		})
	}
}

// A JIT user signed in with a verified look-alike address is not adopted
// when the IdP provisions the real owner of the ASCII address: the push
// creates the owner's user, and the JIT user stays what it was.
func TestLookAlikeJITUserIsNotAdoptedByTheOwnersPush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for i, la := range lookAlikes {
		t.Run(la.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, directory.JITPolicy{Mode: directory.JITAny})
			status, body := e.login(browser(t, true), "acme", idpUser{sub: "s-jit-" + string(rune('a'+i)), email: la.email, verified: true})
			if status != 200 {
				t.Fatalf("JIT login: %d %s", status, body)
			}
			jit := me(t, body)["id"]
			owner := e.scimUser("acme", la.victim, "ext-owner", true)
			if owner.ID == jit {
				t.Fatalf("the push of %s adopted the JIT user %s", la.victim, la.email)
			}
			m, err := e.db.Member(ctx, e.orgs["acme"].ID, jit.(string))
			if err != nil || m.Source != directory.SourceJIT || m.UserName != la.email {
				t.Fatalf("the JIT user after the push: %+v, %v", m, err)
			}
		})
	}
}
