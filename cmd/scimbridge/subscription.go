package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/egress"
	"github.com/scimbridge/scimbridge/internal/postgres"
	"github.com/scimbridge/scimbridge/internal/webhooks"
)

func init() {
	register(command{name: "subscription create", summary: "Subscribe a URL to an organization's events (outbound webhooks); prints the signing secret alone on stdout.",
		flags: subscriptionCreateFlags})
	register(command{name: "subscription list", summary: "List an organization's webhook subscriptions (never the secrets).", flags: subscriptionListFlags})
	register(command{name: "subscription rotate", args: "ID", summary: "Give a webhook subscription a new signing secret; prints it alone on stdout.", flags: subscriptionRotateFlags})
	register(command{name: "subscription delete", args: "ID", summary: "Delete a webhook subscription and its delivery log.", flags: subscriptionDeleteFlags})
}

// withSubscriptions opens the store, resolves --org and gives the
// subscription manager, which needs the secret key to seal secrets.
func withSubscriptions(ctx context.Context, e env, c *common, cmd, slug string, p *egress.Policy, fn func(webhooks.Subscriptions, directory.Organization) error) error {
	return withOrg(ctx, e, c, cmd, slug, func(db *database, o directory.Organization, _ *slog.Logger) error {
		box, err := secretBox(e, c, db)
		if err != nil {
			return err
		}
		m := webhooks.Subscriptions{Store: db.DB, Box: box}
		if p != nil {
			m.Egress = *p
		}
		return fn(m, o)
	})
}

func subscriptionCreateFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	outbound := egressFlag(fs)
	url := fs.String("url", "", "the receiver's URL (https)")
	events := fs.String("events", "", "event types to send, comma-separated (user.created, or a family: user.*); empty sends every type")
	description := fs.String("description", "", "what the subscription is for")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("subscription create", args); err != nil {
			return err
		}
		if *url == "" {
			return usagef("subscription create: --url is required")
		}
		return withSubscriptions(ctx, e, c, "subscription create", *org, outbound, func(m webhooks.Subscriptions, o directory.Organization) error {
			s, secret, err := m.Create(ctx, cliActor(), o.ID, directory.SubscriptionInput{URL: *url, EventTypes: splitList(*events), Description: *description})
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, secret)
			fmt.Fprintf(e.stderr, "subscription %s sends %s events of %s to %s, signed with the secret above (shown this once)\n",
				s.ID, typesLabel(s.EventTypes), o.Slug, s.URL)
			return nil
		})
	}
}

func typesLabel(types []string) string {
	if len(types) == 0 {
		return "all"
	}
	return strings.Join(types, ",")
}

func subscriptionListFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("subscription list", args); err != nil {
			return err
		}
		return withSubscriptions(ctx, e, c, "subscription list", *org, nil, func(m webhooks.Subscriptions, o directory.Organization) error {
			list, err := m.List(ctx, o.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tURL\tEVENTS\tSTATE\tDESCRIPTION")
			for _, s := range list {
				state := "enabled"
				switch {
				case s.DisabledReason == directory.SubscriptionFailing:
					state = "disabled (failing)"
				case !s.Enabled:
					state = "disabled"
				case s.FailingSince != nil:
					state = "enabled (failing)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.ID, s.URL, typesLabel(s.EventTypes), state, orDash(s.Description))
			}
			return tw.Flush()
		})
	}
}

func subscriptionRotateFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	revoke := fs.Bool("revoke-previous", false, "stop signing with the previous secret at once (it leaked) instead of signing with both for 24 hours")
	return func(ctx context.Context, args []string) error {
		id, err := oneArg("subscription rotate", "the subscription's id", args)
		if err != nil {
			return err
		}
		return withSubscriptions(ctx, e, c, "subscription rotate", *org, nil, func(m webhooks.Subscriptions, o directory.Organization) error {
			_, secret, err := m.Rotate(ctx, cliActor(), o.ID, id, *revoke)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, secret)
			if *revoke {
				fmt.Fprintln(e.stderr, "deliveries are signed with the new secret only")
			} else {
				fmt.Fprintf(e.stderr, "deliveries are signed with both the new and the previous secret for %s (two v1 values), then with the new one only\n", postgres.SubscriptionOverlap)
			}
			return nil
		})
	}
}

func subscriptionDeleteFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	return func(ctx context.Context, args []string) error {
		id, err := oneArg("subscription delete", "the subscription's id", args)
		if err != nil {
			return err
		}
		return withSubscriptions(ctx, e, c, "subscription delete", *org, nil, func(m webhooks.Subscriptions, o directory.Organization) error {
			if err := m.Delete(ctx, cliActor(), o.ID, id); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "subscription %s deleted\n", id)
			return nil
		})
	}
}
