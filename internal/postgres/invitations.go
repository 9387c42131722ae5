package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scimbridge/internal/directory"
	"github.com/scimbridge/scimbridge/internal/resource"
)

const invitationColumns = `i.id, i.org_id, i.email, i.any_email, i.bindings, i.invited_by, i.created_at, i.expires_at,
	i.sent_at, i.accepted_at, coalesce(i.accepted_by::text, ''), i.revoked_at`

// invitationGrant is how an initial binding is kept in the invitation.
type invitationGrant struct {
	Role        string `json:"role"`
	WorkspaceID string `json:"workspaceId,omitempty"`
}

// scanInvitation scans invitationColumns, then extra.
func scanInvitation(row pgx.Row, extra ...any) (directory.Invitation, error) {
	var i directory.Invitation
	var grants []invitationGrant
	err := row.Scan(append([]any{&i.ID, &i.OrgID, &i.Email, &i.AnyEmail, &grants, &i.InvitedBy, &i.CreatedAt, &i.ExpiresAt,
		&i.SentAt, &i.AcceptedAt, &i.AcceptedBy, &i.RevokedAt}, extra...)...)
	for _, g := range grants {
		r, perr := directory.ParseRole(g.Role)
		if perr != nil && err == nil {
			err = perr
		}
		i.Bindings = append(i.Bindings, directory.Binding{OrgID: i.OrgID, Role: r, WorkspaceID: g.WorkspaceID})
	}
	return i, err
}

// CreateInvitation invites an address to the organization and queues the
// mail in the same transaction. bindings carry the initial roles (their
// subject is left empty: it is the member-to-be). ttl 0 means the default
// (7 days). ErrInvalid: a bad address or grant. ErrConflict: the address
// is a member's already (the error names the member), or it has a pending
// invitation.
func (db *DB) CreateInvitation(ctx context.Context, actor directory.Actor, orgID, email string, anyEmail bool,
	bindings []directory.Binding, ttl time.Duration) (directory.Invitation, error) {
	addr, err := directory.NormalizeInviteAddress(email)
	if err != nil {
		return directory.Invitation{}, err
	}
	if ttl <= 0 {
		ttl = directory.DefaultInvitationTTL
	}
	grants := make([]invitationGrant, 0, len(bindings))
	for _, b := range bindings {
		probe := b
		probe.UserID = "invitee"
		if err := probe.Validate(); err != nil {
			return directory.Invitation{}, err
		}
		grants = append(grants, invitationGrant{Role: b.Role.String(), WorkspaceID: b.WorkspaceID})
	}
	// A removed member may be invited back: accepting revives the row, so
	// past attribution and audit keep pointing at one user.
	if u, err := db.FindMember(ctx, orgID, addr); err == nil && u.RemovedAt == nil {
		return directory.Invitation{}, directory.Conflictf("%s is already a member: %s (%s, %s)", addr, u.UserName, u.Source, u.Status())
	} else if errors.Is(err, directory.ErrConflict) {
		return directory.Invitation{}, directory.Conflictf("%s is already the email of several members", addr)
	}
	var inv directory.Invitation
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		// An invitation whose time ran out no longer blocks a new one.
		if _, err := tx.Exec(ctx, `UPDATE invitations SET revoked_at = now() WHERE org_id = $1 AND ascii_lower(email) = ascii_lower($2)
			AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at <= now()`, orgID, addr); err != nil {
			return err
		}
		var err error
		inv, err = scanInvitation(tx.QueryRow(ctx, `INSERT INTO invitations AS i (org_id, email, any_email, bindings, invited_by, expires_at)
			VALUES ($1, $2, $3, $4, $5, now() + $6::interval) RETURNING `+invitationColumns,
			orgID, addr, anyEmail, grants, actor.String(), fmt.Sprintf("%d seconds", int64(ttl.Seconds()))))
		if err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.ConstraintName == "invitations_pending_key" {
				return directory.Conflictf("%s has a pending invitation already: re-send or revoke it", addr)
			}
			return mapErr(err, "invitation")
		}
		if err := queueInvitationMail(ctx, tx, orgID, inv.ID); err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, "invitation.create", "Invitation", inv.ID, nil,
			map[string]any{"email": addr, "anyEmail": anyEmail, "bindings": grants, "expiresAt": inv.ExpiresAt}); err != nil {
			return err
		}
		e, err := invitationEvent(ctx, tx, directory.EventInvitationCreated, inv, inv.CreatedAt, "")
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, orgID, actor, []pendingEvent{e})
	})
	return inv, err
}

