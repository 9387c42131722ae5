package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/oidc"
)

func init() {
	register(command{name: "idp set", summary: "Set an organization's OpenID Provider for SSO login; discovery is checked before anything is saved.\nRegister {public-url}/auth/callback as the redirect URI at the IdP.", flags: idpSetFlags})
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// egressFlag is the operator's outbound policy (DESIGN §9): where the
// service's own requests (IdP discovery, JWKS, token and userinfo, outbound
// webhooks) may go.
func egressFlag(fs *flag.FlagSet) *egress.Policy {
	var p egress.Policy
	fs.BoolVar(&p.AllowPrivate, "allow-private-networks", false, "let outbound requests (IdP discovery, JWKS, token, userinfo, outbound webhooks) reach loopback, private and internal addresses, and plain http: for test and on-premises IdPs and receivers; link-local (cloud metadata) stays refused (SCIMBRIDGE_ALLOW_PRIVATE_NETWORKS)")
	return &p
}

func idpSetFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	outbound := egressFlag(fs)
	issuer := fs.String("issuer", "", "the OpenID Provider's issuer URL (https)")
	clientID := fs.String("client-id", "", "the client id registered at the IdP")
	secretFile := fs.String("client-secret-file", "", "file holding the client secret (kept sealed; empty keeps the stored one)")
	scopes := fs.String("scopes", "openid,email,profile", "scopes to ask for, comma-separated")
	jit := fs.String("jit", "scim-only", "who may sign in: scim-only (provisioned users), jit (create on first login), jit-with-domain (verified emails of --jit-domains)")
	domains := fs.String("jit-domains", "", "email domains for --jit jit-with-domain, comma-separated")
	oidClaim := fs.String("oid-claim", "", `claim holding the user's object id that SCIM sends as externalId ("oid" for Entra ID)`)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("idp set", args); err != nil {
			return err
		}
		if *issuer == "" || *clientID == "" {
			return usagef("idp set: --issuer and --client-id are required")
		}
		secret := ""
		if *secretFile != "" {
			b, err := os.ReadFile(*secretFile)
			if err != nil {
				return usagef("idp set --client-secret-file: %v", err)
			}
			secret = strings.TrimSpace(string(b))
		}
		return withOrg(ctx, e, c, "idp set", *org, func(db *database, o directory.Organization, log *slog.Logger) error {
			box, err := secretBox(e, c, db)
			if err != nil {
				return err
			}
			settings := oidc.Settings{Store: db.DB, Box: box, Egress: *outbound, Logger: log}
			s, err := settings.SaveIdPSettings(ctx, cliActor(), directory.IdPSettings{
				OrgID: o.ID, Issuer: *issuer, ClientID: *clientID, Scopes: splitList(*scopes), OIDClaim: *oidClaim,
				JIT: directory.JITPolicy{Mode: *jit, Domains: splitList(*domains)},
			}, secret)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "SSO for %s now signs in with %s (%s)\n", o.Slug, s.Issuer, s.JIT.Mode)
			return nil
		})
	}
}
