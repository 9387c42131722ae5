package directory

import (
	"errors"
	"testing"
	"time"
)

func TestParseTTL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"1d", 24 * time.Hour, true},
		{"12h", 12 * time.Hour, true},
		{"30m", 30 * time.Minute, true},
		{"", 0, false},
		{"0d", 0, false},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"+3d", 0, false},
		{"5x", 0, false},
		{"-5m", 0, false},
		{"99999999d", 0, false},
	}
	for _, c := range cases {
		got, err := ParseTTL(c.in)
		if c.ok != (err == nil) || got != c.want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTTL(%q): error %v is not ErrInvalid", c.in, err)
		}
	}
}

func TestTokenStatus(t *testing.T) {
	t.Parallel()
	now := time.Now()
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	cases := []struct {
		tok  SCIMToken
		want TokenStatus
	}{
		{SCIMToken{}, TokenActive},
		{SCIMToken{ExpiresAt: &future}, TokenActive},
		{SCIMToken{ExpiresAt: &now}, TokenExpired},
		{SCIMToken{ExpiresAt: &past}, TokenExpired},
		{SCIMToken{ExpiresAt: &future, RevokedAt: &past}, TokenRevoked},
	}
	for i, c := range cases {
		if got := c.tok.Status(now); got != c.want {
			t.Errorf("case %d: %s, want %s", i, got, c.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	a, b := NewSecret(SCIMTokenPrefix), NewSecret(SCIMTokenPrefix)
	if a == b {
		t.Fatal("two secrets are equal")
	}
	if !LooksLikeSecret(SCIMTokenPrefix, a) || LooksLikeSecret(SCIMTokenPrefix, a[:len(a)-1]) || LooksLikeSecret("other_", a) {
		t.Fatal("LooksLikeSecret misjudges the shape")
	}
	if len(HashSecret(a)) != 32 || string(HashSecret(a)) == string(HashSecret(b)) {
		t.Fatal("HashSecret is not a SHA-256 digest per secret")
	}
}

func TestValidateTokenName(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{"okta": true, "entra prod": true, "": false, " x": false, "x ": false, "a\x00b": false, string(make([]byte, 101)): false} {
		if err := ValidateTokenName(name); (err == nil) != ok {
			t.Errorf("ValidateTokenName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
