-- +goose Up
-- The platform's credential and trail (issue #14, the operator API). These
-- two tables belong to no organization, so they have no org_id, like
-- replicas: an operator token creates and deletes organizations, and the
-- operator's audit trail must outlive the organizations it names. Under
-- Citus they are reference tables. No column of theirs is named org_id on
-- purpose: deleting an organization deletes every row of every table that
-- has an org_id column (postgres.DeleteOrganization reads them from the
-- catalog), and the record of that deletion must stay.

-- An operator token (scb_op_…). Only its SHA-256 digest is stored; the
-- plain token is shown once. Every operator token expires.
CREATE TABLE operator_tokens (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text        NOT NULL,
    token_hash   bytea       NOT NULL,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    CONSTRAINT operator_tokens_hash_length CHECK (octet_length(token_hash) = 32),
    CONSTRAINT operator_tokens_name_length CHECK (char_length(name) BETWEEN 1 AND 100)
);
CREATE UNIQUE INDEX operator_tokens_hash_key ON operator_tokens (token_hash);
-- Names identify live tokens; a revoked token's name may be reused.
CREATE UNIQUE INDEX operator_tokens_live_name_key ON operator_tokens (name) WHERE revoked_at IS NULL;

-- What operators did: organizations created, renamed and deleted, operator
-- tokens minted and revoked. The organization is named by id and slug in
-- the row (organization_id, organization_slug), not by a foreign key: the
-- row stays when the organization goes.
CREATE TABLE operator_audit_events (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at       timestamptz NOT NULL DEFAULT now(),
    actor             text        NOT NULL,
    action            text        NOT NULL,
    resource_type     text        NOT NULL,
    resource_id       text        NOT NULL,
    organization_id   uuid,
    organization_slug text,
    before            jsonb,
    after             jsonb
);
CREATE INDEX operator_audit_events_time_idx ON operator_audit_events (occurred_at);
CREATE INDEX operator_audit_events_org_idx ON operator_audit_events (organization_id) WHERE organization_id IS NOT NULL;

-- +goose Down
DROP TABLE operator_audit_events;
DROP TABLE operator_tokens;
