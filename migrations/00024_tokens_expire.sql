-- +goose Up
-- Every token expires (issue #10): tokens minted before that rule without
-- an expiry, an admin API token minted in another person's name among
-- them, would otherwise outlive whoever minted them. Each live one gets
-- 90 days from the upgrade, time to replace it, and the change is audited.
WITH expired AS (
    UPDATE scim_tokens SET expires_at = now() + interval '90 days'
    WHERE expires_at IS NULL AND revoked_at IS NULL
    RETURNING org_id, id, name, expires_at
)
INSERT INTO audit_events (org_id, actor, action, resource_type, resource_id, after)
SELECT org_id, 'migration:00024', 'scimtoken.expire', 'SCIMToken', id::text,
       jsonb_build_object('name', name, 'expires', expires_at)
FROM expired;

WITH expired AS (
    UPDATE api_tokens SET expires_at = now() + interval '90 days'
    WHERE expires_at IS NULL AND revoked_at IS NULL
    RETURNING org_id, id, name, owner_id, expires_at
)
INSERT INTO audit_events (org_id, actor, action, resource_type, resource_id, after)
SELECT org_id, 'migration:00024', 'apitoken.expire', 'APIToken', id::text,
       jsonb_build_object('name', name, 'owner', owner_id, 'expires', expires_at)
FROM expired;

-- +goose Down
-- The expiries stay: which tokens had none is in the audit trail.
SELECT 1;
