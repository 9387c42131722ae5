package githook_test

import (
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/githook"
)

// seedFixtures adds every fixture whose name starts with prefix.
func seedFixtures(f *testing.F, prefix string) {
	f.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", prefix+"*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".want.json") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkParse holds the parsers' contract for any input: an error is
// ErrInvalid and comes alone; observations are bounded, valid, of the
// parser's provider, never empty and never repeated.
func checkParse(t *testing.T, provider string, obs []directory.GitObservation, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, directory.ErrInvalid) {
			t.Fatalf("error %v is not ErrInvalid", err)
		}
		if obs != nil {
			t.Fatalf("observations returned with an error")
		}
		return
	}
	if len(obs) > githook.MaxObservations {
		t.Fatalf("%d observations, over MaxObservations", len(obs))
	}
	type key struct{ role, sha, email, login string }
	seen := map[key]bool{}
	for i, o := range obs {
		if err := o.Validate(); err != nil {
			t.Fatalf("observation %d %+v: %v", i, o, err)
		}
		if o.Provider != provider {
			t.Fatalf("observation %d: provider %q", i, o.Provider)
		}
		if y := o.At.Year(); !o.At.IsZero() && (y < 0 || y > 9999) {
			t.Fatalf("observation %d: time %v out of range", i, o.At)
		}
		k := key{o.Role, o.SHA, directory.NormalizeEmail(o.Email), strings.ToLower(o.Login)}
		if seen[k] {
			t.Fatalf("observation %d repeats %+v", i, k)
		}
		seen[k] = true
	}
}

