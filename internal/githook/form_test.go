package githook_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/internal/githook"
)

func TestGitHubPayloadTakesBothContentTypesGitHubOffers(t *testing.T) {
	t.Parallel()
	doc := `{"ref":"refs/heads/main","commits":[{"message":"a+b=c & d"}]}`
	tests := []struct {
		name        string
		contentType string
		body        string
		want        string // "" when refused
	}{
		{"json", "application/json", doc, doc},
		{"json with charset", "application/json; charset=utf-8", doc, doc},
		{"no content type", "", doc, doc},
		{"form, GitHub's default", "application/x-www-form-urlencoded", url.Values{"payload": {doc}}.Encode(), doc},
		{"form, upper case type", "Application/X-WWW-Form-Urlencoded", url.Values{"payload": {doc}}.Encode(), doc},
		{"form without payload", "application/x-www-form-urlencoded", "data=" + url.QueryEscape(doc), ""},
		{"form with two payloads", "application/x-www-form-urlencoded", "payload=%7B%7D&payload=%7B%7D", ""},
		{"form that does not decode", "application/x-www-form-urlencoded", "payload=%zz", ""},
		{"another type", "text/plain", doc, ""},
		{"a malformed type", "application/json; =", doc, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := githook.GitHubPayload(tt.contentType, []byte(tt.body))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("accepted: %q", got)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := githook.GitHubPayload(strings.Repeat("x", 10_000), nil); err == nil || len(err.Error()) > 200 {
		t.Fatalf("a huge content type: %v (the error must stay short)", err)
	}
}

// FuzzGitHubPayload: whatever the body, a form-encoded delivery yields
// exactly the payload field that url.Values encoded, and a JSON one the
// body itself.
func FuzzGitHubPayload(f *testing.F) {
	f.Add(`{"a":1}`, true)
	f.Add("a+b=c&d%20", true)
	f.Add("", false)
	f.Fuzz(func(t *testing.T, doc string, form bool) {
		if !form {
			got, err := githook.GitHubPayload("application/json", []byte(doc))
			if err != nil || string(got) != doc {
				t.Fatalf("json: %q %v", got, err)
			}
			return
		}
		body := url.Values{"payload": {doc}}.Encode()
		got, err := githook.GitHubPayload("application/x-www-form-urlencoded", []byte(body))
		if err != nil || string(got) != doc {
			t.Fatalf("form: %q %v, want %q", got, err, doc)
		}
	})
}
