package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/resource"
)

// LinkLogin resolves a verified OpenID Connect login to a user of the
// organization, in this order:
//
//  1. an existing link (issuer, subject);
//  2. the SCIM user whose externalId equals the oid claim (Entra ID sends
//     its object id as both);
//  3. the one user whose userName or email equals the login's email,
//     ASCII case aside (directory.FoldASCII: the Kelvin sign is not k),
//     when the IdP says the email is verified;
//  4. a new user (source "jit") when policy allows it.
//
// A new link is stored with an audit event in the same transaction, and
// linked reports it. A deactivated or removed user, a service account,
// the break-glass owner, and an unknown person under scim-only get
// ErrForbidden with a message fit for the person signing in.
func (db *DB) LinkLogin(ctx context.Context, orgID string, c directory.LoginClaims, policy directory.JITPolicy) (directory.User, bool, error) {
	if c.Issuer == "" || c.Subject == "" {
		return directory.User{}, false, directory.Invalidf("the login has no issuer or subject")
	}
	c.Email = directory.NormalizeEmail(c.Email)
	actor := directory.Actor{Kind: "oidc", Name: c.Issuer + "#" + c.Subject}
	var (
		out    directory.User
		linked bool
	)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// The groups of the sign-in may change the user's roles: the
		// access lock comes before any row lock.
		if err := lockAccess(ctx, tx, orgID, false); err != nil {
			return err
		}
		// signedIn records the sign-in's groups and its events.
		var evs []pendingEvent
		signedIn := func(u directory.User, how string) error {
			roles, err := trackLoginGroups(ctx, tx, u, c.Groups)
			if err != nil {
				return err
			}
			if err := setLoginGroups(ctx, tx, u, c.Groups); err != nil {
				return err
			}
			more, err := roles.events(ctx, tx)
			if err != nil {
				return err
			}
			evs = append(evs, more...)
			if db.ssoLoginEvents {
				evs = append(evs, loginEvent(u, c.Issuer, how))
			}
			return appendEvents(ctx, tx, orgID, actor, evs)
		}
		u, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM user_links l JOIN users u ON u.org_id = l.org_id AND u.id = l.user_id
			WHERE l.org_id = $1 AND l.issuer = $2 AND l.subject = $3`, orgID, c.Issuer, c.Subject))
		switch {
		case err == nil:
			out = u
			if err := mayLogIn(u); err != nil {
				return err
			}
			return signedIn(u, "link")
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		how := ""
		var found []directory.User
		if c.OID != "" {
			if found, err = usersWhere(ctx, tx, `u.org_id = $1 AND u.external_id = $2 AND u.source = 'scim'`, orgID, c.OID); err != nil {
				return err
			}
			how = "oid"
		}
		if len(found) == 0 && c.Email != "" && c.EmailVerified {
			// Only a verified email may claim an account: otherwise whoever
			// can set an unverified address at the IdP could take over the
			// user that owns it.
			if found, err = usersWhere(ctx, tx, `u.org_id = $1 AND (ascii_lower(u.user_name) = $2 OR u.emails @> ARRAY[$2])`, orgID, c.Email); err != nil {
				return err
			}
			how = "email"
			// A provisioned user wins over one that signed in first: the
			// IdP's push says who owns the address (a JIT user named by an
			// unverified email may hold it too).
			if len(found) == 2 && found[0].Source == directory.SourceSCIM && found[1].Source != directory.SourceSCIM {
				found = found[:1]
			}
		}
		switch {
		case len(found) > 1:
			return directory.Forbiddenf("your login matches more than one account in this organization (by %s); ask an administrator to resolve it", how)
		case len(found) == 1:
			// The row lock holds off a removal until the link is in:
			// RemoveMember deletes the user's links under its row lock,
			// so a link written after its check would outlive it and let
			// this login in again should the user be invited back. Read
			// under the lock, a removal that came first is seen. (NO KEY
			// UPDATE rather than SHARE: the sign-in's groups may change
			// the user's roles, which takes this lock; two sign-ins
			// holding SHARE would deadlock upgrading it.)
			if u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.org_id = $1 AND u.id = $2 FOR NO KEY UPDATE`,
				orgID, found[0].ID)); err != nil {
				return err
			}
			if err := mayLogIn(u); err != nil {
				return err
			}
			// A user keeps one identity per issuer: a second subject
			// claiming it by email is more likely a takeover than a
			// re-created IdP account, and an administrator can unlink.
			// The unique index user_links_user_issuer_key is the rule
			// (see the insert below); this check only names it early.
			var other bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM user_links WHERE org_id = $1 AND user_id = $2 AND issuer = $3)`,
				orgID, u.ID, c.Issuer).Scan(&other); err != nil {
				return err
			}
			if other {
				return alreadyLinked(u)
			}
		case policy.Allows(c.Email, c.EmailVerified):
			if u, err = createJITUser(ctx, tx, actor, orgID, c); err != nil {
				return err
			}
			evs = append(evs, renderUserEvent(userCreated, u, nil))
			how = "jit"
		case c.Email == "":
			return directory.Forbiddenf("you have no account in this organization, and your identity provider sent no email to find one by")
		default:
			return directory.Forbiddenf("%s has no account in this organization; ask an administrator to provision or invite you", c.Email)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO user_links (org_id, issuer, subject, user_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, issuer, subject) DO NOTHING`, orgID, c.Issuer, c.Subject, u.ID)
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.ConstraintName == "user_links_user_issuer_key" {
			// Another subject of this issuer linked the user meanwhile.
			return alreadyLinked(u)
		}
		if err != nil {
			return mapErr(err, "login link")
		}
		if tag.RowsAffected() == 0 { // a concurrent first login linked it
			return directory.Conflictf("this login was linked meanwhile; sign in again")
		}
		out, linked = u, true
		if err := audit(ctx, tx, orgID, actor, "user.link", "User", u.ID, nil,
			map[string]any{"issuer": c.Issuer, "subject": c.Subject, "userName": u.UserName, "matchedBy": how}); err != nil {
			return err
		}
		return signedIn(u, how)
	})
	if err != nil {
		return directory.User{}, false, err
	}
	return out, linked, nil
}

