package httpserver

import (
	"strings"
	"testing"
)

func TestCodeLabelKeepsRealStatusCodesOnly(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]string{99: "other", 100: "100", 200: "200", 599: "599", 600: "other", -1: "other", 1 << 20: "other"} {
		if got := codeLabel(code); got != want {
			t.Errorf("codeLabel(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestLoggedMethodsAreCutAt16Bytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"GET":                   "GET",
		strings.Repeat("M", 16): strings.Repeat("M", 16),
		strings.Repeat("M", 17): strings.Repeat("M", 16) + "…",
	} {
		if got := logMethod(in); got != want {
			t.Errorf("logMethod(%d bytes) = %q, want %q", len(in), got, want)
		}
	}
}
