package oidc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scimbridge/scimbridge/oidc"
)

// The issuer is an org admin's choice: checking it must not show them
// what another service answers, follow redirects, or reach the cloud's
// metadata endpoint.
func TestProviderClientIsNoWayIntoTheNetwork(t *testing.T) {
	t.Parallel()
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "INTERNAL-SECRET-PAGE", http.StatusForbidden)
	}))
	t.Cleanup(internal.Close)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(redirecting.Close)
	cases := []struct {
		name, issuer, want string
	}{
		{"another service's answer is not echoed", internal.URL, "403 Forbidden"},
		{"redirects are not followed", redirecting.URL, "redirect"},
		{"link-local (metadata) addresses are not dialled", "https://169.254.169.254", "could not be reached"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := oidc.ValidateSettings(context.Background(), nil, c.issuer)
			if err == nil || strings.Contains(err.Error(), "INTERNAL-SECRET-PAGE") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q and nothing of the answer", err, c.want)
			}
		})
	}
}
