-- +goose Up
-- The users created by a first login (JIT) that are still members, by
-- organization: the SCIM insert looks here for one holding an address of
-- the user it creates (and adopts it instead of making a second user).
-- Partial, so that it holds only those few users whatever the table's
-- statistics say: right after a bulk push, before ANALYZE, the planner
-- otherwise scanned all users of the organization on every create.
CREATE INDEX users_jit_idx ON users (org_id) WHERE source = 'jit' AND removed_at IS NULL;

-- +goose Down
DROP INDEX users_jit_idx;