// invitationEvent is an event about inv as it stands at now, naming the
// workspaces of its grants and the member it became (memberName).
func invitationEvent(ctx context.Context, tx pgx.Tx, typ string, inv directory.Invitation, now time.Time, memberName string) (pendingEvent, error) {
	var ws []string
	for _, b := range inv.Bindings {
		if b.WorkspaceID != "" {
			ws = append(ws, b.WorkspaceID)
		}
	}
	names := map[string]string{}
	if len(ws) > 0 {
		rows, err := tx.Query(ctx, `SELECT id::text, name FROM workspaces WHERE org_id = $1 AND id = ANY($2::uuid[])`, inv.OrgID, ws)
		if err != nil {
			return pendingEvent{}, err
		}
		var id, name string
		if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { names[id] = name; return nil }); err != nil {
			return pendingEvent{}, err
		}
	}
	return pendingEvent{typ: typ, resourceType: directory.ResourceInvitation, resourceID: inv.ID,
		data: resource.RenderInvitation(inv, now, names, map[string]string{inv.AcceptedBy: memberName})}, nil
}

func queueInvitationMail(ctx context.Context, tx pgx.Tx, orgID, invitationID string) error {
	_, err := tx.Exec(ctx, `INSERT INTO outbox (org_id, kind, ref_id) VALUES ($1, 'invitation', $2)`, orgID, invitationID)
	return err
}

// InvitationByToken returns the invitation a join link carries and its
// organization, whatever its state (the join page explains an expired or
// used one), without spending it. ErrUnauthorized: no such link.
func (db *DB) InvitationByToken(ctx context.Context, secret string) (directory.Invitation, directory.Organization, error) {
	if !directory.LooksLikeSecret(directory.InvitationTokenPrefix, secret) {
		return directory.Invitation{}, directory.Organization{}, directory.ErrUnauthorized
	}
	var o directory.Organization
	inv, err := scanInvitation(db.Pool.QueryRow(ctx, `SELECT `+invitationColumns+`, o.id, o.slug, o.name, o.created_at FROM invitations i
		JOIN organizations o ON o.id = i.org_id WHERE i.token_hash = $1`, directory.HashSecret(secret)), &o.ID, &o.Slug, &o.Name, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return inv, directory.Organization{}, directory.ErrUnauthorized
	}
	return inv, o, err
}

// Invitations lists the organization's invitations, newest first; pending
// ones only when pendingOnly.
func (db *DB) Invitations(ctx context.Context, orgID string, pendingOnly bool) ([]directory.Invitation, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+invitationColumns+` FROM invitations i WHERE i.org_id = $1
		AND (NOT $2 OR (i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now())) ORDER BY i.created_at DESC`, orgID, pendingOnly)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Invitation, error) { return scanInvitation(r) })
}

// pendingInvitation locks a pending invitation. ErrNotFound: none;
// ErrConflict: it was accepted, revoked or has expired.
func (db *DB) pendingInvitation(ctx context.Context, tx pgx.Tx, orgID, id string) (directory.Invitation, error) {
	if !isUUID(id) {
		return directory.Invitation{}, directory.NotFoundf("invitation %q not found", id)
	}
	inv, err := scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationColumns+` FROM invitations i WHERE i.org_id = $1 AND i.id = $2 FOR UPDATE`, orgID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return inv, directory.NotFoundf("invitation %q not found", id)
	}
	if err != nil {
		return inv, err
	}
	if s := inv.State(db.now()); s != "pending" {
		return inv, directory.Conflictf("the invitation of %s is %s", inv.Email, s)
	}
	return inv, nil
}

// ResendInvitation queues another mail for a pending invitation; it will
// carry a new link (the previous one stops working when it is sent).
func (db *DB) ResendInvitation(ctx context.Context, actor directory.Actor, orgID, id string) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		inv, err := db.pendingInvitation(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if err := queueInvitationMail(ctx, tx, orgID, inv.ID); err != nil {
			return err
		}
		return audit(ctx, tx, orgID, actor, "invitation.resend", "Invitation", inv.ID, nil, map[string]any{"email": inv.Email})
	})
}

