package sync_test

import (
	"errors"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Commit addresses that Unicode case folding (Go's strings.ToLower,
// PostgreSQL's lower() under a UTF-8 locale) turns into, or near, a
// member's ASCII address. Identities compare in ASCII case only (DESIGN
// §9): the reconciler maps none of them to the member, and resolve
// attributes none of them.
func TestLookAlikeCommitEmailsAreNotAttributedToAMember(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, email, victim string }{
		{"Kelvin sign U+212A", "\u212Aate@corp.example", "kate@corp.example"},
		{"Kelvin sign in the domain", "kate@\u212Aorp.example", "kate@korp.example"},
		{"Angstrom sign U+212B", "\u212Bsa@corp.example", "\u00C5sa@corp.example"},
		{"dotted capital I U+0130", "k\u0130m@corp.example", "kim@corp.example"},
		{"dotless i U+0131", "k\u0131m@corp.example", "kim@corp.example"},
		{"full-width K U+FF2B", "\uFF2Bate@corp.example", "kate@corp.example"},
		{"Cyrillic a U+0430", "k\u0430te@corp.example", "kate@corp.example"},
		// A noreply address resolves by the login it carries: a Kelvin
		// sign there must not spell kate's GitHub login.
		{"Kelvin sign in a GitHub noreply address", "12345+\u212Aate@users.noreply.github.com", "kate@corp.example"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			victim := e.user(tc.victim, tc.victim)
			// The victim's own commits, by login too, so that a login
			// read out of a noreply address would find them.
			own := e.mappedSeen(tc.victim, "kate", victim)
			g := e.seenOn(directory.GitProviderGitHub, tc.email, "")
			if g.ID == own.ID {
				t.Fatalf("%q was recorded as the victim's identity %q", tc.email, own.Email)
			}
			res := e.run(false)
			if after := e.identity(g.ID); after.UserID != "" {
				t.Fatalf("%q was auto-mapped to %s\n%s", tc.email, after.UserID, summaryOf(res))
			}
			if a, err := e.db.ResolveGit(e.ctx, e.org.ID, "github", tc.email, ""); !errors.Is(err, directory.ErrNotFound) {
				t.Fatalf("resolve %q: %s, %v; want not found", tc.email, a.User.UserName, err)
			}
			// The victim's own address, in any ASCII case, still resolves.
			if a, err := e.db.ResolveGit(e.ctx, e.org.ID, "github", asciiUpper(tc.victim), ""); err != nil || a.User.ID != victim.ID {
				t.Fatalf("resolve %q: %s, %v", asciiUpper(tc.victim), a.User.UserName, err)
			}
		})
	}
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// jit signs in a first time under the JIT policy, creating a JIT user
// named by email, verified or not as the IdP says.
func (e *env) jit(email string, verified bool) directory.User {
	e.t.Helper()
	u, _, err := e.db.LinkLogin(e.ctx, e.org.ID, directory.LoginClaims{Issuer: "https://idp.example", Subject: "sub-" + email,
		Email: email, EmailVerified: verified}, directory.JITPolicy{Mode: directory.JITAny})
	if err != nil || u.Source != directory.SourceJIT {
		e.t.Fatalf("JIT login of %s: %+v, %v", email, u, err)
	}
	return u
}

// Only verified addresses auto-map: a JIT user's login email is one only
// when its IdP said so (verified_login). Otherwise whoever can set an
// address at the IdP signs in with a colleague's and is handed their
// commits.
func TestAutoMapReadsOnlyVerifiedEmails(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		setup    func(e *env) directory.GitIdentity
		wantUser string
	}{
		{"a JIT user's unverified login email is not mapped", func(e *env) directory.GitIdentity {
			e.jit("dev@corp.example", false)
			return e.seen("dev@corp.example")
		}, ""},
		{"a JIT user's verified login email is mapped", func(e *env) directory.GitIdentity {
			e.jit("dev@corp.example", true)
			return e.seen("Dev@Corp.example")
		}, "dev@corp.example"},
		{"an unverified JIT user does not make a provisioned user's address ambiguous", func(e *env) directory.GitIdentity {
			e.user("dev", "dev@corp.example")
			e.jit("dev@corp.example", false)
			return e.seen("dev@corp.example")
		}, "dev"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			g := tc.setup(e)
			res := e.run(false)
			after := e.identity(g.ID)
			var got string
			if after.UserID != "" {
				u, err := e.db.Member(e.ctx, e.org.ID, after.UserID)
				if err != nil {
					t.Fatal(err)
				}
				got = u.UserName
			}
			if got != tc.wantUser {
				t.Fatalf("mapped to %q, want %q\n%s", got, tc.wantUser, summaryOf(res))
			}
			if c := e.openConflicts(); len(c) > 0 {
				t.Errorf("conflicts %q, want none", c)
			}
		})
	}
}
