package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Declared service accounts (issue 6): the reconciler makes the service
// accounts a file declares exist as declared. An account it created
// carries the attribute "declared": true, and only such accounts are
// updated or disabled when the file changes; accounts made by hand are
// never touched. The reconciler reaches the store through its session,
// reads what an account needs, and then makes each account's change in one
// transaction (ApplyDeclaredAccount): a run killed midway leaves each
// account as it was or as declared, never half of it.

// DeclaredAttr is the user attribute marking a declared service account.
const DeclaredAttr = "declared"

// IsDeclared tells whether a service account was created from the file.
func IsDeclared(u directory.User) bool {
	v, _ := u.Attributes[DeclaredAttr].(bool)
	return v
}

// ServiceAccounts lists the organization's service accounts (removed ones
// too).
func (s *ReconcileSession) ServiceAccounts(ctx context.Context, orgID string) ([]directory.User, error) {
	return s.db.ServiceAccounts(ctx, orgID)
}

// Workspace finds a workspace by id or name. ErrNotFound: none.
func (s *ReconcileSession) Workspace(ctx context.Context, orgID, idOrName string) (directory.Workspace, error) {
	return s.db.Workspace(ctx, orgID, idOrName)
}

// UserBindings lists the bindings of one user or service account.
func (s *ReconcileSession) UserBindings(ctx context.Context, orgID, userID string) ([]directory.Binding, error) {
	return s.db.Bindings(ctx, orgID, BindingFilter{UserID: userID})
}

// MappedIdentities lists the Git identities mapped to a user (at most
// 500: a service account has a handful).
func (s *ReconcileSession) MappedIdentities(ctx context.Context, orgID, userID string) ([]directory.GitIdentity, error) {
	list, _, err := s.db.GitIdentities(ctx, orgID, GitIdentityQuery{UserID: userID, Limit: 500})
	return list, err
}

// FindGitIdentity: see DB.FindGitIdentity.
func (s *ReconcileSession) FindGitIdentity(ctx context.Context, orgID, provider, email, login string) (directory.GitIdentity, error) {
	return s.db.FindGitIdentity(ctx, orgID, provider, email, login)
}

