-- +goose Up
-- Rotation without lost deliveries: the secret a rotation replaces keeps
-- verifying until previous_until, while the Git host is switched over.
ALTER TABLE webhook_secrets ADD COLUMN previous_sealed bytea, ADD COLUMN previous_until timestamptz;

-- +goose Down
ALTER TABLE webhook_secrets DROP COLUMN previous_sealed, DROP COLUMN previous_until;
