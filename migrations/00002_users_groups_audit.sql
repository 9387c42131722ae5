-- +goose Up
-- A user of an organization. SCIM's document is kept whole in attributes
-- (what the IdP sent, less id, meta, schemas, password and the derived
-- groups); the columns beside it are derived from it for indexed lookups.
CREATE TABLE users (
    org_id       uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    user_name    text        NOT NULL,
    external_id  text,
    active       boolean     NOT NULL DEFAULT true,
    display_name text,
    given_name   text,
    family_name  text,
    -- lower-cased emails[].value, for case-insensitive indexed lookup
    emails       text[]      NOT NULL DEFAULT '{}',
    attributes   jsonb       NOT NULL DEFAULT '{}',
    version      bigint      NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT users_user_name_length CHECK (char_length(user_name) BETWEEN 1 AND 512),
    CONSTRAINT users_external_id_length CHECK (char_length(external_id) BETWEEN 1 AND 512)
);
CREATE UNIQUE INDEX users_user_name_key ON users (org_id, lower(user_name));
-- externalId is the IdP's key, looked up on every Entra sync; RFC 7643
-- scopes it to the provisioning client and does not make it unique, and
-- Microsoft's reference tests send one externalId for several users.
CREATE INDEX users_external_id_idx ON users (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX users_seq_key ON users (org_id, seq);
CREATE INDEX users_emails_idx ON users USING gin (emails);
CREATE INDEX users_display_name_idx ON users (org_id, display_name);

CREATE TABLE groups (
    org_id       uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    seq          bigint      GENERATED ALWAYS AS IDENTITY,
    display_name text        NOT NULL,
    external_id  text,
    attributes   jsonb       NOT NULL DEFAULT '{}',
    version      bigint      NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT groups_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 512)
);
CREATE UNIQUE INDEX groups_display_name_key ON groups (org_id, display_name);
CREATE INDEX groups_external_id_idx ON groups (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE UNIQUE INDEX groups_seq_key ON groups (org_id, seq);

-- Membership is a row per (group, user), so a change costs what it changes.
CREATE TABLE group_members (
    org_id   uuid        NOT NULL,
    group_id uuid        NOT NULL,
    user_id  uuid        NOT NULL,
    -- the member's display name as the IdP sent it, if it sent one
    display  text,
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, group_id, user_id),
    FOREIGN KEY (org_id, group_id) REFERENCES groups (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user_idx ON group_members (org_id, user_id, group_id);

-- An append-only record of every change, written in the changing transaction.
CREATE TABLE audit_events (
    org_id        uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    actor         text        NOT NULL,
    action        text        NOT NULL,
    resource_type text        NOT NULL,
    resource_id   text        NOT NULL,
    before        jsonb,
    after         jsonb,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX audit_events_time_idx ON audit_events (org_id, occurred_at);
CREATE INDEX audit_events_resource_idx ON audit_events (org_id, resource_type, resource_id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE users;
