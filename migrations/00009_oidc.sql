-- +goose Up
-- An organization's OpenID Provider. The client secret is sealed with the
-- service's secret key (AES-256-GCM, bound to the organization): the token
-- endpoint needs the secret itself, so it cannot be hashed.
CREATE TABLE idp_settings (
    org_id               uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    issuer               text        NOT NULL,
    client_id            text        NOT NULL,
    client_secret_sealed bytea,
    scopes               text[]      NOT NULL DEFAULT '{openid,email,profile}',
    email_claim          text        NOT NULL DEFAULT 'email',
    name_claim           text        NOT NULL DEFAULT 'name',
    groups_claim         text        NOT NULL DEFAULT 'groups',
    -- Entra ID's object id claim ('oid'), which equals the externalId its
    -- SCIM client sends; '' when the IdP has no such claim
    oid_claim            text        NOT NULL DEFAULT '',
    jit_policy           text        NOT NULL DEFAULT 'scim-only',
    jit_domains          text[]      NOT NULL DEFAULT '{}',
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id),
    CONSTRAINT idp_settings_jit_policy_check CHECK (jit_policy IN ('scim-only', 'jit', 'jit-with-domain')),
    CONSTRAINT idp_settings_issuer_length CHECK (char_length(issuer) BETWEEN 1 AND 2048),
    CONSTRAINT idp_settings_client_id_length CHECK (char_length(client_id) BETWEEN 1 AND 512)
);

-- A login identity (issuer, subject) bound to one user. The subject is only
-- unique per issuer, and an organization may change its issuer, so both
-- are the key.
CREATE TABLE user_links (
    org_id     uuid        NOT NULL,
    issuer     text        NOT NULL,
    subject    text        NOT NULL,
    user_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, issuer, subject),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX user_links_user_idx ON user_links (org_id, user_id);

-- Browser sessions, server-side so that every replica sees them and a
-- deactivation ends them at once. Only the SHA-256 of the session id is
-- stored. expires_at is the absolute timeout; the idle timeout is checked
-- against last_seen_at.
CREATE TABLE sessions (
    org_id       uuid        NOT NULL,
    id_hash      bytea       NOT NULL,
    user_id      uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    PRIMARY KEY (org_id, id_hash),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE
);
CREATE INDEX sessions_user_idx ON sessions (org_id, user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- +goose Down
DROP TABLE sessions;
DROP TABLE user_links;
DROP TABLE idp_settings;
