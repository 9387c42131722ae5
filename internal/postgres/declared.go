package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scimbridge/internal/directory"
)

// Declared service accounts (issue 6): the reconciler makes the service
// accounts a file declares exist as declared. An account it created
// carries the attribute "declared": true, and only such accounts are
// updated or disabled when the file changes; accounts made by hand are
// never touched. The reconciler reaches the store through its session.

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

// CreateDeclaredServiceAccount creates a service account marked declared,
// in one statement with its audit event (so a run killed midway never
// leaves an unmarked account behind). Errors as CreateServiceAccount.
func (s *ReconcileSession) CreateDeclaredServiceAccount(ctx context.Context, actor directory.Actor, orgID, name, description string) (directory.User, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.ContainsAny(name, " \t\n@") {
		return directory.User{}, directory.Invalidf("service account name %q: 1-100 characters, no spaces or @", name)
	}
	attrs := map[string]any{"userName": name, "displayName": name, DeclaredAttr: true}
	if description != "" {
		attrs["description"] = description
	}
	u, err := s.db.CreateUser(ctx, actor, directory.User{OrgID: orgID, Attributes: attrs, Kind: directory.KindService, Source: directory.SourceService})
	if errors.Is(err, directory.ErrConflict) {
		return u, directory.Conflictf("the name %q is taken by a user or service account of this organization", name)
	}
	return u, err
}

// SetDeclaredDescription sets a declared service account's description
// ("" removes it), audited as sa.update. ErrNotFound: no such declared,
// current service account.
func (s *ReconcileSession) SetDeclaredDescription(ctx context.Context, actor directory.Actor, orgID, id, description string) (directory.User, error) {
	if !isUUID(id) {
		return directory.User{}, directory.NotFoundf("service account %q not found", id)
	}
	var out directory.User
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		var before string
		if err := tx.QueryRow(ctx, `SELECT coalesce(attributes->>'description', '') FROM users
			WHERE org_id = $1 AND id = $2 AND kind = 'service' AND removed_at IS NULL AND attributes->'declared' = 'true'::jsonb FOR UPDATE`,
			orgID, id).Scan(&before); errors.Is(err, pgx.ErrNoRows) {
			return directory.NotFoundf("declared service account %q not found", id)
		} else if err != nil {
			return err
		}
		var err error
		out, err = scanUser(tx.QueryRow(ctx, `UPDATE users u SET attributes = CASE WHEN $3 = '' THEN u.attributes - 'description'
				ELSE jsonb_set(u.attributes, '{description}', to_jsonb($3::text)) END,
			version = u.version + 1, updated_at = now() WHERE u.org_id = $1 AND u.id = $2 RETURNING `+userColumns, orgID, id, description))
		if err != nil {
			return err
		}
		return audit(ctx, tx, orgID, actor, "sa.update", "ServiceAccount", id,
			map[string]any{"name": out.UserName, "description": before}, map[string]any{"name": out.UserName, "description": description})
	})
	return out, err
}

// SetServiceAccountEnabled: see DB.SetServiceAccountEnabled.
func (s *ReconcileSession) SetServiceAccountEnabled(ctx context.Context, actor directory.Actor, orgID, id string, enabled bool) (directory.User, error) {
	return s.db.SetServiceAccountEnabled(ctx, actor, orgID, id, enabled)
}

// CreateBinding: see DB.CreateBinding.
func (s *ReconcileSession) CreateBinding(ctx context.Context, actor directory.Actor, b directory.Binding) (directory.Binding, error) {
	return s.db.CreateBinding(ctx, actor, b)
}

// DeleteBinding: see DB.DeleteBinding.
func (s *ReconcileSession) DeleteBinding(ctx context.Context, actor directory.Actor, orgID, id string) error {
	return s.db.DeleteBinding(ctx, actor, orgID, id)
}

// MapGitIdentity: see DB.MapGitIdentity.
func (s *ReconcileSession) MapGitIdentity(ctx context.Context, actor directory.Actor, orgID, identityID, userID string) (directory.GitIdentity, error) {
	return s.db.MapGitIdentity(ctx, actor, orgID, identityID, userID)
}

// UnmapGitIdentity: see DB.UnmapGitIdentity.
func (s *ReconcileSession) UnmapGitIdentity(ctx context.Context, actor directory.Actor, orgID, identityID string) error {
	return s.db.UnmapGitIdentity(ctx, actor, orgID, identityID)
}

// EnsureGitIdentity returns the identity (provider, email, login),
// creating it (never seen on a commit: no commits, seen now) when there
// is none, so that a declared identity can be mapped before its first
// push. Keys are normalised as ingest does. Creation is audited as
// git.declare.
func (s *ReconcileSession) EnsureGitIdentity(ctx context.Context, actor directory.Actor, orgID, provider, email, login string) (directory.GitIdentity, error) {
	provider, email, login = directory.GitKey(directory.GitObservation{Provider: provider, Email: email, Login: login})
	if provider == "" || email == "" && login == "" {
		return directory.GitIdentity{}, directory.Invalidf("a git identity needs a provider and an email or a login")
	}
	var out directory.GitIdentity
	err := s.db.inTx(ctx, func(tx pgx.Tx) error {
		var id string
		err := tx.QueryRow(ctx, `INSERT INTO git_identities (org_id, provider, email, login, first_seen, last_seen)
			VALUES ($1, $2, $3, $4, now(), now()) ON CONFLICT (org_id, provider, email, login) DO NOTHING RETURNING id`,
			orgID, provider, email, login).Scan(&id)
		created := err == nil
		if errors.Is(err, pgx.ErrNoRows) {
			err = tx.QueryRow(ctx, `SELECT id FROM git_identities WHERE org_id = $1 AND provider = $2 AND email = $3 AND login = $4`,
				orgID, provider, email, login).Scan(&id)
		}
		if err != nil {
			return mapErr(err, "git identity")
		}
		if out, err = scanGitIdentity(tx.QueryRow(ctx, `SELECT `+gitIdentityColumns+` FROM git_identities i WHERE i.org_id = $1 AND i.id = $2`, orgID, id)); err != nil {
			return err
		}
		if !created {
			return nil
		}
		return audit(ctx, tx, orgID, actor, "git.declare", "GitIdentity", id, nil,
			map[string]any{"provider": provider, "email": email, "login": login})
	})
	return out, err
}
