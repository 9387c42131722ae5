package postgres

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scimbridge/internal/directory"
)

func validateWorkspace(name string, targets []directory.Target) error {
	if strings.TrimSpace(name) == "" || len(name) > 100 {
		return directory.Invalidf("a workspace needs a name of 1-100 characters")
	}
	if len(targets) > 1000 {
		return directory.Invalidf("a workspace holds at most 1000 targets")
	}
	for _, t := range targets {
		if t.Cluster == "" || t.Namespace == "" || len(t.Cluster) > 253 || len(t.Namespace) > 253 {
			return directory.Invalidf("each target needs a cluster and a namespace (at most 253 characters each)")
		}
	}
	return nil
}

func workspaceErr(err error, name string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "workspaces_name_key":
			return directory.Conflictf("a workspace named %q already exists", name)
		case "workspace_targets_key":
			return directory.Conflictf("a target belongs to another workspace already (%s)", pgErr.Detail)
		case "workspace_targets_pkey":
			return directory.Invalidf("a target is listed twice")
		}
	}
	return mapErr(err, "workspace")
}

// CreateWorkspace creates a workspace. ErrInvalid: a bad name or target.
// ErrConflict: the name (case-insensitively) or a target is taken.
func (db *DB) CreateWorkspace(ctx context.Context, actor directory.Actor, orgID, name string, targets []directory.Target) (directory.Workspace, error) {
	if err := validateWorkspace(name, targets); err != nil {
		return directory.Workspace{}, err
	}
	w := directory.Workspace{OrgID: orgID, Name: name, Targets: targets}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO workspaces (org_id, name) VALUES ($1, $2) RETURNING id`, orgID, name).Scan(&w.ID); err != nil {
			return workspaceErr(err, name)
		}
		if err := setTargets(ctx, tx, orgID, w.ID, targets); err != nil {
			return workspaceErr(err, name)
		}
		return audit(ctx, tx, orgID, actor, "workspace.create", "Workspace", w.ID, nil, w)
	})
	return w, err
}

func setTargets(ctx context.Context, tx pgx.Tx, orgID, wsID string, targets []directory.Target) error {
	if _, err := tx.Exec(ctx, `DELETE FROM workspace_targets WHERE org_id = $1 AND workspace_id = $2`, orgID, wsID); err != nil {
		return err
	}
	clusters := make([]string, len(targets))
	namespaces := make([]string, len(targets))
	for i, t := range targets {
		clusters[i], namespaces[i] = t.Cluster, t.Namespace
	}
	_, err := tx.Exec(ctx, `INSERT INTO workspace_targets (org_id, workspace_id, cluster, namespace)
		SELECT $1, $2, c, n FROM unnest($3::text[], $4::text[]) AS t(c, n)`, orgID, wsID, clusters, namespaces)
	return err
}

const workspaceSelect = `SELECT w.id, w.name, coalesce(
		(SELECT jsonb_agg(jsonb_build_object('cluster', t.cluster, 'namespace', t.namespace) ORDER BY t.cluster, t.namespace)
		   FROM workspace_targets t WHERE t.org_id = w.org_id AND t.workspace_id = w.id), '[]')
	FROM workspaces w WHERE w.org_id = $1`

func scanWorkspace(orgID string, r pgx.Row) (directory.Workspace, error) {
	w := directory.Workspace{OrgID: orgID}
	err := r.Scan(&w.ID, &w.Name, &w.Targets)
	return w, err
}

// Workspaces lists the organization's workspaces with their targets, by name.
func (db *DB) Workspaces(ctx context.Context, orgID string) ([]directory.Workspace, error) {
	rows, err := db.Pool.Query(ctx, workspaceSelect+` ORDER BY lower(w.name)`, orgID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Workspace, error) { return scanWorkspace(orgID, r) })
}

// Workspace finds a workspace by id or name (case-insensitively).
// ErrNotFound: none.
func (db *DB) Workspace(ctx context.Context, orgID, idOrName string) (directory.Workspace, error) {
	w, err := scanWorkspace(orgID, db.Pool.QueryRow(ctx, workspaceSelect+` AND (w.id::text = $2 OR lower(w.name) = lower($2))
		ORDER BY (w.id::text = $2) DESC LIMIT 1`, orgID, idOrName))
	if errors.Is(err, pgx.ErrNoRows) {
		return w, directory.NotFoundf("workspace %q not found", idOrName)
	}
	return w, err
}

// WorkspaceOf finds the workspace holding a {cluster, namespace} target.
// ErrNotFound: none does.
func (db *DB) WorkspaceOf(ctx context.Context, orgID string, t directory.Target) (string, error) {
	var id string
	err := db.Pool.QueryRow(ctx, `SELECT workspace_id FROM workspace_targets WHERE org_id = $1 AND cluster = $2 AND namespace = $3`,
		orgID, t.Cluster, t.Namespace).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", directory.NotFoundf("no workspace holds cluster %q namespace %q", t.Cluster, t.Namespace)
	}
	return id, err
}

// UpdateWorkspace renames a workspace and/or replaces its targets (nil
// leaves either as it is). Errors as CreateWorkspace, and ErrNotFound.
func (db *DB) UpdateWorkspace(ctx context.Context, actor directory.Actor, orgID, id string, name *string, targets []directory.Target) (directory.Workspace, error) {
	cur, err := db.Workspace(ctx, orgID, id)
	if err != nil {
		return cur, err
	}
	next := cur
	if name != nil {
		next.Name = *name
	}
	if targets != nil {
		next.Targets = targets
	}
	if err := validateWorkspace(next.Name, next.Targets); err != nil {
		return cur, err
	}
	sort.Slice(next.Targets, func(i, j int) bool {
		return next.Targets[i].Cluster+"\x00"+next.Targets[i].Namespace < next.Targets[j].Cluster+"\x00"+next.Targets[j].Namespace
	})
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE workspaces SET name = $3, updated_at = now() WHERE org_id = $1 AND id = $2`, orgID, cur.ID, next.Name)
		if err != nil {
			return workspaceErr(err, next.Name)
		}
		if tag.RowsAffected() == 0 {
			return directory.NotFoundf("workspace %q not found", id)
		}
		if targets != nil {
			if err := setTargets(ctx, tx, orgID, cur.ID, next.Targets); err != nil {
				return workspaceErr(err, next.Name)
			}
		}
		return audit(ctx, tx, orgID, actor, "workspace.update", "Workspace", cur.ID, cur, next)
	})
	return next, err
}

