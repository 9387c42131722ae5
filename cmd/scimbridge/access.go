package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/mail"
	"github.com/scimbridge/scimbridge/internal/postgres"
)

func init() {
	register(command{name: "grant", summary: "Give one user a role directly: on a workspace, or org-admin on the organization.", flags: grantFlags})
	register(command{name: "revoke", summary: "Take back a direct grant given with grant.", flags: revokeFlags})
	register(command{name: "mapping add", summary: "Map an IdP group to a role (an SSO mapping), by the group's displayName, externalId or SCIM id.", flags: mappingAddFlags})
	register(command{name: "mapping list", summary: "List an organization's SSO mappings.", flags: mappingListFlags})
	register(command{name: "mapping remove", args: "ID", summary: "Remove an SSO mapping by id.", flags: mappingRemoveFlags})
	register(command{name: "workspace create", args: "NAME", summary: "Create a workspace; --target cluster/namespace, repeatable.", flags: workspaceCreateFlags})
	register(command{name: "workspace list", summary: "List an organization's workspaces and their targets.", flags: workspaceListFlags})
	register(command{name: "user list", summary: "List an organization's users with their source and status, pending invitations first (status invited).", flags: userListFlags})
	register(command{name: "user show", args: "USER", summary: "Show one user (id, userName or email) and its effective permissions.", flags: userShowFlags})
	register(command{name: "apitoken create", summary: "Create an admin API token owned by a user; prints the token alone on stdout.", flags: apitokenCreateFlags})
}

// cliActor is who the audit trail names for CLI changes.
func cliActor() directory.Actor { return directory.Actor{Kind: "cli", Name: "operator"} }

// withOrg opens the store and resolves --org.
func withOrg(ctx context.Context, e env, c *common, cmd, slug string, fn func(*database, directory.Organization, *slog.Logger) error) error {
	if err := requireOrg(cmd, slug); err != nil {
		return err
	}
	return withDatabase(ctx, e, c, false, func(db *database, log *slog.Logger) error {
		o, err := db.Organization(ctx, slug)
		if err != nil {
			return err
		}
		return fn(db, o, log)
	})
}

type grantArgs struct {
	org, user, role, workspace *string
}

func grantFlagSet(fs *flag.FlagSet) grantArgs {
	return grantArgs{
		org:       orgFlag(fs),
		user:      fs.String("user", "", "the user: id, userName or email"),
		role:      fs.String("role", "", "viewer, runner, editor, workspace-admin or org-admin"),
		workspace: fs.String("workspace", "", "workspace name or id (not for org-admin)"),
	}
}

// binding builds the direct binding the flags describe.
func (g grantArgs) binding(ctx context.Context, cmd string, db *database, o directory.Organization) (directory.Binding, error) {
	role, err := directory.ParseRole(*g.role)
	if err != nil {
		return directory.Binding{}, usagef("%s --role: %v", cmd, err)
	}
	u, err := db.FindMember(ctx, o.ID, *g.user)
	if err != nil {
		return directory.Binding{}, err
	}
	b := directory.Binding{OrgID: o.ID, Role: role, UserID: u.ID}
	if *g.workspace != "" {
		w, err := db.Workspace(ctx, o.ID, *g.workspace)
		if err != nil {
			return b, err
		}
		b.WorkspaceID = w.ID
	}
	return b, b.Validate()
}

func grantFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	g := grantFlagSet(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("grant", args); err != nil {
			return err
		}
		if *g.user == "" || *g.role == "" {
			return usagef("grant: --user and --role are required")
		}
		return withOrg(ctx, e, c, "grant", *g.org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			b, err := g.binding(ctx, "grant", db, o)
			if err != nil {
				return err
			}
			b, err = db.CreateBinding(ctx, cliActor(), b)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, b.ID)
			return nil
		})
	}
}

func revokeFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	g := grantFlagSet(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("revoke", args); err != nil {
			return err
		}
		if *g.user == "" || *g.role == "" {
			return usagef("revoke: --user and --role are required")
		}
		return withOrg(ctx, e, c, "revoke", *g.org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			want, err := g.binding(ctx, "revoke", db, o)
			if err != nil {
				return err
			}
			all, err := db.Bindings(ctx, o.ID, postgres.BindingFilter{UserID: want.UserID})
			if err != nil {
				return err
			}
			for _, b := range all {
				if b.Role == want.Role && b.WorkspaceID == want.WorkspaceID {
					if err := db.DeleteBinding(ctx, cliActor(), o.ID, b.ID, false); err != nil {
						return err
					}
					fmt.Fprintf(e.stderr, "revoked %s from %s\n", b.Role, *g.user)
					return nil
				}
			}
			return directory.NotFoundf("%s has no direct %s grant there", *g.user, want.Role)
		})
	}
}

func mappingAddFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	group := fs.String("group", "", "the IdP group, as its --match attribute")
	match := fs.String("match", "displayName", "how --group names the group: displayName, externalId or id")
	role := fs.String("role", "", "viewer, runner, editor, workspace-admin or org-admin")
	ws := fs.String("workspace", "", "workspace name or id (not for org-admin)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("mapping add", args); err != nil {
			return err
		}
		r, err := directory.ParseRole(*role)
		if err != nil {
			return usagef("mapping add --role: %v", err)
		}
		if *group == "" {
			return usagef("mapping add: --group is required")
		}
		return withOrg(ctx, e, c, "mapping add", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			b := directory.Binding{OrgID: o.ID, Role: r, GroupMatch: directory.GroupMatch(*match), GroupValue: *group}
			if *ws != "" {
				w, err := db.Workspace(ctx, o.ID, *ws)
				if err != nil {
					return err
				}
				b.WorkspaceID = w.ID
			}
			b, err := db.CreateBinding(ctx, cliActor(), b)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, b.ID)
			return nil
		})
	}
}

func mappingListFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("mapping list", args); err != nil {
			return err
		}
		return withOrg(ctx, e, c, "mapping list", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			bs, err := db.Bindings(ctx, o.ID, postgres.BindingFilter{Groups: true})
			if err != nil {
				return err
			}
			names, err := workspaceNames(ctx, db, o.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tGROUP\tROLE\tWORKSPACE")
			for _, b := range bs {
				fmt.Fprintf(tw, "%s\t%s=%s\t%s\t%s\n", b.ID, b.GroupMatch, b.GroupValue, b.Role, orDash(names[b.WorkspaceID]))
			}
			return tw.Flush()
		})
	}
}

func mappingRemoveFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	return func(ctx context.Context, args []string) error {
		id, err := oneArg("mapping remove", "the mapping's id", args)
		if err != nil {
			return err
		}
		return withOrg(ctx, e, c, "mapping remove", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			err := db.DeleteBinding(ctx, cliActor(), o.ID, id, true)
			if errors.Is(err, directory.ErrNotFound) {
				return directory.NotFoundf("no SSO mapping %q", id)
			}
			return err
		})
	}
}

// targetsFlag collects repeated --target cluster/namespace values.
type targetsFlag []directory.Target

func (t *targetsFlag) String() string { return fmt.Sprint(*t) }
func (t *targetsFlag) Set(v string) error {
	c, n, ok := strings.Cut(v, "/")
	if !ok || c == "" || n == "" {
		return errors.New("want cluster/namespace")
	}
	*t = append(*t, directory.Target{Cluster: c, Namespace: n})
	return nil
}

func workspaceCreateFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	var targets targetsFlag
	fs.Var(&targets, "target", "a cluster/namespace pair of the workspace (repeatable)")
	return func(ctx context.Context, args []string) error {
		name, err := oneArg("workspace create", "the workspace's name", args)
		if err != nil {
			return err
		}
		return withOrg(ctx, e, c, "workspace create", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			w, err := db.CreateWorkspace(ctx, cliActor(), o.ID, name, targets)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, w.ID)
			return nil
		})
	}
}

