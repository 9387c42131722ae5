package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/pgtest"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

var operatorActor = directory.Actor{Kind: "cli", Name: "operator"}

// An operator token gets the lifetime rules of the SCIM and admin API
// tokens: the default when none is asked for, never past the maximum.
func TestOperatorTokensExpireByDefaultAndWithinTheMaximum(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		max, ttl time.Duration
		want     time.Duration // 0: ErrInvalid
	}{
		{"no lifetime asked", 0, 0, 90 * day},
		{"a lifetime asked", 0, 12 * time.Hour, 12 * time.Hour},
		{"the default maximum", 0, 365 * day, 365 * day},
		{"above the default maximum", 0, 366 * day, 0},
		{"no lifetime asked, shorter maximum", 7 * day, 0, 7 * day},
		{"above a configured maximum", 7 * day, 8 * day, 0},
	}
	db := pgtest.DB(t)
	postgres.SetNowForTest(db, func() time.Time { return now })
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// One database: SetMaxTokenTTL is set before use in serve, so
			// the cases run one after the other here.
			db.SetMaxTokenTTL(c.max)
			tok, secret, err := db.CreateOperatorToken(context.Background(), operatorActor, fmt.Sprintf("t%d", i), c.ttl)
			if c.want == 0 {
				if !errors.Is(err, directory.ErrInvalid) || secret != "" {
					t.Fatalf("created %+v, %v; want ErrInvalid", tok, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tok.ExpiresAt.Equal(now.Add(c.want)) {
				t.Fatalf("expires %v, want %v", tok.ExpiresAt, now.Add(c.want))
			}
			if !strings.HasPrefix(secret, directory.OperatorTokenPrefix) || !directory.LooksLikeSecret(directory.OperatorTokenPrefix, secret) {
				t.Fatalf("secret %q", secret)
			}
		})
	}
}

