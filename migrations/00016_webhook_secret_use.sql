-- +goose Up
-- When the current webhook secret first verified a delivery: until then
-- the Git host still signs with the previous one, and a second rotation
-- keeps that one rather than dropping the secret in use.
ALTER TABLE webhook_secrets ADD COLUMN current_verified_at timestamptz;

-- +goose Down
ALTER TABLE webhook_secrets DROP COLUMN current_verified_at;
