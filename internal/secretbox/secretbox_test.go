package secretbox

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpenBindsKeyAndContext(t *testing.T) {
	t.Parallel()
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	b1, _ := New(k1)
	b2, _ := New(k2)
	sealed := b1.Seal([]byte("hmac secret"), []byte("org-a/github"))
	if bytes.Contains(sealed, []byte("hmac secret")) {
		t.Fatal("plaintext visible in the ciphertext")
	}
	if p, err := b1.Open(sealed, []byte("org-a/github")); err != nil || string(p) != "hmac secret" {
		t.Fatalf("open: %q %v", p, err)
	}
	if _, err := b1.Open(sealed, []byte("org-b/github")); err == nil {
		t.Fatal("opened with another row's context")
	}
	if _, err := b2.Open(sealed, []byte("org-a/github")); err == nil {
		t.Fatal("opened with another key")
	}
	if _, err := b1.Open(sealed[:5], nil); err == nil {
		t.Fatal("opened garbage")
	}
	if _, err := New(k1[:16]); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestKeyFileIsCreatedOnceWithPrivateMode(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "secret.key")
	k1, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load: %v", err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if _, err := ParseKey("not base64!"); err == nil {
		t.Fatal("bad key accepted")
	}
}
