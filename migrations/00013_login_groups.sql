-- +goose Up
-- The groups an OpenID Provider named in a user's last sign-in (the
-- configured groups claim), for users that no SCIM client manages (JIT and
-- invited users): their group bindings ("SSO mappings") match these
-- values by externalId or displayName. Replaced at every sign-in; SCIM
-- users' memberships come from SCIM only.
CREATE TABLE login_groups (
    org_id  uuid NOT NULL,
    user_id uuid NOT NULL,
    value   text NOT NULL,
    PRIMARY KEY (org_id, user_id, value),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE CASCADE,
    CONSTRAINT login_groups_value_length CHECK (char_length(value) BETWEEN 1 AND 256)
);

-- +goose Down
DROP TABLE login_groups;
