-- +goose Up
-- Deleting an organization (postgres.DeleteOrganization) deletes all its
-- users in one transaction. The count trigger would then update one row of
-- user_counts once per user, in that one transaction: each update adds a
-- version of the row that the next one walks past, so the deletion takes
-- time quadratic in the users (a minute for 20,000 users on the loaded test
-- machine, against 10 s without). The organization's counts go with it, so
-- the transaction that deletes it says so (the transaction-local setting
-- scimbridge.deleting_org, set to the organization's id) and the trigger
-- leaves that organization's count alone. Every other change counts as
-- before (00025).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION count_users() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint := 0;
    org uuid;
    s smallint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        org := NEW.org_id;
        IF NEW.source = 'scim' THEN delta := 1; END IF;
    ELSIF TG_OP = 'DELETE' THEN
        org := OLD.org_id;
        IF OLD.source = 'scim' THEN delta := -1; END IF;
        IF org::text = current_setting('scimbridge.deleting_org', true) THEN
            RETURN NULL;
        END IF;
    ELSE
        org := NEW.org_id;
        delta := (NEW.source = 'scim')::int - (OLD.source = 'scim')::int;
    END IF;
    IF delta = 0 THEN
        RETURN NULL;
    END IF;
    -- A shard this transaction holds already is not skipped: a
    -- transaction that changes many users keeps to one shard.
    SELECT c.shard INTO s FROM user_counts c WHERE c.org_id = org ORDER BY c.shard LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
        UPDATE user_counts SET n = n + delta WHERE org_id = org AND shard = s;
    ELSE
        INSERT INTO user_counts AS c (org_id, shard, n) VALUES (org, floor(random() * 32767)::smallint, delta)
        ON CONFLICT (org_id, shard) DO UPDATE SET n = c.n + delta;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION count_users() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint := 0;
    org uuid;
    s smallint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        org := NEW.org_id;
        IF NEW.source = 'scim' THEN delta := 1; END IF;
    ELSIF TG_OP = 'DELETE' THEN
        org := OLD.org_id;
        IF OLD.source = 'scim' THEN delta := -1; END IF;
    ELSE
        org := NEW.org_id;
        delta := (NEW.source = 'scim')::int - (OLD.source = 'scim')::int;
    END IF;
    IF delta = 0 THEN
        RETURN NULL;
    END IF;
    SELECT c.shard INTO s FROM user_counts c WHERE c.org_id = org ORDER BY c.shard LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
        UPDATE user_counts SET n = n + delta WHERE org_id = org AND shard = s;
    ELSE
        INSERT INTO user_counts AS c (org_id, shard, n) VALUES (org, floor(random() * 32767)::smallint, delta)
        ON CONFLICT (org_id, shard) DO UPDATE SET n = c.n + delta;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