func alreadyLinked(u directory.User) error {
	return directory.Forbiddenf("the account %s is already linked to another login of this identity provider; ask an administrator", u.UserName)
}

// mayLogIn tells whether a user may sign in through the IdP.
func mayLogIn(u directory.User) error {
	switch {
	case u.Kind == directory.KindService || u.Source == directory.SourceService:
		return directory.Forbiddenf("%s is a service account: it authenticates with API tokens and cannot sign in", u.UserName)
	case u.Source == directory.SourceBreakGlass:
		return directory.Forbiddenf("the break-glass owner cannot sign in through the identity provider; use the break-glass login")
	case u.RemovedAt != nil:
		return directory.Forbiddenf("your account %s was removed from this organization", u.UserName)
	case !u.Active:
		return directory.Forbiddenf("your account %s is deactivated in this organization", u.UserName)
	}
	return nil
}

func usersWhere(ctx context.Context, tx pgx.Tx, where string, args ...any) ([]directory.User, error) {
	rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM users u WHERE `+where+` ORDER BY u.source = 'scim' DESC, u.seq LIMIT 2`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.User, error) { return scanUser(r) })
}

// createJITUser creates the user of a first login, named by its email.
func createJITUser(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID string, c directory.LoginClaims) (directory.User, error) {
	attrs := map[string]any{"userName": c.Email, "active": true, "emails": []any{map[string]any{"value": c.Email, "primary": true}}}
	if c.Name != "" {
		attrs["displayName"] = c.Name
	}
	u := directory.User{OrgID: orgID, Attributes: attrs}
	if err := u.Derive(); err != nil {
		return u, err
	}
	created, err := scanUser(tx.QueryRow(ctx, `INSERT INTO users AS u (org_id, user_name, active, display_name, emails, attributes, kind, source, verified_login)
		VALUES ($1, $2, true, $3, $4, $5, 'human', 'jit', $6) ON CONFLICT DO NOTHING RETURNING `+userColumns,
		orgID, u.UserName, nullIfEmpty(u.DisplayName), u.Emails, u.Attributes, c.EmailVerified))
	if errors.Is(err, pgx.ErrNoRows) {
		// An unverified email that is another user's userName.
		return u, directory.Forbiddenf("an account named %s exists already in this organization but could not be matched to your login; ask an administrator", c.Email)
	}
	if err != nil {
		return u, userErr(err, u)
	}
	return created, audit(ctx, tx, orgID, actor, "user.create", "User", created.ID, nil, auditUser(created))
}

// loginEvent is the sso.login event of u's sign-in at issuer, matched to
// u by method (link, oid, email, jit, invitation).
func loginEvent(u directory.User, issuer, method string) pendingEvent {
	return pendingEvent{typ: directory.EventSSOLogin, resourceType: directory.ResourceUser, resourceID: u.ID,
		data: resource.Login{User: resource.UserRef{ID: u.ID, UserName: u.UserName, Status: u.Status()}, Issuer: issuer, Method: method}}
}

// cleanLoginGroups is what setLoginGroups stores of a sign-in's groups:
// trimmed, bounded, without repeats, sorted.
func cleanLoginGroups(groups []string) []string {
	clean := make([]string, 0, len(groups))
	for _, g := range groups {
		if g = strings.TrimSpace(g); g != "" && len(g) <= 256 && !slices.Contains(clean, g) && len(clean) < directory.MaxLoginGroups {
			clean = append(clean, g)
		}
	}
	slices.Sort(clean)
	return clean
}

// trackLoginGroups tracks u's roles if setLoginGroups(u, groups) may
// change them: u is not a SCIM user, its groups change, and a mapping
// names one of the groups that come or go. A sign-in that changes
// nothing of that reads nothing more and locks nothing.
func trackLoginGroups(ctx context.Context, tx pgx.Tx, u directory.User, groups []string) (*roleTracker, error) {
	if u.Source == directory.SourceSCIM {
		return &roleTracker{}, nil
	}
	var cur []string
	if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(value ORDER BY value), '{}') FROM login_groups WHERE org_id = $1 AND user_id = $2`,
		u.OrgID, u.ID).Scan(&cur); err != nil {
		return nil, err
	}
	next := cleanLoginGroups(groups)
	var changed []string
	for _, g := range cur {
		if !slices.Contains(next, g) {
			changed = append(changed, g)
		}
	}
	for _, g := range next {
		if !slices.Contains(cur, g) {
			changed = append(changed, g)
		}
	}
	if len(changed) == 0 {
		return &roleTracker{}, nil
	}
	mapped, err := valuesMapped(ctx, tx, u.OrgID, nil, changed, changed)
	if err != nil || !mapped {
		return &roleTracker{}, err
	}
	return trackRoles(ctx, tx, u.OrgID, []string{u.ID})
}

// setLoginGroups replaces the groups of u's last sign-in with groups, for
// a user no SCIM client manages; for a SCIM user it does nothing, since
// SCIM alone says which groups they are in. It writes only when the
// groups changed, so that a sign-in with the same groups stays a read.
func setLoginGroups(ctx context.Context, tx pgx.Tx, u directory.User, groups []string) error {
	if u.Source == directory.SourceSCIM {
		return nil
	}
	clean := cleanLoginGroups(groups)
	// One statement: delete what the sign-in no longer names, insert what
	// is new; nothing when they are the same.
	_, err := tx.Exec(ctx, `WITH gone AS (
			DELETE FROM login_groups WHERE org_id = $1 AND user_id = $2 AND NOT (value = ANY ($3::text[]))
		)
		INSERT INTO login_groups (org_id, user_id, value) SELECT $1, $2, v FROM unnest($3::text[]) v
		ON CONFLICT DO NOTHING`, u.OrgID, u.ID, clean)
	return err
}
