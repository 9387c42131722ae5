package oidc_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/oidc"
)

// A zero session lifetime or idle timeout in the configuration (flags
// left unset) means the defaults, 12 hours and one hour, not sessions
// that end at once or never idle out.
func TestZeroSessionLifetimesMeanTheDefaults(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, directory.JITPolicy{Mode: directory.JITAny}, func(c *oidc.Config) { c.SessionTTL, c.IdleTimeout = 0, 0 })
	ctx := context.Background()
	for _, tc := range []struct {
		name, who string
		idle      time.Duration // how long ago the session was last seen
		want      int
	}{
		{"seen 59 minutes ago", "yves", 59 * time.Minute, http.StatusOK},
		{"seen 61 minutes ago", "zoe", 61 * time.Minute, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := browser(t, true)
			status, body := e.login(c, "acme", idpUser{sub: "s-" + tc.who, email: tc.who + "@example.com", verified: true})
			if status != 200 {
				t.Fatalf("login: %d %s", status, body)
			}
			id := e.sessionCookie(c, "acme")
			var lifetime time.Duration
			if err := e.db.Pool.QueryRow(ctx, `SELECT expires_at - created_at FROM sessions WHERE id_hash = $1`, directory.HashSecret(id)).Scan(&lifetime); err != nil {
				t.Fatal(err)
			}
			if lifetime != oidc.DefaultSessionTTL {
				t.Fatalf("the session lives %s, want %s", lifetime, oidc.DefaultSessionTTL)
			}
			e.age("sessions", "id_hash", directory.HashSecret(id), tc.idle, "last_seen_at")
			if status, body, _ := get(t, c, e.srv.URL+"/auth/acme/me"); status != tc.want {
				t.Fatalf("me: %d %s, want %d", status, body, tc.want)
			}
		})
	}
}