func FuzzParseGitHubPush(f *testing.F) {
	seedFixtures(f, "github-")
	f.Add([]byte(`{"ref":"x","repository":{"full_name":"o/r","pushed_at":1},"head_commit":{"id":"` + sha1 + `","author":{"email":"a@b.c","date":"2019-05-15T15:19:25+01:00"}}}`))
	f.Add([]byte(`{"ref":"x","repository":{"full_name":"o/r"},"commits":[{"id":"` + sha1 + `","author":{"username":"a b"},"committer":{"email":"\u0000"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		obs, err := githook.ParseGitHubPush(body)
		checkParse(t, "github", obs, err)
	})
}

func FuzzParseGitLabPush(f *testing.F) {
	seedFixtures(f, "gitlab-")
	f.Add([]byte(`{"object_kind":"tag_push","project":{"path_with_namespace":"a/b/c"},"user_email":"[redacted]","user_username":"u","commits":[{"id":"` + sha1 + `","timestamp":"2011-12-12 14:27:31 +0200","author":{"email":"x@y.z"}}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		obs, err := githook.ParseGitLabPush(body)
		checkParse(t, "gitlab", obs, err)
	})
}

// hmacVectors are HMAC-SHA256 signatures computed outside Go: GitHub's
// documented example, RFC 4231 test case 2, and a few made with
// `printf %s BODY | openssl dgst -sha256 -hmac SECRET`. The fuzz oracle
// below never computes a MAC itself, so a verifier and a test that share
// a mistake cannot agree.
var hmacVectors = []struct{ secret, body, hex string }{
	{docSecret, docPayload, strings.TrimPrefix(docSignature, "sha256=")},
	{"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	{"k", "{}", "add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff"},
	{"webhook-secret", `{"ref":"refs/heads/main"}`, "1cc8b99a4e55c34536b989e54720ed379fd864526bd428fa3246fcdc1540dc3e"},
	{"é𝄞 key", "", "3edeec7f58e04f8507c8a39fa10d8ba18158e19990fdc1cfbd269e618cce0361"},
}

// FuzzVerifyGitHub: the known vectors verify (in either hex case), and
// whatever the fuzzer sends, a refusal is ErrUnauthorized without the
// secret or the signature in its message, while an acceptance is a
// well-formed header whose MAC binds both the secret and the body: the
// same header with a different secret, a different body or any one hex
// digit changed is refused.
func FuzzVerifyGitHub(f *testing.F) {
	for _, v := range hmacVectors {
		f.Add([]byte(v.secret), "sha256="+v.hex, []byte(v.body))
		f.Add([]byte(v.secret), "sha256="+strings.ToUpper(v.hex), []byte(v.body))
		f.Add([]byte(v.secret), "sha256="+v.hex, []byte(v.body+" "))
		f.Add([]byte(v.secret+"x"), "sha256="+v.hex, []byte(v.body))
		f.Add([]byte(v.secret), "sha1="+v.hex, []byte(v.body))
		f.Add([]byte(v.secret), "sha256="+v.hex[:63], []byte(v.body))
	}
	f.Add([]byte(""), "sha256=", []byte(""))
	f.Add([]byte(""), docSignature, []byte(docPayload))
	f.Fuzz(func(t *testing.T, secret []byte, header string, body []byte) {
		for _, v := range hmacVectors {
			// The hex digits in either case; the prefix as GitHub writes it
			// (the verifier refuses "SHA256=" and "sHA256=" alike).
			if string(secret) == v.secret && string(body) == v.body && strings.HasPrefix(header, "sha256=") && strings.EqualFold(header[len("sha256="):], v.hex) {
				if err := githook.VerifyGitHub(secret, header, body); err != nil {
					t.Fatalf("known vector refused: secret %q body %q header %q: %v", secret, body, header, err)
				}
			}
		}
		err := githook.VerifyGitHub(secret, header, body)
		if err != nil {
			if !errors.Is(err, directory.ErrUnauthorized) {
				t.Fatalf("error %v is not ErrUnauthorized", err)
			}
			msg := err.Error()
			if digest, ok := strings.CutPrefix(header, "sha256="); ok && len(digest) >= 8 && strings.Contains(msg, digest) {
				t.Fatalf("error %q echoes the signature", msg)
			}
			if len(secret) >= 8 && strings.Contains(msg, string(secret)) {
				t.Fatalf("error %q holds the secret", msg)
			}
			return
		}
		digest, ok := strings.CutPrefix(header, "sha256=")
		if len(secret) == 0 || !ok || len(digest) != 64 {
			t.Fatalf("accepted secret %q with header %q", secret, header)
		}
		if _, err := hex.DecodeString(digest); err != nil {
			t.Fatalf("accepted the header %q, which is not hex", header)
		}
		if githook.VerifyGitHub(append(slices.Clone(secret), 'x'), header, body) == nil {
			t.Fatalf("header %q verifies under the secret %q and under %q", header, secret, append(slices.Clone(secret), 'x'))
		}
		if githook.VerifyGitHub(secret, header, append(slices.Clone(body), ' ')) == nil {
			t.Fatalf("header %q verifies body %q and the same with a space appended", header, body)
		}
		for i := range digest {
			c := byte('0')
			if digest[i] == '0' {
				c = '1'
			}
			forged := "sha256=" + digest[:i] + string(c) + digest[i+1:]
			if githook.VerifyGitHub(secret, forged, body) == nil {
				t.Fatalf("both %q and %q verify", header, forged)
			}
		}
	})
}

func FuzzVerifyGitLab(f *testing.F) {
	f.Add([]byte("secret"), "secret")
	f.Add([]byte(""), "")
	f.Add([]byte("a"), "b")
	f.Fuzz(func(t *testing.T, secret []byte, token string) {
		err := githook.VerifyGitLab(secret, token)
		valid := len(secret) > 0 && string(secret) == token
		if valid != (err == nil) {
			t.Fatalf("VerifyGitLab = %v, want valid=%v", err, valid)
		}
		if err != nil && !errors.Is(err, directory.ErrUnauthorized) {
			t.Fatalf("error %v is not ErrUnauthorized", err)
		}
	})
}