// An operator token authenticates until its expiry by the store's clock
// and not a moment after, not after its revocation, and nothing that is
// not exactly it authenticates. Its use is recorded, and its minting and
// revocation are on the operator's trail.
func TestOperatorTokenAuthenticatesOnlyWhileLive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := pgtest.DB(t)
	start := time.Now().Truncate(time.Second)
	var offset atomic.Int64
	postgres.SetNowForTest(db, func() time.Time { return start.Add(time.Duration(offset.Load())) })
	at := func(d time.Duration) { offset.Store(int64(d)) }

	tok, secret, err := db.CreateOperatorToken(ctx, operatorActor, "platform", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, otherSecret, err := db.CreateOperatorToken(ctx, operatorActor, "spare", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateOperatorToken(ctx, operatorActor, "platform", 0); !errors.Is(err, directory.ErrConflict) {
		t.Fatalf("a second live token named platform: %v, want ErrConflict", err)
	}
	org, err := db.CreateOrganization(ctx, "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	owner, err := db.FindMember(ctx, org.ID, postgres.BreakGlassUserName)
	if err != nil {
		t.Fatal(err)
	}
	_, apiSecret, err := db.CreateAPIToken(ctx, operatorActor, org.ID, owner.ID, "api", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, scimSecret, err := db.CreateSCIMToken(ctx, org.ID, "scim", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The API token's random part under the operator prefix: the shape is
	// right, the digest is unknown.
	reprefixed := directory.OperatorTokenPrefix + strings.TrimPrefix(apiSecret, directory.APITokenPrefix)
	flipped := secret[:len(secret)-1] + "A"
	if strings.HasSuffix(secret, "A") {
		flipped = secret[:len(secret)-1] + "B"
	}
	refused := []struct{ name, secret string }{
		{"empty", ""},
		{"garbage", "nonsense"},
		{"an admin API token", apiSecret},
		{"a SCIM token", scimSecret},
		{"another digest under the operator prefix", reprefixed},
		{"the token with its last character changed", flipped},
		{"the token with a character more", secret + "A"},
		{"a well-formed unknown token", directory.NewSecret(directory.OperatorTokenPrefix)},
	}
	for _, c := range refused {
		if got, err := db.AuthenticateOperator(ctx, c.secret); !errors.Is(err, directory.ErrUnauthorized) {
			t.Errorf("%s: authenticated as %+v, %v", c.name, got, err)
		}
	}

	lastUsed := func() *time.Time {
		t.Helper()
		list, err := db.OperatorTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range list {
			if x.ID == tok.ID {
				return x.LastUsedAt
			}
		}
		t.Fatalf("token %s not listed", tok.ID)
		return nil
	}
	steps := []struct {
		at       time.Duration
		ok       bool
		lastUsed time.Duration // -1: never used
	}{
		{0, true, 0},
		{30 * time.Second, true, 0}, // within the minute: not written again
		{2 * time.Minute, true, 2 * time.Minute},
		{time.Hour - time.Second, true, time.Hour - time.Second},
		{time.Hour, false, time.Hour - time.Second}, // expired at its expiry
		{2 * time.Hour, false, time.Hour - time.Second},
	}
	for _, s := range steps {
		at(s.at)
		got, err := db.AuthenticateOperator(ctx, secret)
		if s.ok != (err == nil) {
			t.Fatalf("at +%v: %+v, %v; want ok=%v", s.at, got, err, s.ok)
		}
		if err != nil && !errors.Is(err, directory.ErrUnauthorized) {
			t.Fatalf("at +%v: %v, want ErrUnauthorized", s.at, err)
		}
		if s.ok && (got.ID != tok.ID || got.Name != "platform") {
			t.Fatalf("at +%v: authenticated as %+v", s.at, got)
		}
		if lu := lastUsed(); lu == nil || !lu.Equal(start.Add(s.lastUsed)) {
			t.Fatalf("at +%v: last used %v, want %v", s.at, lu, start.Add(s.lastUsed))
		}
	}

	at(0)
	if _, err := db.AuthenticateOperator(ctx, otherSecret); err != nil {
		t.Fatalf("the spare token: %v", err)
	}
	if _, err := db.RevokeOperatorToken(ctx, operatorActor, "no-such-token"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("revoke an unknown token: %v", err)
	}
	if r, err := db.RevokeOperatorToken(ctx, operatorActor, other.ID); err != nil || r.ID != other.ID || r.RevokedAt == nil {
		t.Fatalf("revoke by id: %+v, %v", r, err)
	}
	if _, err := db.AuthenticateOperator(ctx, otherSecret); !errors.Is(err, directory.ErrUnauthorized) {
		t.Fatalf("a revoked token authenticated: %v", err)
	}
	if _, err := db.RevokeOperatorToken(ctx, operatorActor, other.ID); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	// A revoked token's name may be reused; revoking by name finds the
	// live one.
	again, _, err := db.CreateOperatorToken(ctx, operatorActor, "spare", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := db.RevokeOperatorToken(ctx, operatorActor, "spare"); err != nil || r.ID != again.ID {
		t.Fatalf("revoke by name: %+v, %v", r, err)
	}

	evs, err := db.OperatorAuditEvents(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, e := range evs {
		if e.Actor != "cli:operator" || e.ResourceType != "OperatorToken" || e.OrganizationID != "" {
			t.Errorf("event %+v", e)
		}
		trail = append(trail, e.Action+" "+fmt.Sprint(e.After["name"]))
	}
	want := "operatortoken.revoke spare,operatortoken.create spare,operatortoken.revoke spare,operatortoken.create spare,operatortoken.create platform"
	if got := strings.Join(trail, ","); got != want {
		t.Fatalf("operator trail, newest first:\n%s\nwant\n%s", got, want)
	}
}

// ProvisionOrganization makes an organization ready for its IdP in one
// transaction: a failure at any step leaves nothing behind, not even the
// organization; success leaves a SCIM token that authenticates and a
// break-glass link that works.
func TestProvisionOrganizationIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	actor := directory.Actor{Kind: "operator-token", Name: "00000000-0000-0000-0000-00000000000a"}
	cases := []struct {
		name      string
		slug      string
		orgName   string
		tokenName string
		ttl       time.Duration
		sabotage  string // SQL run first, to make a later step fail
		want      error  // the error's kind, or its message for a sabotage; nil: created
	}{
		{"created", "acme", "Acme Inc", "okta", 0, "", nil},
		{"the name defaults to the slug", "acme", "", "okta", 0, "", nil},
		{"a bad slug", "Acme", "", "okta", 0, "", directory.ErrInvalid},
		{"a name too long", "acme", strings.Repeat("x", 201), "okta", 0, "", directory.ErrInvalid},
		{"a name with a control character", "acme", "Acme\nInc", "okta", 0, "", directory.ErrInvalid},
		{"a bad token name", "acme", "", " okta", 0, "", directory.ErrInvalid},
		{"a lifetime above the maximum", "acme", "", "okta", 366 * 24 * time.Hour, "", directory.ErrInvalid},
		{"the slug is taken", "taken", "", "okta", 0, "", directory.ErrConflict},
		// The last step fails after the organization, its owner and its
		// token were written.
		{"the break-glass link cannot be written", "acme", "", "okta", 0,
			`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
			 CREATE TRIGGER refuse BEFORE INSERT ON breakglass_links FOR EACH ROW EXECUTE FUNCTION refuse()`, errRefused},
		{"the SCIM token cannot be written", "acme", "", "okta", 0,
			`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
			 CREATE TRIGGER refuse BEFORE INSERT ON scim_tokens FOR EACH ROW EXECUTE FUNCTION refuse()`, errRefused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.DB(t)
			if _, err := db.CreateOrganization(ctx, "taken", "Taken"); err != nil {
				t.Fatal(err)
			}
			if c.sabotage != "" {
				if _, err := db.Pool.Exec(ctx, c.sabotage); err != nil {
					t.Fatal(err)
				}
			}
			before := rowCounts(t, db)
			p, err := db.ProvisionOrganization(ctx, actor, c.slug, c.orgName, c.tokenName, c.ttl)
			if c.want != nil {
				sabotaged := c.want == errRefused && err != nil && strings.Contains(err.Error(), "refused")
				if !sabotaged && !errors.Is(err, c.want) {
					t.Fatalf("provisioned %+v, %v; want %v", p, err, c.want)
				}
				if p.SCIMSecret != "" || p.BreakGlassSecret != "" {
					t.Fatalf("a failed provisioning returned secrets: %+v", p)
				}
				if after := rowCounts(t, db); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Fatalf("a failed provisioning wrote rows:\nbefore %v\nafter  %v", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantName := c.orgName
			if wantName == "" {
				wantName = c.slug
			}
			if p.Org.Slug != c.slug || p.Org.Name != wantName || p.SCIMToken.Name != c.tokenName || p.SCIMToken.OrgID != p.Org.ID {
				t.Fatalf("provisioned %+v", p)
			}
			if o, tok, err := db.AuthenticateSCIM(ctx, c.slug, p.SCIMSecret); err != nil || o.ID != p.Org.ID || tok.ID != p.SCIMToken.ID {
				t.Fatalf("the SCIM token: %+v %+v %v", o, tok, err)
			}
			if _, _, err := db.AuthenticateSCIM(ctx, "taken", p.SCIMSecret); !errors.Is(err, directory.ErrUnauthorized) {
				t.Fatalf("the SCIM token works for another organization: %v", err)
			}
			if time.Until(p.BreakGlassExpires) > directory.BreakGlassLinkTTL || time.Until(p.BreakGlassExpires) < directory.BreakGlassLinkTTL-time.Minute {
				t.Fatalf("the break-glass link expires %v", p.BreakGlassExpires)
			}
			if _, owner, err := db.UseBreakGlassLink(ctx, c.slug, p.BreakGlassSecret, "test"); err != nil || owner.UserName != postgres.BreakGlassUserName {
				t.Fatalf("the break-glass link: %+v %v", owner, err)
			}
			evs, err := db.AuditEvents(ctx, p.Org.ID, "", "")
			if err != nil {
				t.Fatal(err)
			}
			var org []string
			for _, e := range evs {
				org = append(org, e.Actor+" "+e.Action)
			}
			want := "system:org-create org.create,operator-token:" + actor.Name + " scimtoken.create,operator-token:" + actor.Name + " breakglass.link,breakglass:break-glass-owner breakglass.login"
			if got := strings.Join(org, ","); got != want {
				t.Fatalf("the organization's trail:\n%s\nwant\n%s", got, want)
			}
			ops, err := db.OperatorAuditEvents(ctx, c.slug, 10)
			if err != nil || len(ops) != 1 || ops[0].Action != "org.create" || ops[0].Actor != actor.String() ||
				ops[0].OrganizationID != p.Org.ID || ops[0].After["scimToken"] != c.tokenName {
				t.Fatalf("the operator's trail: %+v, %v", ops, err)
			}
		})
	}
}

// errRefused is the failure a sabotage trigger raises.
var errRefused = errors.New("refused")

// rowCounts counts the rows of every table of the schema but goose's.
func rowCounts(t *testing.T, db *postgres.DB) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'goose_db_version'`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, n := range names {
		var k int64
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{n}.Sanitize()).Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[n] = k
	}
	return out
}
