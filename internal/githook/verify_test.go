package githook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/githook"
)

// The test vector of GitHub's "Validating webhook deliveries".
const (
	docSecret    = "It's a Secret to Everybody"
	docPayload   = "Hello, World!"
	docSignature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestVerifyGitHubAcceptsTheDocumentedTestVector(t *testing.T) {
	t.Parallel()
	if got := sign(docSecret, docPayload); got != docSignature {
		t.Fatalf("test helper signs %q, GitHub documents %q", got, docSignature)
	}
	if err := githook.VerifyGitHub([]byte(docSecret), docSignature, []byte(docPayload)); err != nil {
		t.Fatalf("documented vector refused: %v", err)
	}
}

func TestVerifyGitHub(t *testing.T) {
	t.Parallel()
	hexDigest := strings.TrimPrefix(docSignature, "sha256=")
	cases := []struct {
		name   string
		secret string
		header string
		body   string
		ok     bool
	}{
		{"good signature", docSecret, docSignature, docPayload, true},
		{"upper-case hex decodes to the same MAC", docSecret, "sha256=" + strings.ToUpper(hexDigest), docPayload, true},
		{"wrong secret", "It's a Secret to Nobody", docSignature, docPayload, false},
		{"wrong body", docSecret, docSignature, "Hello, World?", false},
		{"body with a trailing newline", docSecret, docSignature, docPayload + "\n", false},
		{"missing header", docSecret, "", docPayload, false},
		{"sha1= prefix (X-Hub-Signature)", docSecret, "sha1=" + hexDigest[:40], docPayload, false},
		{"sha1= prefix with a sha256 digest", docSecret, "sha1=" + hexDigest, docPayload, false},
		{"upper-case prefix", docSecret, "SHA256=" + hexDigest, docPayload, false},
		{"bare digest without prefix", docSecret, hexDigest, docPayload, false},
		{"truncated hex", docSecret, docSignature[:len(docSignature)-2], docPayload, false},
		{"odd-length hex", docSecret, docSignature[:len(docSignature)-1], docPayload, false},
		{"extra hex", docSecret, docSignature + "00", docPayload, false},
		{"non-hex digits", docSecret, "sha256=" + strings.Repeat("zz", 32), docPayload, false},
		{"prefix only", docSecret, "sha256=", docPayload, false},
		{"leading space", docSecret, " " + docSignature, docPayload, false},
		{"empty secret refuses even a matching MAC", "", sign("", docPayload), docPayload, false},
		{"empty secret and empty body", "", sign("", ""), "", false},
		{"empty body signed", docSecret, sign(docSecret, ""), "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := githook.VerifyGitHub([]byte(c.secret), c.header, []byte(c.body))
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, directory.ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			if c.secret != "" && strings.Contains(err.Error(), c.secret) {
				t.Fatalf("error %q holds the secret", err)
			}
			if want := sign(c.secret, c.body); strings.Contains(err.Error(), want[len("sha256="):]) {
				t.Fatalf("error %q holds the expected MAC", err)
			}
		})
	}
}

func TestVerifyGitLab(t *testing.T) {
	t.Parallel()
	const secret = "0123456789abcdef-gitlab-secret"
	cases := []struct {
		name   string
		secret string
		token  string
		ok     bool
	}{
		{"equal token", secret, secret, true},
		{"different token", secret, "0123456789abcdef-gitlab-secreT", false},
		{"prefix of the secret", secret, secret[:10], false},
		{"secret plus a suffix", secret, secret + "x", false},
		{"missing header", secret, "", false},
		{"token with surrounding space", secret, " " + secret, false},
		{"empty secret refuses an empty token", "", "", false},
		{"empty secret refuses any token", "", "anything", false},
		{"unicode secret", "sécret-✓", "sécret-✓", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := githook.VerifyGitLab([]byte(c.secret), c.token)
			if c.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, directory.ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			if c.secret != "" && strings.Contains(err.Error(), c.secret) {
				t.Fatalf("error %q holds the secret", err)
			}
			if c.token != "" && strings.Contains(err.Error(), c.token) {
				t.Fatalf("error %q holds the token sent", err)
			}
		})
	}
}
