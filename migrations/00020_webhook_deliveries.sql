-- +goose Up
-- The push deliveries an organization's webhooks ingested lately, so that
-- a delivery replayed (by an attacker who captured one, or by the Git host
-- retrying) is ignored. delivery_id is the host's id of the delivery
-- (GitHub X-GitHub-Delivery, GitLab X-Gitlab-Event-UUID). The host signs
-- the body, not that header (GitHub), or sends a static token (GitLab), so
-- the body's SHA-256 is unique too: a captured body replayed under a new
-- id is the same delivery. The row is written in the ingest's transaction;
-- the reconciler deletes rows older than the window (7 days).
CREATE TABLE webhook_deliveries (
    org_id         uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider       text        NOT NULL,
    delivery_id    text        NOT NULL,
    payload_sha256 bytea       NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, provider, delivery_id),
    CONSTRAINT webhook_deliveries_provider_check CHECK (provider IN ('github', 'gitlab'))
);
CREATE UNIQUE INDEX webhook_deliveries_payload_idx ON webhook_deliveries (org_id, provider, payload_sha256);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (org_id, received_at);

-- +goose Down
DROP TABLE webhook_deliveries;
