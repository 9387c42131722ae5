-- +goose Up
-- An invitation to join an organization by email. Its token is stored only
-- as a digest, and only once a mail carrying it was sent: each send mints
-- a fresh token (a re-send invalidates the previous link), so no plain
-- token ever rests in the database, not even in the outbox.
CREATE TABLE invitations (
    org_id      uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    email       text        NOT NULL,
    any_email   boolean     NOT NULL DEFAULT false, -- accept a login with any verified email
    bindings    jsonb       NOT NULL DEFAULT '[]',  -- initial role bindings, applied on acceptance
    token_hash  bytea,
    invited_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    sent_at     timestamptz,
    accepted_at timestamptz,
    accepted_by uuid,
    revoked_at  timestamptz,
    PRIMARY KEY (org_id, id),
    CONSTRAINT invitations_email_length CHECK (char_length(email) BETWEEN 3 AND 320)
);
CREATE UNIQUE INDEX invitations_pending_key ON invitations (org_id, lower(email)) WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE UNIQUE INDEX invitations_token_key ON invitations (token_hash) WHERE token_hash IS NOT NULL;

-- The transactional outbox: a mail is queued in the transaction of the
-- change that needs it and sent afterwards, with retries and backoff.
CREATE TABLE outbox (
    org_id          uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    kind            text        NOT NULL,
    ref_id          uuid        NOT NULL, -- the invitation
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    failed_at       timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT outbox_kind_check CHECK (kind IN ('invitation'))
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE invitations;
