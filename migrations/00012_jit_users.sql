-- +goose Up
-- Whether a user created by a first login (JIT) was named by an email its
-- IdP said is verified: only such a user may be adopted by a later SCIM
-- push of that address. Otherwise whoever could set an unverified address
-- at the IdP would sign in first and then inherit the provisioned account.
ALTER TABLE users ADD COLUMN verified_login boolean NOT NULL DEFAULT false;

-- The JIT users that are still members, by organization: the SCIM insert
-- looks here for one holding an address of the user it creates. Partial,
-- so that it holds only those few users whatever the table's statistics
-- say: right after a bulk push, before ANALYZE, the planner otherwise
-- scanned all users of the organization on every create.
CREATE INDEX users_jit_idx ON users (org_id) WHERE source = 'jit' AND removed_at IS NULL;

-- +goose Down
DROP INDEX users_jit_idx;
ALTER TABLE users DROP COLUMN verified_login;
