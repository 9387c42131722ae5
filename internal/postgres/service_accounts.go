package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// ServiceAccount fields live on the user row (kind service): its name is
// the userName, description and owner are attributes.

// OwnerAttr is the attribute holding a service account's owner, the person
// responsible for it, as SCIM's manager is held: {"value": id, "display":
// userName}.
const OwnerAttr = "owner"

func ownerValue(id, userName string) map[string]any {
	return map[string]any{"value": id, "display": userName}
}

// ServiceAccountOwner returns the id of a service account's owner ("" for
// none).
func ServiceAccountOwner(u directory.User) string {
	m, _ := u.Attributes[OwnerAttr].(map[string]any)
	id, _ := m["value"].(string)
	return id
}

// CreateServiceAccount creates a CI/robot account: a user of kind
// service that no IdP manages and SCIM never sees. ownerID ("" for none)
// is the person responsible for it. ErrInvalid: a bad name. ErrConflict:
// the name is taken by any user of the organization.
func (db *DB) CreateServiceAccount(ctx context.Context, actor directory.Actor, orgID, name, description, ownerID string) (directory.User, error) {
	name, attrs, err := serviceAccountAttrs(name, description)
	if err != nil {
		return directory.User{}, err
	}
	if ownerID != "" {
		owner, err := db.Member(ctx, orgID, ownerID)
		if err != nil || owner.Kind != directory.KindHuman || owner.RemovedAt != nil {
			return directory.User{}, directory.Invalidf("owner %q is not a current person of this organization", ownerID)
		}
		attrs[OwnerAttr] = ownerValue(owner.ID, owner.UserName)
	}
	return insertServiceAccount(ctx, db.Pool, actor, orgID, name, attrs)
}

// serviceAccountAttrs checks a service account's name and makes its
// attributes: what the API, the CLI and declared accounts create.
func serviceAccountAttrs(name, description string) (string, map[string]any, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.ContainsAny(name, " \t\n@") {
		return name, nil, directory.Invalidf("service account name %q: 1-100 characters, no spaces or @", name)
	}
	attrs := map[string]any{"userName": name, "displayName": name}
	if description != "" {
		attrs["description"] = description
	}
	return name, attrs, nil
}

// insertServiceAccount inserts a service account on q (the pool, or the
// caller's transaction). ErrConflict names the taken name.
func insertServiceAccount(ctx context.Context, q rowQuerier, actor directory.Actor, orgID, name string, attrs map[string]any) (directory.User, error) {
	u, err := insertUser(ctx, q, actor, directory.User{OrgID: orgID, Attributes: attrs, Kind: directory.KindService, Source: directory.SourceService})
	if errors.Is(err, directory.ErrConflict) {
		return u, directory.Conflictf("the name %q is taken by a user or service account of this organization", name)
	}
	return u, err
}

// ServiceAccounts lists the organization's service accounts (deleted ones
// too, marked removed).
func (db *DB) ServiceAccounts(ctx context.Context, orgID string) ([]directory.User, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+userColumns+` FROM users u WHERE u.org_id = $1 AND u.kind = 'service' ORDER BY ascii_lower(u.user_name)`, orgID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.User, error) { return scanUser(r) })
}

// ServiceAccount finds a service account by id or name. ErrNotFound: none.
func (db *DB) ServiceAccount(ctx context.Context, orgID, idOrName string) (directory.User, error) {
	u, err := scanUser(db.Pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.org_id = $1 AND u.kind = 'service'
		AND (u.id::text = $2 OR ascii_lower(u.user_name) = ascii_lower($2))`, orgID, idOrName))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, directory.NotFoundf("service account %q not found", idOrName)
	}
	return u, err
}

// SetServiceAccountEnabled disables or enables a service account. A
// disabled account's API tokens stop working at once (AuthenticateAPI
// wants an active owner) and its Git identities resolve marked disabled.
func (db *DB) SetServiceAccountEnabled(ctx context.Context, actor directory.Actor, orgID, idOrName string, enabled bool) (directory.User, error) {
	sa, err := db.ServiceAccount(ctx, orgID, idOrName)
	if err != nil {
		return sa, err
	}
	if sa.RemovedAt != nil {
		return sa, directory.Conflictf("service account %s was deleted", sa.UserName)
	}
	var out directory.User
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = setEnabled(ctx, tx, actor, orgID, sa.ID, enabled)
		return err
	})
	return out, err
}

// setEnabled enables or disables a service account in the caller's
// transaction, with its audit event: the write of SetServiceAccountEnabled
// and of declared accounts.
func setEnabled(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID, id string, enabled bool) (directory.User, error) {
	var was bool
	sa, err := scanUserAnd(tx.QueryRow(ctx, `UPDATE users u SET active = $3, attributes = jsonb_set(u.attributes, '{active}', to_jsonb($3::boolean)),
		version = u.version + 1, updated_at = now() FROM users old WHERE old.org_id = u.org_id AND old.id = u.id
		AND u.org_id = $1 AND u.id = $2 RETURNING `+userColumns+`, old.active`, orgID, id, enabled), &was)
	if err != nil {
		return sa, err
	}
	action, change := "sa.disable", userDeactivated
	if enabled {
		action, change = "sa.enable", userReactivated
	}
	if err := audit(ctx, tx, orgID, actor, action, "ServiceAccount", id, nil, map[string]any{"name": sa.UserName}); err != nil {
		return sa, err
	}
	if was == enabled {
		return sa, nil // as it was: nothing a platform would learn
	}
	e, err := userEvent(ctx, tx, change, sa)
	if err != nil {
		return sa, err
	}
	return sa, appendEvents(ctx, tx, orgID, actor, []pendingEvent{e})
}

// DeleteServiceAccount deletes a service account: it is marked removed (the
// audit trail and past attribution keep its name), its tokens are revoked,
// its bindings go and its Git identities are released.
func (db *DB) DeleteServiceAccount(ctx context.Context, actor directory.Actor, orgID, idOrName string) error {
	sa, err := db.ServiceAccount(ctx, orgID, idOrName)
	if err != nil {
		return err
	}
	_, err = db.RemoveMember(ctx, actor, orgID, sa.ID)
	return err
}