func workspaceNames(ctx context.Context, db *database, orgID string) (map[string]string, error) {
	ws, err := db.Workspaces(ctx, orgID)
	names := map[string]string{}
	for _, w := range ws {
		names[w.ID] = w.Name
	}
	return names, err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func workspaceListFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("workspace list", args); err != nil {
			return err
		}
		return withOrg(ctx, e, c, "workspace list", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			ws, err := db.Workspaces(ctx, o.ID)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tID\tTARGETS")
			for _, w := range ws {
				var ts []string
				for _, t := range w.Targets {
					ts = append(ts, t.Cluster+"/"+t.Namespace)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", w.Name, w.ID, orDash(strings.Join(ts, ",")))
			}
			return tw.Flush()
		})
	}
}

func userListFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	search := fs.String("search", "", "only users whose userName, displayName or email contains this")
	status := fs.String("status", "", "only users of this status: invited, active, deactivated or removed")
	source := fs.String("source", "", "only users of this source: scim, invitation, jit, service or breakglass")
	limit := fs.Int("limit", 100, "at most this many users (1-500)")
	return func(ctx context.Context, args []string) error {
		if err := noArgs("user list", args); err != nil {
			return err
		}
		if *limit < 1 || *limit > 500 {
			return usagef("user list --limit %d: want 1-500", *limit)
		}
		return withOrg(ctx, e, c, "user list", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			users, total, err := db.Listing(ctx, o.ID, postgres.MemberQuery{Search: *search, Status: *status, Source: *source, Limit: *limit})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tDISPLAY NAME\tSOURCE\tSTATUS\tID")
			for _, l := range users {
				id := l.User.ID
				if l.Invitation != nil {
					id = "invitation " + l.Invitation.ID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.User.UserName, orDash(l.User.DisplayName), l.User.Source, l.Status(), id)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if total > len(users) {
				fmt.Fprintf(e.stderr, "%d of %d users shown\n", len(users), total)
			}
			return nil
		})
	}
}

func userShowFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	return func(ctx context.Context, args []string) error {
		ref, err := oneArg("user show", "the user's id, userName or email", args)
		if err != nil {
			return err
		}
		return withOrg(ctx, e, c, "user show", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			u, err := db.FindMember(ctx, o.ID, ref)
			if err != nil {
				return err
			}
			acc, err := db.Access(ctx, o.ID, u.ID)
			if err != nil {
				return err
			}
			names, err := workspaceNames(ctx, db, o.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "id:          %s\nuserName:    %s\ndisplayName: %s\nsource:      %s\nstatus:      %s\nemails:      %s\n",
				u.ID, u.UserName, orDash(u.DisplayName), u.Source, u.Status(), orDash(strings.Join(u.Emails, ", ")))
			for _, g := range u.Groups {
				fmt.Fprintf(e.stdout, "group:       %s\n", g.DisplayName)
			}
			for _, g := range acc.OrgAdmin {
				fmt.Fprintf(e.stdout, "permission:  org-admin %s\n", g.Via)
			}
			for _, w := range acc.Workspaces {
				for _, g := range w.Grants {
					fmt.Fprintf(e.stdout, "permission:  %s on %s %s\n", g.Role, names[w.WorkspaceID], g.Via)
				}
			}
			return nil
		})
	}
}

func apitokenCreateFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	owner := fs.String("owner", "", "the token's owner: userName, email or id of a user or service account")
	name := fs.String("name", "", "token name, unique among live tokens (default: api-YYYYMMDD-HHMMSS)")
	expires := fs.String("expires", "", "lifetime such as 90d or 12h, at most --max-token-ttl (default: 90d)")
	maxTTL := maxTokenTTLFlag(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("apitoken create", args); err != nil {
			return err
		}
		if *owner == "" {
			return usagef("apitoken create: --owner is required")
		}
		ttl, err := parseTTLFlag("expires", *expires)
		if err != nil {
			return err
		}
		if *name == "" {
			*name = "api-" + time.Now().UTC().Format("20060102-150405")
		}
		return withOrg(ctx, e, c, "apitoken create", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			u, err := db.FindMember(ctx, o.ID, *owner)
			if err != nil {
				return err
			}
			// The operator, who holds the database, may mint for anyone,
			// the break-glass owner included (the bootstrap of the first
			// API token); the admin API's owner rule does not bind the CLI.
			// The expiry policy does, and the audit names cli:operator.
			db.SetMaxTokenTTL(maxTTL.d)
			_, secret, err := db.CreateAPIToken(ctx, cliActor(), o.ID, u.ID, *name, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, secret)
			return nil
		})
	}
}

func init() {
	register(command{name: "invite", args: "EMAIL", summary: "Invite an address to join the organization; the mail goes out through the outbox of a running serve.", flags: inviteFlags})
}

func inviteFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	role := fs.String("role", "", "an initial role for the new member (optional)")
	ws := fs.String("workspace", "", "the workspace of --role (not for org-admin)")
	anyEmail := fs.Bool("any-email", false, "accept a login with any verified email, not only EMAIL")
	expires := fs.String("expires", "7d", "how long the invitation is valid")
	return func(ctx context.Context, args []string) error {
		email, err := oneArg("invite", "the address to invite", args)
		if err != nil {
			return err
		}
		ttl, err := parseTTLFlag("expires", *expires)
		if err != nil {
			return err
		}
		return withOrg(ctx, e, c, "invite", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			var grants []directory.Binding
			if *role != "" {
				r, err := directory.ParseRole(*role)
				if err != nil {
					return usagef("invite --role: %v", err)
				}
				b := directory.Binding{OrgID: o.ID, Role: r}
				if *ws != "" {
					w, err := db.Workspace(ctx, o.ID, *ws)
					if err != nil {
						return err
					}
					b.WorkspaceID = w.ID
				}
				grants = append(grants, b)
			}
			inv, err := db.CreateInvitation(ctx, cliActor(), o.ID, email, *anyEmail, grants, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, inv.ID)
			fmt.Fprintf(e.stderr, "invited %s until %s; a running serve mails the join link, or, with no --smtp-url, prints it with:\n  scimbridge invite link --org %s %s\n",
				inv.Email, inv.ExpiresAt.UTC().Format(time.RFC3339), o.Slug, inv.ID)
			return nil
		})
	}
}

func init() {
	register(command{name: "invite link", args: "INVITATION-ID|EMAIL", summary: "Print a join link for a pending invitation, alone on stdout: the way to hand it out when serve sends no mail (no --smtp-url).\nThe link replaces the invitation's earlier links and any mail of it still queued; it works once, until the invitation expires, and is audited.", flags: inviteLinkFlags})
}

func inviteLinkFlags(fs *flag.FlagSet, e env) func(context.Context, []string) error {
	c := commonFlags(fs, "warn")
	org := orgFlag(fs)
	publicURL := fs.String("public-url", "http://127.0.0.1:8080", "the base URL serve is reached at (SCIMBRIDGE_PUBLIC_URL)")
	return func(ctx context.Context, args []string) error {
		which, err := oneArg("invite link", "the invitation's id or address", args)
		if err != nil {
			return err
		}
		u, err := url.Parse(*publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("invite link --public-url %q: want an absolute http(s) URL", *publicURL)
		}
		return withOrg(ctx, e, c, "invite link", *org, func(db *database, o directory.Organization, _ *slog.Logger) error {
			inv, secret, err := db.InvitationLink(ctx, cliActor(), o.ID, which)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, mail.JoinLink(*publicURL, secret))
			fmt.Fprintf(e.stderr, "the join link of %s works once, until %s; earlier links of this invitation no longer work\n",
				inv.Email, inv.ExpiresAt.UTC().Format(time.RFC3339))
			return nil
		})
	}
}
