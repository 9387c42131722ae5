-- +goose Up
-- Identities (userName, emails, Git emails and logins) compare
-- case-insensitively in ASCII only (DESIGN §9). lower() follows the
-- database's LC_CTYPE: under en_US.UTF-8, C.UTF-8 or an ICU locale it maps
-- the Kelvin sign (U+212A) to "k" and "İ" (U+0130) to "i", so an address
-- registered at an IdP as "\u212Aate@corp" equalled kate@corp's. ascii_lower
-- lower-cases A–Z and nothing else, under every locale; it is Go's
-- directory.FoldASCII. A SQL-standard body is parsed once, here (no
-- search_path at use), and is inlined, so queries written with it match
-- the indexes built on it.
CREATE FUNCTION ascii_lower(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN translate($1, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');

-- userName is unique per organization, ASCII case aside. Two names that
-- were equal under ascii_lower were equal under lower(), so the new index
-- always builds; names lower() merged (K and the Kelvin sign) are now two.
CREATE UNIQUE INDEX users_user_name_ascii_key ON users (org_id, ascii_lower(user_name));
DROP INDEX users_user_name_key;
ALTER INDEX users_user_name_ascii_key RENAME TO users_user_name_key;

CREATE UNIQUE INDEX invitations_pending_ascii_key ON invitations (org_id, ascii_lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
DROP INDEX invitations_pending_key;
ALTER INDEX invitations_pending_ascii_key RENAME TO invitations_pending_key;

-- users.emails was derived with Go's strings.ToLower, which folded a
-- Kelvin sign into "k": re-derive it from the document the IdP sent
-- (attributes.emails, kept as sent), as directory.User.Derive now does.
-- Only addresses with a non-ASCII character can differ.
UPDATE users u SET emails = ARRAY(
        SELECT ascii_lower(x.e ->> 'value')
        FROM jsonb_array_elements(u.attributes -> 'emails') WITH ORDINALITY AS x(e, n)
        WHERE jsonb_typeof(x.e -> 'value') = 'string' AND x.e ->> 'value' <> ''
        ORDER BY x.n)
    WHERE jsonb_typeof(u.attributes -> 'emails') = 'array'
      AND octet_length((u.attributes -> 'emails')::text) <> char_length((u.attributes -> 'emails')::text);

-- github_login is a GitHub login, which is ASCII: lower() let a Kelvin sign
-- in a noreply address pass the [a-z] pattern as "k". PostgreSQL 15 cannot
-- change a generated column's expression, so it is added again (with its
-- index) on ascii_lower.
DROP INDEX git_identities_github_login_idx;
ALTER TABLE git_identities DROP COLUMN github_login;
ALTER TABLE git_identities ADD COLUMN github_login text GENERATED ALWAYS AS (
    CASE WHEN provider <> 'github' THEN NULL
        WHEN login <> '' THEN ascii_lower(login)
        WHEN ascii_lower(email) LIKE '%@users.noreply.github.com'
        THEN substring(ascii_lower(email) FROM '^(?:[0-9]+\+)?([a-z0-9-]{1,39}(?:\[bot\])?)@users\.noreply\.github\.com$')
    END) STORED;
CREATE INDEX git_identities_github_login_idx ON git_identities (org_id, github_login) WHERE github_login IS NOT NULL;

-- +goose Down
-- Best effort: identities that ascii_lower keeps apart and lower() merges
-- make the unique indexes fail to build; remove one of them first.
DROP INDEX git_identities_github_login_idx;
ALTER TABLE git_identities DROP COLUMN github_login;
ALTER TABLE git_identities ADD COLUMN github_login text GENERATED ALWAYS AS (
    CASE WHEN provider <> 'github' THEN NULL
        WHEN login <> '' THEN lower(login)
        WHEN lower(email) LIKE '%@users.noreply.github.com'
        THEN substring(lower(email) FROM '^(?:[0-9]+\+)?([a-z0-9-]{1,39}(?:\[bot\])?)@users\.noreply\.github\.com$')
    END) STORED;
CREATE INDEX git_identities_github_login_idx ON git_identities (org_id, github_login) WHERE github_login IS NOT NULL;
CREATE UNIQUE INDEX invitations_pending_lower_key ON invitations (org_id, lower(email))
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
DROP INDEX invitations_pending_key;
ALTER INDEX invitations_pending_lower_key RENAME TO invitations_pending_key;
CREATE UNIQUE INDEX users_user_name_lower_key ON users (org_id, lower(user_name));
DROP INDEX users_user_name_key;
ALTER INDEX users_user_name_lower_key RENAME TO users_user_name_key;
DROP FUNCTION ascii_lower(text);