// UserByName finds a user of any kind (removed ones too) by userName,
// case-insensitively. ErrNotFound: none.
func (s *ReconcileSession) UserByName(ctx context.Context, orgID, userName string) (directory.User, error) {
	u, err := scanUser(s.conn.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.org_id = $1 AND ascii_lower(u.user_name) = ascii_lower($2)`,
		orgID, strings.TrimSpace(userName)))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, directory.NotFoundf("no user %q", userName)
	}
	return u, err
}

// DeclaredAccount is the change one declared service account needs,
// computed by the reconciler from the file and the store.
type DeclaredAccount struct {
	// ID is the account's; "" creates it as Name (with Description and
	// OwnerID).
	ID, Name string
	// SetAttrs sets the description ("" for none) and the owner (OwnerID,
	// a current person's id; "" for none) of an existing account.
	SetAttrs             bool
	Description, OwnerID string
	Enable, Disable      bool
	// DeleteBindings are ids of the account's bindings to delete.
	DeleteBindings []string
	AddBindings    []DeclaredBinding
	// Unmap are ids of identities mapped to the account to release.
	Unmap []string
	// Map are ids of identities to map to the account; Create are
	// identities to create when missing, then map.
	Map    []string
	Create []GitKey
}

// DeclaredBinding is a role binding of a declared account.
type DeclaredBinding struct {
	Role        directory.Role
	WorkspaceID string // "" for org-wide
}

// GitKey names a Git identity as ingest keys it.
type GitKey struct {
	Provider, Email, Login string
}

// ApplyDeclaredAccount makes one account's change in one transaction,
// each step with its audit event, and returns the rows it changed. Every
// step re-checks what the plan was computed on: the account is still a
// current declared service account (ErrNotFound otherwise), the owner a
// current person (ErrInvalid), a name to create is free (ErrConflict), an
// identity to map is free or the account's already (ErrConflict, naming
// its owner). Any error rolls the whole account back. A binding that is
// already there, or already gone, and an identity no longer the
// account's are skipped, not counted.
func (s *ReconcileSession) ApplyDeclaredAccount(ctx context.Context, actor directory.Actor, orgID string, c DeclaredAccount) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		n = 0
		// Its bindings may change: the access lock comes first.
		if err := lockAccess(ctx, tx, orgID, false); err != nil {
			return err
		}
		owner, err := declaredOwner(ctx, tx, orgID, c.OwnerID)
		if err != nil {
			return err
		}
		id := c.ID
		if id == "" {
			u, err := createDeclared(ctx, tx, actor, orgID, c.Name, c.Description, owner)
			if err != nil {
				return err
			}
			id, n = u.ID, n+1
		} else if err := lockDeclared(ctx, tx, orgID, id); err != nil {
			return err
		}
		if c.SetAttrs {
			if err := setDeclaredAttrs(ctx, tx, actor, orgID, id, c.Description, owner); err != nil {
				return err
			}
			n++
		}
		if c.Enable || c.Disable {
			if _, err := setEnabled(ctx, tx, actor, orgID, id, c.Enable); err != nil {
				return err
			}
			n++
		}
		roles, err := trackRoles(ctx, tx, orgID, []string{id})
		if err != nil {
			return err
		}
		steps := []func() (int, error){
			func() (int, error) { return deleteAccountBindings(ctx, tx, actor, orgID, id, c.DeleteBindings) },
			func() (int, error) { return addAccountBindings(ctx, tx, actor, orgID, id, c.AddBindings) },
			func() (int, error) { return unmapFromAccount(ctx, tx, actor, orgID, id, c.Unmap) },
			func() (int, error) {
				ids := slices.Clone(c.Map)
				for _, k := range c.Create {
					gid, err := ensureGitIdentity(ctx, tx, actor, orgID, k)
					if err != nil {
						return 0, err
					}
					ids = append(ids, gid)
				}
				return mapToAccount(ctx, tx, actor, orgID, id, ids)
			},
		}
		for _, step := range steps {
			m, err := step()
			if err != nil {
				return err
			}
			n += m
		}
		return appendRoleEvents(ctx, tx, orgID, actor, roles)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// declaredOwner reads and share-locks the owner (nil for none), so that
// it cannot be removed while the account names it.
func declaredOwner(ctx context.Context, tx pgx.Tx, orgID, id string) (map[string]any, error) {
	if id == "" {
		return nil, nil
	}
	var name string
	err := tx.QueryRow(ctx, `SELECT user_name FROM users WHERE org_id = $1 AND id = $2 AND kind = 'human' AND removed_at IS NULL FOR SHARE`,
		orgID, nullUUID(id)).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, directory.Invalidf("owner %q is not a current person of this organization", id)
	}
	if err != nil {
		return nil, err
	}
	return ownerValue(id, name), nil
}

// createDeclared creates a service account marked declared.
func createDeclared(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID, name, description string, owner map[string]any) (directory.User, error) {
	name, attrs, err := serviceAccountAttrs(name, description)
	if err != nil {
		return directory.User{}, err
	}
	attrs[DeclaredAttr] = true
	if owner != nil {
		attrs[OwnerAttr] = owner
	}
	return insertServiceAccount(ctx, tx, actor, orgID, name, attrs)
}

// lockDeclared locks a current declared service account for the change.
func lockDeclared(ctx context.Context, tx pgx.Tx, orgID, id string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE org_id = $1 AND id = $2 AND kind = 'service' AND removed_at IS NULL
		AND attributes->'declared' = 'true'::jsonb FOR UPDATE`, orgID, nullUUID(id)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return directory.NotFoundf("declared service account %q not found (deleted, or no longer declared)", id)
	}
	return err
}

