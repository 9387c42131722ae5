package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/hooks"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

func init() {
	register(command{name: "sa create", args: "NAME", summary: "Create a CI/robot service account (no IdP manages it; it authenticates with API tokens).", flags: saCreateFlags})
	register(command{name: "sa list", summary: "List an organization's service accounts.", flags: saListFlags})
	register(command{name: "sa disable", args: "NAME", summary: "Disable a service account: its tokens stop working.", flags: saToggleFlags(false)})
	register(command{name: "sa enable", args: "NAME", summary: "Enable a disabled service account.", flags: saToggleFlags(true)})
	register(command{name: "sa delete", args: "NAME", summary: "Delete a service account (the audit trail and past attribution keep its name).", flags: saDeleteFlags})
	register(command{name: "git map", summary: "Map a Git identity to one user or service account.", flags: gitMapFlags})
	register(command{name: "git unmap", summary: "Release a Git identity's mapping.", flags: gitUnmapFlags})
	register(command{name: "git list", summary: "List recently seen Git identities, unmapped first.", flags: gitListFlags})
}

func saCreateFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	desc := fs.String("description", "", "what the account is for")
	owner := fs.String("owner", "", "the person responsible for it (userName, email or id)")
	return func(ctx context.Context, args []string) error {
		name, err := oneArg("sa create", "the account's name", args)
		if err != nil {
			return err
		}
		return withOrg(ctx, e, c, "sa create", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			ownerID := ""
			if *owner != "" {
				u, err := db.FindMember(ctx, o.ID, *owner)
				if err != nil {
					return err
				}
				ownerID = u.ID
			}
			sa, err := db.CreateServiceAccount(ctx, cliActor(), o.ID, name, *desc, ownerID)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, sa.ID)
			return nil
		})
	}
}

func saListFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("sa list", args); err != nil {
			return err
		}
		return withOrg(ctx, e, c, "sa list", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			list, err := db.ServiceAccounts(ctx, o.ID)
			if err != nil {
				return err
			}
			// The owner by current userName (the attribute keeps the id;
			// the name it was given may have changed since).
			var ownerIDs []string
			for _, sa := range list {
				if o, _ := sa.Attributes["owner"].(map[string]any); o != nil {
					if id, _ := o["value"].(string); id != "" {
						ownerIDs = append(ownerIDs, id)
					}
				}
			}
			owners := map[string]string{}
			if len(ownerIDs) > 0 {
				if owners, err = db.UserNames(ctx, o.ID, ownerIDs); err != nil {
					return err
				}
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATUS\tOWNER\tDESCRIPTION\tID")
			for _, sa := range list {
				d, _ := sa.Attributes["description"].(string)
				owner := ""
				if o, _ := sa.Attributes["owner"].(map[string]any); o != nil {
					id, _ := o["value"].(string)
					owner = owners[id]
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", sa.UserName, sa.Status(), orDash(owner), orDash(d), sa.ID)
			}
			return tw.Flush()
		})
	}
}

func saToggleFlags(enable bool) func(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	return func(fs *flag.FlagSet, e env) func(context.Context, []string) error {
		c := commonFlags(fs, "warn")
		org := orgFlag(fs)
		return func(ctx context.Context, args []string) error {
			name, err := oneArg("sa", "the account's name", args)
			if err != nil {
				return err
			}
			return withOrg(ctx, e, c, "sa", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
				_, err := db.SetServiceAccountEnabled(ctx, cliActor(), o.ID, name, enable)
				return err
			})
		}
	}
}

func saDeleteFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	return func(ctx context.Context, args []string) error {
		name, err := oneArg("sa delete", "the account's name", args)
		if err != nil {
			return err
		}
		return withOrg(ctx, e, c, "sa delete", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			return db.DeleteServiceAccount(ctx, cliActor(), o.ID, name)
		})
	}
}

type gitIdentityFlags struct{ org, email, login, provider *string }

func identityFlags(fs *flag.FlagSet) gitIdentityFlags {
	return gitIdentityFlags{
		org:      orgFlag(fs),
		email:    fs.String("email", "", "the identity's email as seen on commits"),
		login:    fs.String("login", "", "the identity's login at the Git host (when it has one)"),
		provider: fs.String("provider", directory.GitProviderGitHub, "the Git host: github or gitlab"),
	}
}

func (g gitIdentityFlags) find(ctx context.Context, cmd string, db *database, o directory.Organization) (directory.GitIdentity, error) {
	if *g.email == "" && *g.login == "" {
		return directory.GitIdentity{}, usagef("%s: --email or --login is required", cmd)
	}
	return db.FindGitIdentity(ctx, o.ID, *g.provider, *g.email, *g.login)
}

func gitMapFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	g := identityFlags(fs)
	to := fs.String("to", "", "the user or service account: userName, email or id")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("git map", args); err != nil {
			return err
		}
		if *to == "" {
			return usagef("git map: --to is required")
		}
		return withOrg(ctx, e, c, "git map", *g.org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			id, err := g.find(ctx, "git map", db, o)
			if err != nil {
				return err
			}
			u, err := db.FindMember(ctx, o.ID, *to)
			if err != nil {
				return err
			}
			_, err = db.MapGitIdentity(ctx, cliActor(), o.ID, id.ID, u.ID)
			if err == nil {
				fmt.Fprintf(e.stderr, "mapped %s to %s\n", describeIdentity(id), u.UserName)
			}
			return err
		})
	}
}

func gitUnmapFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	g := identityFlags(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("git unmap", args); err != nil {
			return err
		}
		return withOrg(ctx, e, c, "git unmap", *g.org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			id, err := g.find(ctx, "git unmap", db, o)
			if err != nil {
				return err
			}
			return db.UnmapGitIdentity(ctx, cliActor(), o.ID, id.ID)
		})
	}
}

func describeIdentity(g directory.GitIdentity) string {
	s := g.Provider + " " + g.Email
	if g.Login != "" {
		s += " (" + g.Login + ")"
	}
	return s
}

func gitListFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	days := fs.Int("days", 90, "only identities seen within this many days")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("git list", args); err != nil {
			return err
		}
		return withOrg(ctx, e, c, "git list", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			list, _, err := db.GitIdentities(ctx, o.ID, postgres.GitIdentityQuery{Since: time.Now().AddDate(0, 0, -*days), UnmappedFirst: true, Limit: 500})
			if err != nil {
				return err
			}
			ids := make([]string, 0, len(list))
			for _, g := range list {
				if g.UserID != "" {
					ids = append(ids, g.UserID)
				}
			}
			names, _ := db.UserNames(ctx, o.ID, ids) // a missing name prints "-"
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROVIDER\tEMAIL\tLOGIN\tNAME\tCOMMITS\tLAST SEEN\tMAPPED TO")
			for _, g := range list {
				to := orDash(names[g.UserID])
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", g.Provider, orDash(g.Email), orDash(g.Login), orDash(g.Name), g.Commits, g.LastSeen.UTC().Format(time.RFC3339), to)
			}
			return tw.Flush()
		})
	}
}

func init() {
	register(command{name: "webhook secret", summary: "Set a new push-webhook secret for github or gitlab; prints it alone on stdout (configure it at the Git host).", flags: webhookSecretFlags})
}

func webhookSecretFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	provider := fs.String("provider", "", "github or gitlab")
	revoke := fs.Bool("revoke-previous", false, "stop the previous secret at once (it leaked) instead of letting it verify for 24 hours")
	publicURL := fs.String("public-url", "http://127.0.0.1:8080", "the base URL serve is reached at, to print the webhook's URL (SCIMBRIDGE_PUBLIC_URL)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("webhook secret", args); err != nil {
			return err
		}
		if *provider != directory.GitProviderGitHub && *provider != directory.GitProviderGitLab {
			return usagef("webhook secret: --provider must be github or gitlab")
		}
		if u, err := url.Parse(*publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("webhook secret --public-url %q: want an absolute http(s) URL", *publicURL)
		}
		return withOrg(ctx, e, c, "webhook secret", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			box, err := secretBox(e, c, db)
			if err != nil {
				return err
			}
			secret := directory.NewSecret("scb_whk_")
			if err := db.SetWebhookSecret(ctx, cliActor(), o.ID, *provider, box.Seal([]byte(secret), hooks.SecretContext(o.ID, *provider)), *revoke); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, secret)
			hook := strings.TrimRight(*publicURL, "/") + "/hooks/" + o.Slug + "/" + *provider
			if *provider == directory.GitProviderGitHub {
				fmt.Fprintf(e.stderr, "at GitHub (Settings → Webhooks): Payload URL %s, Content type application/json (the default form type works too), Secret: the line on stdout, events: Just the push event\n", hook)
			} else {
				fmt.Fprintf(e.stderr, "at GitLab (Settings → Webhooks): URL %s, Secret token: the line on stdout, trigger: Push events and Tag push events\n", hook)
			}
			if *revoke {
				fmt.Fprintf(e.stderr, "the previous %s secret no longer verifies deliveries\n", *provider)
			} else {
				fmt.Fprintf(e.stderr, "the previous %s secret, if any, keeps verifying deliveries for %s (or until the Git host uses the new one and you rotate again)\n", *provider, postgres.WebhookOverlap)
			}
			return nil
		})
	}
}
