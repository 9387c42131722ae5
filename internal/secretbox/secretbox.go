// Package secretbox encrypts the secrets scimbridge must be able to read
// back — webhook HMAC secrets, IdP client secrets — with AES-256-GCM under
// a key from the environment. (Bearer tokens are never stored at all, only
// their digests; these secrets cannot be, since a signature check needs the
// secret itself.)
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the key length: AES-256.
const KeySize = 32

// version prefixes every ciphertext, so that the format can change.
const version = 1

// ErrNoKey is returned when no key is configured.
var ErrNoKey = errors.New("no secret key: set SCIMBRIDGE_SECRET_KEY to 32 random bytes in base64 (for example: openssl rand -base64 32)")

// Box encrypts and decrypts with one key.
type Box struct{ aead cipher.AEAD }

// New returns a box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret key: want %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// ParseKey reads a base64 (standard or URL alphabet, padded or not) key.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, errors.New("SCIMBRIDGE_SECRET_KEY: want 32 bytes in base64")
}

// LoadOrCreateKeyFile reads the key in path, creating it (mode 0600) with
// fresh random bytes on first use: the embedded default keeps its key next
// to its data.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return ParseKey(string(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, KeySize)
	_, _ = rand.Read(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) { // created meanwhile by another command
		return LoadOrCreateKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n"); err != nil {
		return nil, err
	}
	return key, f.Close()
}

// Seal encrypts plaintext bound to context (for example the row it is
// stored in): a ciphertext moved to another row does not open.
func (b *Box) Seal(plaintext, context []byte) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, plaintext, context)
}

// Open decrypts what Seal produced with the same context.
func (b *Box) Open(sealed, context []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != version {
		return nil, errors.New("secretbox: not a sealed secret")
	}
	p, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], context)
	if err != nil {
		return nil, errors.New("secretbox: cannot open (wrong key or context)")
	}
	return p, nil
}