// InvitationLink mints a new join link secret for a pending invitation,
// named by its id or by its address, for an operator to hand out when no
// mail is sent (no SMTP server). It replaces the invitation's earlier
// links, and a mail of the invitation still queued is dropped: it would
// replace this link in turn. Audited as invitation.link. ErrNotFound: no
// pending invitation of that id or address; ErrConflict: it is no longer
// pending.
func (db *DB) InvitationLink(ctx context.Context, actor directory.Actor, orgID, idOrEmail string) (directory.Invitation, string, error) {
	id := idOrEmail
	if !isUUID(id) {
		addr, err := directory.NormalizeAddress(idOrEmail)
		if err != nil {
			return directory.Invitation{}, "", err
		}
		err = db.Pool.QueryRow(ctx, `SELECT id::text FROM invitations WHERE org_id = $1 AND ascii_lower(email) = ascii_lower($2)
			AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()`, orgID, addr).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.Invitation{}, "", directory.NotFoundf("no pending invitation of %s", addr)
		}
		if err != nil {
			return directory.Invitation{}, "", err
		}
	}
	var inv directory.Invitation
	secret := directory.NewSecret(directory.InvitationTokenPrefix)
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		// The outbox rows first, in DeliverNext's order: a mail being sent
		// right now is sent first, and this link replaces the mail's.
		if _, err := tx.Exec(ctx, `UPDATE outbox SET sent_at = now(), last_error = 'not sent: replaced by a join link from the CLI'
			WHERE org_id = $1 AND kind = 'invitation' AND ref_id = $2 AND sent_at IS NULL AND failed_at IS NULL`, orgID, nullUUID(id)); err != nil {
			return err
		}
		var err error
		if inv, err = db.pendingInvitation(ctx, tx, orgID, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET token_hash = $3 WHERE org_id = $1 AND id = $2`,
			orgID, inv.ID, directory.HashSecret(secret)); err != nil {
			return err
		}
		return audit(ctx, tx, orgID, actor, "invitation.link", "Invitation", inv.ID, nil, map[string]any{"email": inv.Email})
	})
	if err != nil {
		return directory.Invitation{}, "", err
	}
	return inv, secret, nil
}

// RevokeInvitation withdraws a pending invitation.
func (db *DB) RevokeInvitation(ctx context.Context, actor directory.Actor, orgID, id string) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		inv, err := db.pendingInvitation(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		inv, err = scanInvitation(tx.QueryRow(ctx, `UPDATE invitations i SET revoked_at = now(), token_hash = NULL WHERE i.org_id = $1 AND i.id = $2
			RETURNING `+invitationColumns, orgID, inv.ID))
		if err != nil {
			return err
		}
		if err := audit(ctx, tx, orgID, actor, "invitation.revoke", "Invitation", inv.ID, nil, map[string]any{"email": inv.Email}); err != nil {
			return err
		}
		e, err := invitationEvent(ctx, tx, directory.EventInvitationRevoked, inv, *inv.RevokedAt, "")
		if err != nil {
			return err
		}
		return appendEvents(ctx, tx, orgID, actor, []pendingEvent{e})
	})
}

// AcceptInvitation turns an invitation into a membership, once. The login
// must carry a verified email equal to the invited address, unless the
// invitation allows any address. The member is created (source
// invitation) and given the invitation's grants, with an audit event, in
// one transaction. Errors: ErrUnauthorized (unknown token), ErrConflict
// (already accepted, revoked or expired), ErrForbidden (email mismatch).
func (db *DB) AcceptInvitation(ctx context.Context, secret string, login directory.Login) (directory.Invitation, directory.User, error) {
	var inv directory.Invitation
	var member directory.User
	if !directory.LooksLikeSecret(directory.InvitationTokenPrefix, secret) {
		return inv, member, directory.ErrUnauthorized
	}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		inv, err = scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationColumns+` FROM invitations i WHERE i.token_hash = $1`,
			directory.HashSecret(secret)))
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.ErrUnauthorized
		}
		if err != nil {
			return err
		}
		// The new member's roles come with it: the access lock comes
		// before the invitation's row lock and the member's.
		if err := lockAccess(ctx, tx, inv.OrgID, false); err != nil {
			return err
		}
		inv, err = scanInvitation(tx.QueryRow(ctx, `SELECT `+invitationColumns+` FROM invitations i WHERE i.token_hash = $1 FOR UPDATE`,
			directory.HashSecret(secret)))
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.ErrUnauthorized
		}
		if err != nil {
			return err
		}
		if s := inv.State(db.now()); s != "pending" {
			return directory.Conflictf("this invitation was %s", s)
		}
		if !login.EmailVerified || login.Email == "" {
			if !inv.AnyEmail {
				return directory.Forbiddenf("your login has no verified email address; the invitation is for %s", inv.Email)
			}
		} else if !inv.AnyEmail && directory.FoldASCII(login.Email) != directory.FoldASCII(inv.Email) {
			return directory.Forbiddenf("this invitation is for %s, and you signed in as %s", inv.Email, login.Email)
		}
		email := inv.Email
		if login.Email != "" && login.EmailVerified {
			email = login.Email
		}
		attrs := map[string]any{"userName": email, "emails": []any{map[string]any{"value": email, "primary": true}}}
		if login.Name != "" {
			attrs["displayName"] = login.Name
		}
		member = directory.User{OrgID: inv.OrgID, Attributes: attrs}
		if err := member.Derive(); err != nil {
			return err
		}
		want := member
		revived := true
		member, err = scanUser(tx.QueryRow(ctx, `UPDATE users AS u SET removed_at = NULL, active = true, source = 'invitation',
				display_name = $3, emails = $4, attributes = $5, external_id = NULL, given_name = NULL, family_name = NULL,
				version = u.version + 1, updated_at = now()
			WHERE u.org_id = $1 AND ascii_lower(u.user_name) = ascii_lower($2) AND u.removed_at IS NOT NULL AND u.kind = 'human'
			RETURNING `+userColumns,
			inv.OrgID, want.UserName, nullIfEmpty(want.DisplayName), want.Emails, want.Attributes))
		if errors.Is(err, pgx.ErrNoRows) {
			revived = false
			member, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users AS u (org_id, user_name, display_name, emails, attributes, kind, source)
				VALUES ($1, $2, $3, $4, $5, 'human', 'invitation') RETURNING `+userColumns,
				inv.OrgID, want.UserName, nullIfEmpty(want.DisplayName), want.Emails, want.Attributes))
		}
		if err != nil {
			return userErr(err, want)
		}
		joined := userCreated
		if revived {
			joined = userReactivated // the same user as before its removal
		}
		evs := []pendingEvent{renderUserEvent(joined, member, nil)}
		roles, err := trackRoles(ctx, tx, inv.OrgID, []string{member.ID})
		if err != nil {
			return err
		}
		if err := setLoginGroups(ctx, tx, member, login.Groups); err != nil {
			return err
		}
		if login.Issuer != "" && login.Subject != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO user_links (org_id, issuer, subject, user_id) VALUES ($1, $2, $3, $4)`,
				inv.OrgID, login.Issuer, login.Subject, member.ID); err != nil {
				return mapErr(err, "login link")
			}
		}
		for _, b := range inv.Bindings {
			// A grant on a workspace deleted since the invitation is
			// dropped (the invitation keeps its grants as values).
			if _, err := tx.Exec(ctx, `INSERT INTO role_bindings (org_id, role, workspace_id, user_id, created_by)
				SELECT $1, $2, $3, $4, $5 WHERE $3::uuid IS NULL OR EXISTS (SELECT 1 FROM workspaces w WHERE w.org_id = $1 AND w.id = $3)
				ON CONFLICT DO NOTHING`, inv.OrgID, b.Role.String(), nullUUID(b.WorkspaceID), member.ID, "invitation:"+inv.ID); err != nil {
				return mapErr(err, "initial role binding")
			}
		}
		inv, err = scanInvitation(tx.QueryRow(ctx, `UPDATE invitations i SET accepted_at = now(), accepted_by = $3, token_hash = NULL
			WHERE i.org_id = $1 AND i.id = $2 AND i.accepted_at IS NULL RETURNING `+invitationColumns, inv.OrgID, inv.ID, member.ID))
		if errors.Is(err, pgx.ErrNoRows) {
			return directory.Conflictf("this invitation was accepted already")
		}
		if err != nil {
			return err
		}
		actor := directory.Actor{Kind: "user", Name: member.UserName}
		if err := audit(ctx, tx, inv.OrgID, actor, "invitation.accept", "Invitation", inv.ID,
			nil, map[string]any{"member": member.ID, "email": email, "revived": revived}); err != nil {
			return err
		}
		accepted, err := invitationEvent(ctx, tx, directory.EventInvitationAccepted, inv, *inv.AcceptedAt, member.UserName)
		if err != nil {
			return err
		}
		more, err := roles.events(ctx, tx)
		if err != nil {
			return err
		}
		evs = append(append(evs, accepted), more...)
		if db.ssoLoginEvents {
			evs = append(evs, loginEvent(member, login.Issuer, "invitation"))
		}
		return appendEvents(ctx, tx, inv.OrgID, actor, evs)
	})
	return inv, member, err
}
