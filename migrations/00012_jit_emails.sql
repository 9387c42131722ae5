-- +goose Up
-- The addresses of users created by a first login (JIT), for a SCIM push
-- to find the user it must adopt. Partial: an organization's JIT users are
-- few, so every SCIM create can look here for next to nothing, where the
-- index of all users' emails would cost the initial push of 100,000.
CREATE INDEX users_jit_emails_idx ON users USING gin (emails) WHERE source = 'jit' AND removed_at IS NULL;

-- +goose Down
DROP INDEX users_jit_emails_idx;