// setDeclaredAttrs sets the description and the owner, audited as
// sa.update with both before and after.
func setDeclaredAttrs(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID, id, description string, owner map[string]any) error {
	var before string
	var beforeOwner map[string]any
	sa, err := scanUserAnd(tx.QueryRow(ctx, `WITH old AS (
			SELECT attributes FROM users WHERE org_id = $1 AND id = $2
		)
		UPDATE users u SET attributes = CASE WHEN $4::jsonb IS NULL THEN u.attributes - 'owner'
				ELSE jsonb_set(u.attributes, '{owner}', $4::jsonb) END
			- CASE WHEN $3 = '' THEN 'description' ELSE '' END
			|| CASE WHEN $3 = '' THEN '{}'::jsonb ELSE jsonb_build_object('description', $3::text) END,
			version = u.version + 1, updated_at = now()
		FROM old WHERE u.org_id = $1 AND u.id = $2
		RETURNING `+userColumns+`, coalesce(old.attributes->>'description', ''), old.attributes->'owner'`,
		orgID, id, description, owner), &before, &beforeOwner)
	if err != nil {
		return err
	}
	if err := audit(ctx, tx, orgID, actor, "sa.update", "ServiceAccount", id,
		map[string]any{"name": sa.UserName, "description": before, "owner": beforeOwner},
		map[string]any{"name": sa.UserName, "description": description, "owner": owner}); err != nil {
		return err
	}
	e, err := userEvent(ctx, tx, userUpdated, sa)
	if err != nil {
		return err
	}
	return appendEvents(ctx, tx, orgID, actor, []pendingEvent{e})
}

