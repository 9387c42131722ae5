package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

func init() {
	register(command{name: "migrate", summary: "Apply pending database migrations and exit.", flags: migrateFlags})
	register(command{name: "org create", args: "SLUG", summary: "Create an organization; prints its slug.", flags: orgCreateFlags})
	register(command{name: "org list", summary: "List organizations.", flags: orgListFlags})
	register(command{name: "token create", summary: "Create a SCIM bearer token for an organization; prints the token alone on stdout.\nThe token is shown once; only its SHA-256 digest is stored.", flags: tokenCreateFlags})
	register(command{name: "token list", summary: "List an organization's SCIM tokens (never the secrets).", flags: tokenListFlags})
	register(command{name: "token revoke", args: "NAME", summary: "Revoke an organization's live SCIM token by name.", flags: tokenRevokeFlags})
}

// withDatabase opens the store for one CLI command.
func withDatabase(ctx context.Context, e env, c *common, migrate bool, fn func(*database, *slog.Logger) error) error {
	log, err := c.logger(e)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, e, c, log, openOptions{maxConns: 4, migrate: migrate})
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	return fn(db, log)
}

func noArgs(name string, args []string) error {
	if len(args) > 0 {
		return usagef("%s: unexpected argument %q", name, args[0])
	}
	return nil
}

func oneArg(name, what string, args []string) (string, error) {
	if len(args) != 1 {
		return "", usagef("%s: want exactly one argument, %s", name, what)
	}
	return args[0], nil
}

func migrateFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "info")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("migrate", args); err != nil {
			return err
		}
		return withDatabase(ctx, e, c, true, func(db *database, log *slog.Logger) error {
			v, _ := postgres.LatestVersion()
			log.Info("database migrated", "version", v)
			return nil
		})
	}
}

func orgCreateFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "info")
	name := fs.String("name", "", "display name (default: the slug)")
	return func(ctx context.Context, args []string) error {
		slug, err := oneArg("org create", "the organization's slug", args)
		if err != nil {
			return err
		}
		if err := directory.ValidateSlug(slug); err != nil {
			return usagef("org create: %v", err)
		}
		return withDatabase(ctx, e, c, false, func(db *database, _ *slog.Logger) error {
			o, err := db.CreateOrganization(ctx, slug, *name)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, o.Slug)
			return nil
		})
	}
}

func orgListFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "info")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("org list", args); err != nil {
			return err
		}
		return withDatabase(ctx, e, c, false, func(db *database, _ *slog.Logger) error {
			orgs, err := db.Organizations(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SLUG\tNAME\tCREATED")
			for _, o := range orgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Slug, o.Name, o.CreatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		})
	}
}

func orgFlag(fs *flag.FlagSet) *string {
	return fs.String("org", "", "organization slug (SCIMBRIDGE_ORG)")
}

func requireOrg(cmd, org string) error {
	if org == "" {
		return usagef("%s: --org is required", cmd)
	}
	return nil
}

func tokenCreateFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "info")
	org := orgFlag(fs)
	name := fs.String("name", "", "token name, unique among live tokens (default: scim-YYYYMMDD-HHMMSS)")
	expires := fs.String("expires", "", "lifetime such as 90d or 12h, at most --max-token-ttl (default: 90d)")
	maxTTL := maxTokenTTLFlag(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("token create", args); err != nil {
			return err
		}
		if err := requireOrg("token create", *org); err != nil {
			return err
		}
		ttl, err := parseTTLFlag("expires", *expires)
		if err != nil {
			return err
		}
		if *name == "" {
			*name = "scim-" + time.Now().UTC().Format("20060102-150405")
		}
		if err := directory.ValidateTokenName(*name); err != nil {
			return usagef("--name: %v", err)
		}
		return withOrg(ctx, e, c, "token create", *org, func(db *database, o directory.Organization, log *slog.Logger) error {
			db.SetMaxTokenTTL(maxTTL.d)
			t, secret, err := db.CreateSCIMTokenBy(ctx, cliActor(), o.ID, *name, ttl)
			if err != nil {
				return err
			}
			log.Info("created SCIM token", "org", o.Slug, "name", t.Name)
			fmt.Fprintln(e.stdout, secret)
			return nil
		})
	}
}

func tokenListFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "info")
	org := orgFlag(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("token list", args); err != nil {
			return err
		}
		return withOrg(ctx, e, c, "token list", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			tokens, err := db.SCIMTokens(ctx, o.ID)
			if err != nil {
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tCREATED\tEXPIRES\tLAST USED")
			for _, t := range tokens {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Status(now), stamp(&t.CreatedAt), expiry(t.ExpiresAt), stamp(t.LastUsedAt))
			}
			return tw.Flush()
		})
	}
}

func tokenRevokeFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "info")
	org := orgFlag(fs)
	return func(ctx context.Context, args []string) error {
		name, err := oneArg("token revoke", "the token's name", args)
		if err != nil {
			return err
		}
		return withOrg(ctx, e, c, "token revoke", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			if _, err := db.RevokeSCIMTokenBy(ctx, cliActor(), o.ID, name); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "revoked SCIM token %q of %s\n", name, o.Slug)
			return nil
		})
	}
}

// expiry is stamp for an expiry: only tokens created before every token
// expired have none, and the list says so.
func expiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return stamp(t)
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