// DeleteWorkspace deletes a workspace; its targets and bindings go with it.
func (db *DB) DeleteWorkspace(ctx context.Context, actor directory.Actor, orgID, id string) error {
	cur, err := db.Workspace(ctx, orgID, id)
	if err != nil {
		return err
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		// Its bindings go with it: whoever had a role on it loses it.
		// The exclusive access lock keeps its users from changing while
		// they are found.
		if err := lockAccess(ctx, tx, orgID, true); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+bindingColumns+` FROM role_bindings b WHERE b.org_id = $1 AND b.workspace_id = $2`, orgID, cur.ID)
		if err != nil {
			return err
		}
		bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Binding, error) { return scanBinding(r) })
		if err != nil {
			return err
		}
		users, err := bindingSubjects(ctx, tx, orgID, bs)
		if err != nil {
			return err
		}
		roles, err := trackRoles(ctx, tx, orgID, users)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM workspaces WHERE org_id = $1 AND id = $2`, orgID, cur.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return directory.NotFoundf("workspace %q not found", id)
		}
		if err := audit(ctx, tx, orgID, actor, "workspace.delete", "Workspace", cur.ID, cur, nil); err != nil {
			return err
		}
		return appendRoleEvents(ctx, tx, orgID, actor, roles)
	})
}
