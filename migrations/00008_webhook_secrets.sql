-- +goose Up
-- The HMAC secret (GitHub) or token (GitLab) of an organization's push
-- webhooks, sealed with the service's secret key (AES-256-GCM, bound to
-- org and provider): a signature check needs the secret itself, so it is
-- encrypted rather than hashed.
CREATE TABLE webhook_secrets (
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider   text        NOT NULL,
    sealed     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, provider),
    CONSTRAINT webhook_secrets_provider_check CHECK (provider IN ('github', 'gitlab'))
);

-- +goose Down
DROP TABLE webhook_secrets;
