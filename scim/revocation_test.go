package scim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/api"
	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/httpserver"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/scim"
)

// A user the IdP deactivates or deletes loses everything that lets it
// act at once and for good: its admin API tokens stop authenticating on
// /api/v1 and its login sessions stop resolving, and neither comes back
// when the IdP reactivates the user. (Both checks refuse an inactive
// owner anyway, so only the reactivation shows that the deactivation
// itself ended them.)
func TestSCIMDeactivationEndsTheUsersTokensAndSessions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		deactivate func(tn *tenant, id string) response
		deleted    bool
	}{
		{"PATCH active false", func(tn *tenant, id string) response {
			return tn.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "active", "value": false}))
		}, false},
		{"Okta's path-less PATCH", func(tn *tenant, id string) response {
			return tn.do("PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "value": map[string]any{"active": false}}))
		}, false},
		{"PUT with active false", func(tn *tenant, id string) response {
			return tn.do("PUT", "/Users/"+id, userBody("ann@example.com", "active", false))
		}, false},
		{"DELETE", func(tn *tenant, id string) response { return tn.do("DELETE", "/Users/"+id, nil) }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := pgtest.DB(t)
			hs := httpserver.New(httpserver.Config{Ready: db.Ready})
			scim.New(scim.Config{Store: db}).Mount(hs)
			api.New(api.Config{Store: db}).Mount(hs)
			srv := httptest.NewServer(hs.Handler())
			t.Cleanup(srv.Close)
			tn := newTenant(t, db, srv, "acme")

			id := tn.must(201, "POST", "/Users", userBody("ann@example.com"))["id"].(string)
			if _, err := db.CreateBinding(ctx, directory.Actor{Kind: "test", Name: "t"},
				directory.Binding{OrgID: tn.orgID, Role: directory.RoleOrgAdmin, UserID: id}); err != nil {
				t.Fatal(err)
			}
			_, token, err := db.CreateAPIToken(ctx, directory.Actor{Kind: "test", Name: "t"}, tn.orgID, id, "ann-cli", 0)
			if err != nil {
				t.Fatal(err)
			}
			session, err := db.CreateSession(ctx, tn.orgID, id, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			apiStatus := func() int {
				t.Helper()
				req, _ := http.NewRequest("GET", srv.URL+"/api/v1/orgs/acme/users", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			sessionErr := func() error {
				_, _, err := db.SessionUser(ctx, "acme", session, 0)
				return err
			}
			if got := apiStatus(); got != 200 {
				t.Fatalf("before: the API token gets %d, want 200", got)
			}
			if err := sessionErr(); err != nil {
				t.Fatalf("before: the session does not resolve: %v", err)
			}

			if r := c.deactivate(tn, id); r.status >= 300 {
				t.Fatalf("deactivation: %d %s", r.status, r.body)
			}
			if got := apiStatus(); got != 401 {
				t.Fatalf("after: the API token gets %d, want 401", got)
			}
			if err := sessionErr(); !errors.Is(err, directory.ErrUnauthorized) {
				t.Fatalf("after: the session resolves (%v)", err)
			}

			if !c.deleted {
				tn.must(204, "PATCH", "/Users/"+id, patchBody(map[string]any{"op": "replace", "path": "active", "value": true}))
				if u, err := db.User(ctx, tn.orgID, id); err != nil || !u.Active {
					t.Fatalf("not reactivated: %+v %v", u, err)
				}
				if got := apiStatus(); got != 401 {
					t.Fatalf("after reactivation: the API token gets %d, want 401", got)
				}
				if err := sessionErr(); !errors.Is(err, directory.ErrUnauthorized) {
					t.Fatalf("after reactivation: the session resolves (%v)", err)
				}
			}
			// Nothing live is left of either, whatever the user's state.
			var tokens, sessions int
			if err := db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM api_tokens WHERE org_id = $1 AND owner_id = $2 AND revoked_at IS NULL),
					(SELECT count(*) FROM sessions WHERE org_id = $1 AND user_id = $2 AND revoked_at IS NULL)`, tn.orgID, id).Scan(&tokens, &sessions); err != nil {
				t.Fatal(err)
			}
			if tokens != 0 || sessions != 0 {
				t.Fatalf("%d live API tokens and %d live sessions left", tokens, sessions)
			}
		})
	}
}
