package githook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
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

func FuzzVerifyGitHub(f *testing.F) {
	f.Add([]byte(docSecret), docSignature, []byte(docPayload))
	f.Add([]byte(docSecret), strings.ToUpper(docSignature), []byte(docPayload))
	f.Add([]byte(""), "sha256=", []byte(""))
	f.Add([]byte("k"), "sha1=0000", []byte("{}"))
	f.Fuzz(func(t *testing.T, secret []byte, header string, body []byte) {
		err := githook.VerifyGitHub(secret, header, body)
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		want := hex.EncodeToString(m.Sum(nil))
		digest, hasPrefix := strings.CutPrefix(header, "sha256=")
		valid := len(secret) > 0 && hasPrefix && strings.EqualFold(digest, want)
		if valid != (err == nil) {
			t.Fatalf("VerifyGitHub = %v, but the header %s a valid signature", err, map[bool]string{true: "is", false: "is not"}[valid])
		}
		if err == nil {
			return
		}
		if !errors.Is(err, directory.ErrUnauthorized) {
			t.Fatalf("error %v is not ErrUnauthorized", err)
		}
		msg := err.Error()
		if strings.Contains(msg, want) {
			t.Fatalf("error %q holds the expected MAC", msg)
		}
		if len(secret) >= 8 && strings.Contains(msg, string(secret)) {
			t.Fatalf("error %q holds the secret", msg)
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
