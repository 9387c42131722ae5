-- +goose Up
-- The number of users of each organization, kept exact by triggers so that
-- an unfiltered SCIM list answers totalResults without counting 100,000
-- rows. The count is spread over 16 rows per organization: concurrent
-- creates (an IdP's initial push) then rarely wait on one another's row
-- lock. sum(n) over an organization's rows is exact in any snapshot.
CREATE TABLE user_counts (
    org_id uuid     NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    shard  smallint NOT NULL,
    n      bigint   NOT NULL,
    PRIMARY KEY (org_id, shard)
);

-- +goose StatementBegin
CREATE FUNCTION count_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_counts AS c (org_id, shard, n) VALUES (NEW.org_id, floor(random() * 16)::smallint, 1)
        ON CONFLICT (org_id, shard) DO UPDATE SET n = c.n + 1;
    ELSE
        INSERT INTO user_counts AS c (org_id, shard, n) VALUES (OLD.org_id, floor(random() * 16)::smallint, -1)
        ON CONFLICT (org_id, shard) DO UPDATE SET n = c.n - 1;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER users_count AFTER INSERT OR DELETE ON users FOR EACH ROW EXECUTE FUNCTION count_users();

INSERT INTO user_counts (org_id, shard, n) SELECT org_id, 0, count(*) FROM users GROUP BY org_id;

-- +goose Down
DROP TRIGGER users_count ON users;
DROP FUNCTION count_users();
DROP TABLE user_counts;
