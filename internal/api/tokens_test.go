package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

// An admin mints API tokens for themself or for a service account, never
// in another person's name nor the break-glass owner's, whoever asks.
func TestAPITokensAreMintedForYourselfOrAServiceAccount(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ann, annUser := tn.admin("ann@acme.test")
	tn.scimUser("bob@acme.test")
	robot := tn.user("robot", directory.SourceService)

	cases := []struct {
		name   string
		caller *tenant
		owner  string // "" names no owner: the caller
		status int
	}{
		{"for yourself", ann, "", 201},
		{"for yourself by name", ann, annUser.UserName, 201},
		{"for a service account", ann, robot.ID, 201},
		{"for another person", ann, "bob@acme.test", 403},
		{"for the break-glass owner", ann, postgres.BreakGlassUserName, 403},
		{"by the break-glass owner for itself", tn, "", 403},
		{"by the break-glass owner for itself by name", tn, postgres.BreakGlassUserName, 403},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := map[string]any{"name": "tok-" + string(rune('a'+i))}
			if c.owner != "" {
				body["owner"] = c.owner
			}
			r := c.caller.in(t).do("POST", "/api-tokens", body)
			if c.status != 201 {
				problem(t, r, c.status, "forbidden")
				return
			}
			if r.status != 201 {
				t.Fatalf("status %d, want 201: %s", r.status, r.body)
			}
		})
	}
	// A refusal leaves no token behind.
	toks, err := tn.db.APITokens(context.Background(), tn.id)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]int{}
	for _, tk := range toks {
		owners[tk.OwnerID]++
	}
	// ann: her seed token and two minted; robot: one; the owner: its seed.
	if owners[annUser.ID] != 3 || owners[robot.ID] != 1 || owners[tn.ownerID] != 1 || len(toks) != 5 {
		t.Fatalf("tokens by owner %v (%d in all)", owners, len(toks))
	}
}

// The minting of a token is audited as the admin who minted it, with the
// owner, whose name the token will act in, recorded apart.
func TestAPITokenMintingIsAuditedAsTheMinter(t *testing.T) {
	t.Parallel()
	tn := newEnv(t).tenant("acme")
	ann, _ := tn.admin("ann@acme.test")
	robot := tn.user("robot", directory.SourceService)
	tok := ann.must(201, "POST", "/api-tokens", map[string]any{"name": "ci", "owner": "robot"})

	events := tn.must(200, "GET", "/audit?action=apitoken.create&resourceId="+str(tok["id"]), nil)["items"].([]any)
	if len(events) != 1 {
		t.Fatalf("%d apitoken.create events, want 1: %v", len(events), events)
	}
	ev := events[0].(map[string]any)
	after := ev["after"].(map[string]any)
	if ev["actor"] != "api-token:admin-ann@acme.test (ann@acme.test)" || after["owner"] != robot.ID || after["ownerUserName"] != "robot" {
		t.Fatalf("audited %v", ev)
	}
}

// Every token expires: 90 days unless asked otherwise, never beyond the
// operator's maximum, for SCIM and admin API tokens alike.
func TestTokensAlwaysExpire(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tn := newEnv(t).tenant("acme")
	tn.user("robot", directory.SourceService)
	short := newEnv(t, withStore(func(db *postgres.DB) { db.SetMaxTokenTTL(30 * day) })).tenant("acme")
	short.user("robot", directory.SourceService)

	cases := []struct {
		name      string
		tn        *tenant
		path      string
		expiresIn string // "" asks for none
		status    int
		want      time.Duration
	}{
		{"SCIM token, no lifetime asked", tn, "/scim-tokens", "", 201, 90 * day},
		{"API token, no lifetime asked", tn, "/api-tokens", "", 201, 90 * day},
		{"SCIM token, the maximum", tn, "/scim-tokens", "365d", 201, 365 * day},
		{"SCIM token above the maximum", tn, "/scim-tokens", "366d", 400, 0},
		{"API token above the maximum", tn, "/api-tokens", "8761h", 400, 0},
		{"SCIM token, no lifetime asked, shorter maximum", short, "/scim-tokens", "", 201, 30 * day},
		{"API token, no lifetime asked, shorter maximum", short, "/api-tokens", "", 201, 30 * day},
		{"API token above a shorter maximum", short, "/api-tokens", "31d", 400, 0},
		{"no expiry is no lifetime", tn, "/api-tokens", "never", 400, 0},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := map[string]any{"name": "tok-" + string(rune('a'+i))}
			if c.path == "/api-tokens" {
				body["owner"] = "robot"
			}
			if c.expiresIn != "" {
				body["expiresIn"] = c.expiresIn
			}
			before := time.Now()
			r := c.tn.in(t).do("POST", c.path, body)
			after := time.Now()
			if c.status != 201 {
				problem(t, r, c.status, "invalid")
				return
			}
			if r.status != 201 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			exp, err := time.Parse(time.RFC3339Nano, str(r.object(t)["expiresAt"]))
			if err != nil {
				t.Fatalf("expiresAt: %v: %s", err, r.body)
			}
			// The server's clock read between before and after.
			if exp.Before(before.Add(c.want).Truncate(time.Microsecond)) || exp.After(after.Add(c.want)) {
				t.Fatalf("expires at %v, want %v after the request (%v)", exp, c.want, before)
			}
		})
	}
}
