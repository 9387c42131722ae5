package oidc

import (
	"strings"
	"testing"
)

// return_to is a path on our own origin, of bounded length, without
// control characters: anything else would make the login an open
// redirect or smuggle a header.
func TestReturnToIsAPathOfOurOwn(t *testing.T) {
	t.Parallel()
	long := "/" + strings.Repeat("a", 2047)
	for in, want := range map[string]bool{
		"":                      true,
		"/orgs/acme/":           true,
		"/a b":                  true, // a space is not a control character
		long:                    true, // 2,048 bytes
		long + "a":              false,
		"/a\x1fb":               false,
		"/a\x7fb":               false,
		"/a\nb":                 false,
		"//evil.example/":       false,
		"/\\evil.example/":      false,
		"https://evil.example/": false,
		"orgs/acme":             false,
		"/a\\b":                 false,
	} {
		if _, ok := checkReturnTo(in); ok != want {
			t.Errorf("checkReturnTo(%.30q) ok = %v, want %v", in, ok, want)
		}
	}
}
