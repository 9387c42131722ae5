package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
)

func init() {
	register(command{name: "breakglass", summary: "Print a one-time login link for the organization's break-glass owner, alone on stdout: the way in without the IdP.\nThe link works once, for 15 minutes, signs in for one hour, and is audited.", flags: breakGlassFlags})
}

func breakGlassFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	publicURL := fs.String("public-url", "http://127.0.0.1:8080", "the base URL serve is reached at (SCIMBRIDGE_PUBLIC_URL)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("breakglass", args); err != nil {
			return err
		}
		u, err := url.Parse(*publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("breakglass --public-url %q: want an absolute http(s) URL", *publicURL)
		}
		return withOrg(ctx, e, c, "breakglass", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			secret, expires, err := db.CreateBreakGlassLink(ctx, cliActor(), o.ID)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, directory.BreakGlassURL(*publicURL, o.Slug, secret))
			fmt.Fprintf(e.stderr, "the link works once, until %s\n", expires.UTC().Format(time.RFC3339))
			return nil
		})
	}
}
