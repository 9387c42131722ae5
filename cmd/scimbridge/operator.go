package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

func init() {
	register(command{name: "operator-token create", summary: "Create an operator token, the platform's credential for /api/v1/orgs (create, list, rename and delete organizations); prints it alone on stdout.\nThe token is shown once; only its SHA-256 digest is stored. It belongs to no organization and works on no organization's routes.", flags: operatorTokenCreateFlags})
	register(command{name: "operator-token list", summary: "List the operator tokens (never the secrets).", flags: operatorTokenListFlags})
	register(command{name: "operator-token revoke", args: "ID|NAME", summary: "Revoke a live operator token by id (as operator-token list shows it) or name.", flags: operatorTokenRevokeFlags})
}

func operatorTokenCreateFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	name := fs.String("name", "", "token name, unique among live operator tokens (default: operator-YYYYMMDD-HHMMSS)")
	var ttl string
	fs.StringVar(&ttl, "ttl", "", "lifetime such as 90d or 12h, at most --max-token-ttl (default: 90d)")
	fs.StringVar(&ttl, "expires", "", "the same as --ttl, as token create spells it")
	maxTTL := maxTokenTTLFlag(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("operator-token create", args); err != nil {
			return err
		}
		d, err := parseTTLFlag("ttl", ttl)
		if err != nil {
			return err
		}
		if *name == "" {
			*name = "operator-" + time.Now().UTC().Format("20060102-150405")
		}
		if err := directory.ValidateTokenName(*name); err != nil {
			return usagef("--name: %v", err)
		}
		return withDatabase(ctx, e, c, false, func(db *database, _ *slog.Logger) error {
			db.SetMaxTokenTTL(maxTTL.d)
			t, secret, err := db.CreateOperatorToken(ctx, cliActor(), *name, d)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, secret)
			fmt.Fprintf(e.stderr, "created operator token %q (id %s), expires %s\n", t.Name, t.ID, stamp(&t.ExpiresAt))
			return nil
		})
	}
}

func operatorTokenListFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("operator-token list", args); err != nil {
			return err
		}
		return withDatabase(ctx, e, c, false, func(db *database, _ *slog.Logger) error {
			tokens, err := db.OperatorTokens(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tCREATED\tEXPIRES\tLAST USED\tCREATED BY")
			for _, t := range tokens {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Status(now), stamp(&t.CreatedAt), stamp(&t.ExpiresAt), stamp(t.LastUsedAt), t.CreatedBy)
			}
			return tw.Flush()
		})
	}
}

func operatorTokenRevokeFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	return func(ctx context.Context, args []string) error {
		which, err := oneArg("operator-token revoke", "the token's id or name", args)
		if err != nil {
			return err
		}
		return withDatabase(ctx, e, c, false, func(db *database, _ *slog.Logger) error {
			t, err := db.RevokeOperatorToken(ctx, cliActor(), which)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "revoked operator token %q (id %s)\n", t.Name, t.ID)
			return nil
		})
	}
}
