-- +goose Up
-- One-time login links for an organization's break-glass owner, printed by
-- `scimbridge breakglass --org`: the way in when the IdP is down or
-- misconfigured. Only the SHA-256 of the link's token is stored; a link
-- works once, for a short time.
CREATE TABLE breakglass_links (
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    token_hash bytea       NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE UNIQUE INDEX breakglass_links_token_idx ON breakglass_links (token_hash);

-- +goose Down
DROP TABLE breakglass_links;
