-- +goose Up
-- Who a user is to the organization: kind (a person or a CI robot), where
-- it came from, and whether it was removed. SCIM sees and manages only
-- the users whose source is 'scim'.
ALTER TABLE users
    ADD COLUMN kind text NOT NULL DEFAULT 'human',
    ADD COLUMN source text NOT NULL DEFAULT 'scim',
    ADD COLUMN removed_at timestamptz,
    ADD CONSTRAINT users_kind_check CHECK (kind IN ('human', 'service')),
    ADD CONSTRAINT users_source_check CHECK (source IN ('scim', 'invitation', 'jit', 'service', 'breakglass'));
CREATE INDEX users_source_idx ON users (org_id, source, seq);

-- user_counts counts what SCIM lists: users whose source is 'scim'.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION count_users() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint := 0;
    org uuid;
BEGIN
    IF TG_OP = 'INSERT' THEN
        org := NEW.org_id;
        IF NEW.source = 'scim' THEN delta := 1; END IF;
    ELSIF TG_OP = 'DELETE' THEN
        org := OLD.org_id;
        IF OLD.source = 'scim' THEN delta := -1; END IF;
    ELSE
        org := NEW.org_id;
        delta := (NEW.source = 'scim')::int - (OLD.source = 'scim')::int;
    END IF;
    IF delta <> 0 THEN
        INSERT INTO user_counts AS c (org_id, shard, n) VALUES (org, floor(random() * 16)::smallint, delta)
        ON CONFLICT (org_id, shard) DO UPDATE SET n = c.n + delta;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER users_count_source AFTER UPDATE OF source ON users FOR EACH ROW EXECUTE FUNCTION count_users();

-- A workspace is a named set of {cluster, namespace} targets; a target
-- belongs to one workspace of an organization at most.
CREATE TABLE workspaces (
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT workspaces_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);
CREATE UNIQUE INDEX workspaces_name_key ON workspaces (org_id, lower(name));

CREATE TABLE workspace_targets (
    org_id       uuid NOT NULL,
    workspace_id uuid NOT NULL,
    cluster      text NOT NULL,
    namespace    text NOT NULL,
    PRIMARY KEY (org_id, workspace_id, cluster, namespace),
    FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id) ON DELETE CASCADE,
    CONSTRAINT workspace_targets_length CHECK (char_length(cluster) BETWEEN 1 AND 253 AND char_length(namespace) BETWEEN 1 AND 253)
);
CREATE UNIQUE INDEX workspace_targets_key ON workspace_targets (org_id, cluster, namespace);

-- A role binding gives a role to one user or to an IdP group (named by its
-- SCIM id, externalId or displayName), on a workspace or, for org-admin,
-- on the organization. Bindings add up; the highest role wins.
CREATE TABLE role_bindings (
    org_id       uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    role         text        NOT NULL,
    workspace_id uuid,
    user_id      uuid,
    group_match  text,
    group_value  text,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, workspace_id) REFERENCES workspaces (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    CONSTRAINT role_bindings_role_check CHECK (role IN ('viewer', 'runner', 'editor', 'workspace-admin', 'org-admin')),
    CONSTRAINT role_bindings_scope_check CHECK ((role = 'org-admin') = (workspace_id IS NULL)),
    CONSTRAINT role_bindings_subject_check CHECK ((user_id IS NULL) <> (group_value IS NULL)),
    CONSTRAINT role_bindings_match_check CHECK ((group_value IS NULL) = (group_match IS NULL)
        AND (group_match IS NULL OR group_match IN ('id', 'externalId', 'displayName')))
);
CREATE UNIQUE INDEX role_bindings_key ON role_bindings (org_id, role,
    coalesce(workspace_id, '00000000-0000-0000-0000-000000000000'), coalesce(user_id::text, group_match || ':' || group_value));
CREATE INDEX role_bindings_user_idx ON role_bindings (org_id, user_id) WHERE user_id IS NOT NULL;

-- An admin API token, owned by a user or service account of one
-- organization. Only its SHA-256 digest is stored.
CREATE TABLE api_tokens (
    org_id       uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    name         text        NOT NULL,
    owner_id     uuid        NOT NULL,
    token_hash   bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, owner_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    CONSTRAINT api_tokens_hash_length CHECK (octet_length(token_hash) = 32),
    CONSTRAINT api_tokens_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);
CREATE UNIQUE INDEX api_tokens_hash_key ON api_tokens (org_id, token_hash);
-- The admin API finds a token by its digest alone, so that a token of one
-- organization used on another's URL is told "not found", like any other
-- thing of another tenant.
CREATE INDEX api_tokens_hash_idx ON api_tokens (token_hash);
CREATE UNIQUE INDEX api_tokens_live_name_key ON api_tokens (org_id, name) WHERE revoked_at IS NULL;
CREATE INDEX api_tokens_owner_idx ON api_tokens (org_id, owner_id);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE role_bindings;
DROP TABLE workspace_targets;
DROP TABLE workspaces;
DROP TRIGGER users_count_source ON users;
ALTER TABLE users DROP COLUMN removed_at, DROP COLUMN source, DROP COLUMN kind;
