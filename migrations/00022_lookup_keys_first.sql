-- +goose Up
-- The indexes that answer an identity provider's lookups (userName,
-- externalId, id, a group's displayName, externalId and id, the groups of
-- a member) lead with the key rather than with org_id. A lookup then
-- finds its candidates by the key alone and checks the organization on
-- those few rows, with a condition on org_id that no index can take
-- (userProbeSQL): an index led by org_id would let the planner, on the
-- stale statistics of an initial push, walk the whole organization
-- instead, at the same estimated cost. Unique indexes keep org_id, as
-- every unique index does. Reordering costs no write; the two indexes on
-- id are new (the primary keys lead with org_id).
CREATE UNIQUE INDEX users_user_name_key_first ON users (ascii_lower(user_name), org_id);
DROP INDEX users_user_name_key;
ALTER INDEX users_user_name_key_first RENAME TO users_user_name_key;

CREATE INDEX users_external_id_first ON users (external_id, org_id) WHERE external_id IS NOT NULL;
DROP INDEX users_external_id_idx;
ALTER INDEX users_external_id_first RENAME TO users_external_id_idx;

CREATE INDEX users_id_idx ON users (id);

CREATE UNIQUE INDEX groups_display_name_key_first ON groups (display_name, org_id);
DROP INDEX groups_display_name_key;
ALTER INDEX groups_display_name_key_first RENAME TO groups_display_name_key;

CREATE INDEX groups_external_id_first ON groups (external_id, org_id) WHERE external_id IS NOT NULL;
DROP INDEX groups_external_id_idx;
ALTER INDEX groups_external_id_first RENAME TO groups_external_id_idx;

CREATE INDEX groups_id_idx ON groups (id);

CREATE INDEX group_members_user_first ON group_members (user_id, org_id, group_id);
DROP INDEX group_members_user_idx;
ALTER INDEX group_members_user_first RENAME TO group_members_user_idx;

-- +goose Down
CREATE INDEX group_members_user_last ON group_members (org_id, user_id, group_id);
DROP INDEX group_members_user_idx;
ALTER INDEX group_members_user_last RENAME TO group_members_user_idx;
DROP INDEX groups_id_idx;
CREATE INDEX groups_external_id_last ON groups (org_id, external_id) WHERE external_id IS NOT NULL;
DROP INDEX groups_external_id_idx;
ALTER INDEX groups_external_id_last RENAME TO groups_external_id_idx;
CREATE UNIQUE INDEX groups_display_name_key_last ON groups (org_id, display_name);
DROP INDEX groups_display_name_key;
ALTER INDEX groups_display_name_key_last RENAME TO groups_display_name_key;
DROP INDEX users_id_idx;
CREATE INDEX users_external_id_last ON users (org_id, external_id) WHERE external_id IS NOT NULL;
DROP INDEX users_external_id_idx;
ALTER INDEX users_external_id_last RENAME TO users_external_id_idx;
CREATE UNIQUE INDEX users_user_name_key_last ON users (org_id, ascii_lower(user_name));
DROP INDEX users_user_name_key;
ALTER INDEX users_user_name_key_last RENAME TO users_user_name_key;