func deleteAccountBindings(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID, accountID string, ids []string) (int, error) {
	n := 0
	for _, id := range ids {
		b, err := scanBinding(tx.QueryRow(ctx, `DELETE FROM role_bindings b WHERE b.org_id = $1 AND b.id = $2 AND b.user_id = $3
			RETURNING `+bindingColumns, orgID, nullUUID(id), accountID))
		if errors.Is(err, pgx.ErrNoRows) {
			continue // gone already
		}
		if err != nil {
			return n, err
		}
		if err := audit(ctx, tx, orgID, actor, "binding.delete", "RoleBinding", b.ID, b, nil); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func addAccountBindings(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID, accountID string, add []DeclaredBinding) (int, error) {
	n := 0
	for _, d := range add {
		want := directory.Binding{OrgID: orgID, Role: d.Role, WorkspaceID: d.WorkspaceID, UserID: accountID}
		if err := want.Validate(); err != nil {
			return n, err
		}
		// ON CONFLICT: an equal binding made meanwhile is the same binding,
		// and a unique violation would abort the account's transaction.
		b, err := scanBinding(tx.QueryRow(ctx, `INSERT INTO role_bindings AS b (org_id, role, workspace_id, user_id, created_by)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING `+bindingColumns,
			orgID, d.Role.String(), nullUUID(d.WorkspaceID), accountID, actor.String()))
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return n, mapErr(err, "role binding")
		}
		if err := audit(ctx, tx, orgID, actor, "binding.create", "RoleBinding", b.ID, nil, b); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func unmapFromAccount(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID, accountID string, ids []string) (int, error) {
	n := 0
	for _, id := range ids {
		var gid string
		err := tx.QueryRow(ctx, `UPDATE git_identities SET user_id = NULL, mapped_by = $4, mapped_at = now()
			WHERE org_id = $1 AND id = $2 AND user_id = $3 RETURNING id`, orgID, nullUUID(id), accountID, actor.String()).Scan(&gid)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // no longer the account's
		}
		if err != nil {
			return n, err
		}
		if err := audit(ctx, tx, orgID, actor, "git.unmap", "GitIdentity", gid, map[string]any{"user": accountID}, nil); err != nil {
			return n, err
		}
		evs, err := gitIdentityEvents(ctx, tx, orgID, directory.EventGitIdentityUnmapped, []string{gid})
		if err != nil {
			return n, err
		}
		if err := appendEvents(ctx, tx, orgID, actor, evs); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ensureGitIdentity returns the id of the identity k, creating it (never
// seen on a commit: no commits, seen now) when there is none, so that a
// declared identity can be mapped before its first push. Keys are
// normalised as ingest does. Creation is audited as git.declare.
func ensureGitIdentity(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID string, k GitKey) (string, error) {
	provider, email, login := directory.GitKey(directory.GitObservation{Provider: k.Provider, Email: k.Email, Login: k.Login})
	if provider == "" || email == "" && login == "" {
		return "", directory.Invalidf("a git identity needs a provider and an email or a login")
	}
	var id string
	err := tx.QueryRow(ctx, `INSERT INTO git_identities (org_id, provider, email, login, first_seen, last_seen)
		VALUES ($1, $2, $3, $4, now(), now()) ON CONFLICT (org_id, provider, email, login) DO NOTHING RETURNING id`,
		orgID, provider, email, login).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, `SELECT id FROM git_identities WHERE org_id = $1 AND provider = $2 AND email = $3 AND login = $4`,
			orgID, provider, email, login).Scan(&id)
		return id, mapErr(err, "git identity")
	}
	if err != nil {
		return "", mapErr(err, "git identity")
	}
	return id, audit(ctx, tx, orgID, actor, "git.declare", "GitIdentity", id, nil,
		map[string]any{"provider": provider, "email": email, "login": login})
}

// mapToAccount maps identities to the account with MapGitIdentity's
// conditional update: one mapped to someone else meanwhile is ErrConflict.
func mapToAccount(ctx context.Context, tx pgx.Tx, actor directory.Actor, orgID, accountID string, ids []string) (int, error) {
	n := 0
	for _, id := range ids {
		var provider, email, login, user string
		var already bool
		err := tx.QueryRow(ctx, `UPDATE git_identities i SET user_id = $3, mapped_by = $4, mapped_at = now()
			FROM users u, git_identities old WHERE u.org_id = $1 AND u.id = $3 AND old.org_id = i.org_id AND old.id = i.id
			AND i.org_id = $1 AND i.id = $2 AND (i.user_id IS NULL OR i.user_id = $3)
			RETURNING i.provider, i.email, i.login, u.user_name, old.user_id IS NOT NULL`, orgID, nullUUID(id), accountID, actor.String()).
			Scan(&provider, &email, &login, &user, &already)
		if errors.Is(err, pgx.ErrNoRows) {
			var label, owner string
			if err := tx.QueryRow(ctx, `SELECT i.provider || ' ' || trim(i.email || ' ' || i.login), coalesce(u.user_name, '')
				FROM git_identities i LEFT JOIN users u ON u.org_id = i.org_id AND u.id = i.user_id
				WHERE i.org_id = $1 AND i.id = $2`, orgID, nullUUID(id)).Scan(&label, &owner); err != nil {
				return n, directory.NotFoundf("git identity %q not found", id)
			}
			return n, directory.Conflictf("git identity %s is mapped to %s already; unmap it first", label, owner)
		}
		if err != nil {
			return n, err
		}
		if err := audit(ctx, tx, orgID, actor, "git.map", "GitIdentity", id, nil,
			map[string]any{"provider": provider, "email": email, "login": login, "user": user}); err != nil {
			return n, err
		}
		if !already {
			evs, err := gitIdentityEvents(ctx, tx, orgID, directory.EventGitIdentityMapped, []string{id})
			if err != nil {
				return n, err
			}
			if err := appendEvents(ctx, tx, orgID, actor, evs); err != nil {
				return n, err
			}
		}
		n++
	}
	return n, nil
}
