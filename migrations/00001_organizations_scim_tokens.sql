-- +goose Up
CREATE TABLE organizations (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slug       text        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organizations_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$')
);
CREATE UNIQUE INDEX organizations_slug_key ON organizations (slug);

-- A SCIM bearer token. Only its SHA-256 digest is stored; the plain token is
-- shown once, when it is created. Several live tokens per organization allow
-- rotation without downtime.
CREATE TABLE scim_tokens (
    org_id       uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    name         text        NOT NULL,
    token_hash   bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (org_id, id),
    CONSTRAINT scim_tokens_hash_length CHECK (octet_length(token_hash) = 32),
    CONSTRAINT scim_tokens_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);
CREATE UNIQUE INDEX scim_tokens_hash_key ON scim_tokens (org_id, token_hash);
-- Names identify live tokens (revoke by name); a revoked token's name may be reused.
CREATE UNIQUE INDEX scim_tokens_live_name_key ON scim_tokens (org_id, name) WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE scim_tokens;
DROP TABLE organizations;
