package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/oidc"
)

func init() {
	register(command{name: "idp set", summary: "Set or update an organization's OpenID Provider for SSO login (flags not given keep their stored value); discovery is checked before anything is saved.\nRegister {public-url}/auth/callback as the redirect URI at the IdP.", flags: idpSetFlags})
	register(command{name: "idp show", summary: "Show an organization's OpenID Provider settings (never the client secret) and the redirect URI to register.", flags: idpShowFlags})
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
	scopes := fs.String("scopes", "", "scopes to ask for, comma-separated (default openid,email,profile, and groups when the IdP's discovery lists it)")
	jit := fs.String("jit", "scim-only", "who may sign in: scim-only (provisioned users), jit (create on first login), jit-with-domain (verified emails of --jit-domains)")
	domains := fs.String("jit-domains", "", "email domains for --jit jit-with-domain, comma-separated")
	oidClaim := fs.String("oid-claim", "", `claim holding the user's object id that SCIM sends as externalId ("oid" for Entra ID)`)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("idp set", args); err != nil {
			return err
		}
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
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
			// An update: what is not given stays as stored, so that one
			// setting changes without re-typing the others.
			set, err := db.IdPSettings(ctx, o.ID)
			switch {
			case errors.Is(err, directory.ErrNotFound):
				if *issuer == "" || *clientID == "" {
					return usagef("idp set: %s has no identity provider yet: --issuer and --client-id are required", o.Slug)
				}
				set = directory.IdPSettings{JIT: directory.JITPolicy{Mode: directory.JITSCIMOnly}}
			case err != nil:
				return err
			}
			set.OrgID = o.ID
			if given["issuer"] {
				set.Issuer = *issuer
			}
			if given["client-id"] {
				set.ClientID = *clientID
			}
			if given["scopes"] {
				set.Scopes = splitList(*scopes)
			}
			if given["jit"] {
				set.JIT.Mode = *jit
			}
			if given["jit-domains"] {
				set.JIT.Domains = splitList(*domains)
			}
			if given["oid-claim"] {
				set.OIDClaim = *oidClaim
			}
			settings := oidc.Settings{Store: db.DB, Box: box, Egress: *outbound, Logger: log}
			s, err := settings.SaveIdPSettings(ctx, cliActor(), set, secret)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "SSO for %s now signs in with %s (%s), scopes %s\n", o.Slug, s.Issuer, s.JIT.Mode, strings.Join(s.Scopes, ","))
			return nil
		})
	}
}

func idpShowFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	publicURL := fs.String("public-url", "http://127.0.0.1:8080", "the base URL serve is reached at, to print the redirect URI (SCIMBRIDGE_PUBLIC_URL)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("idp show", args); err != nil {
			return err
		}
		return withOrg(ctx, e, c, "idp show", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			s, err := db.IdPSettings(ctx, o.ID)
			if errors.Is(err, directory.ErrNotFound) {
				return fmt.Errorf("%s has no identity provider set: run scimbridge idp set --org %s --issuer … --client-id …", o.Slug, o.Slug)
			}
			if err != nil {
				return err
			}
			secret := "not set"
			if len(s.ClientSecretSealed) > 0 {
				secret = "set (sealed; never shown)"
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			for _, row := range [][2]string{
				{"issuer", s.Issuer},
				{"client id", s.ClientID},
				{"client secret", secret},
				{"scopes", strings.Join(s.Scopes, ",")},
				{"email claim", s.EmailClaim},
				{"name claim", s.NameClaim},
				{"groups claim", s.GroupsClaim},
				{"oid claim", s.OIDClaim},
				{"jit", s.JIT.Mode},
				{"jit domains", strings.Join(s.JIT.Domains, ",")},
				{"redirect uri", strings.TrimRight(*publicURL, "/") + "/auth/callback"},
				{"updated", s.UpdatedAt.UTC().Format(time.RFC3339)},
			} {
				fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
			}
			return tw.Flush()
		})
	}
}
