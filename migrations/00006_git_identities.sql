-- +goose Up
-- A Git author identity seen on an organization's synced repositories.
-- The key is (provider, email, login), normalised to lower case; a row has
-- one user_id at most, so an identity maps to one user or service account
-- at most — the unique key makes that rule hold under concurrent writes.
CREATE TABLE git_identities (
    org_id     uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    provider   text        NOT NULL,
    email      text        NOT NULL DEFAULT '',
    login      text        NOT NULL DEFAULT '',
    name       text        NOT NULL DEFAULT '',
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    commits    bigint      NOT NULL DEFAULT 0,
    user_id    uuid,
    mapped_by  text,
    mapped_at  timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id) ON DELETE SET NULL (user_id),
    CONSTRAINT git_identities_key_check CHECK (email <> '' OR login <> '')
);
CREATE UNIQUE INDEX git_identities_key ON git_identities (org_id, provider, email, login);
CREATE INDEX git_identities_email_idx ON git_identities (org_id, email) WHERE email <> '';
CREATE INDEX git_identities_login_idx ON git_identities (org_id, provider, login) WHERE login <> '';
CREATE INDEX git_identities_user_idx ON git_identities (org_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX git_identities_seen_idx ON git_identities (org_id, last_seen);

-- The repositories an identity was seen on.
CREATE TABLE git_identity_repos (
    org_id      uuid        NOT NULL,
    identity_id uuid        NOT NULL,
    repo        text        NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    commits     bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, identity_id, repo),
    FOREIGN KEY (org_id, identity_id) REFERENCES git_identities (org_id, id) ON DELETE CASCADE
);

-- Commits already counted: ingesting the same (repo, sha) twice is a no-op.
CREATE TABLE git_commits (
    org_id      uuid        NOT NULL,
    repo        text        NOT NULL,
    sha         text        NOT NULL,
    role        text        NOT NULL,
    identity_id uuid        NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (org_id, repo, sha, role, identity_id),
    FOREIGN KEY (org_id, identity_id) REFERENCES git_identities (org_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE git_commits;
DROP TABLE git_identity_repos;
DROP TABLE git_identities;
