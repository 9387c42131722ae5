-- +goose Up
-- Provisioning health (docs/provisioning.md). Each replica counts its SCIM
-- requests in memory and adds them here every few seconds, one row per
-- (organization, 10-minute bucket, token, operation, status, scimType):
-- no write per request. operation and scim_type come from fixed sets.
CREATE TABLE scim_request_stats (
    org_id    uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    bucket    timestamptz NOT NULL,
    token_id  uuid        NOT NULL,
    operation text        NOT NULL,
    status    smallint    NOT NULL,
    scim_type text        NOT NULL DEFAULT '',
    requests  bigint      NOT NULL,
    PRIMARY KEY (org_id, bucket, token_id, operation, status, scim_type),
    FOREIGN KEY (org_id, token_id) REFERENCES scim_tokens (org_id, id) ON DELETE CASCADE
);
-- Retention deletes by age, across organizations.
CREATE INDEX scim_request_stats_bucket_idx ON scim_request_stats (bucket);

-- The last request of each token.
CREATE TABLE scim_token_last_request (
    org_id    uuid        NOT NULL,
    token_id  uuid        NOT NULL,
    at        timestamptz NOT NULL,
    operation text        NOT NULL,
    status    smallint    NOT NULL,
    client    text        NOT NULL,
    PRIMARY KEY (org_id, token_id),
    FOREIGN KEY (org_id, token_id) REFERENCES scim_tokens (org_id, id) ON DELETE CASCADE
);

-- The last failed requests of each organization, with their detail (the
-- body without secrets, bounded); the flush keeps the newest 100.
CREATE TABLE scim_failures (
    org_id    uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id        bigint      GENERATED ALWAYS AS IDENTITY,
    at        timestamptz NOT NULL,
    token_id  uuid        NOT NULL,
    operation text        NOT NULL,
    method    text        NOT NULL,
    path      text        NOT NULL,
    status    smallint    NOT NULL,
    scim_type text        NOT NULL,
    detail    text        NOT NULL,
    body      text        NOT NULL,
    client    text        NOT NULL,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, token_id) REFERENCES scim_tokens (org_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE scim_failures;
DROP TABLE scim_token_last_request;
DROP TABLE scim_request_stats;
