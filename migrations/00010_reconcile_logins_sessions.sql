-- +goose Up
-- The reconciler auto-maps an unmapped GitHub identity by its login when
-- the organization's mapped identities with that login all belong to one
-- user. GitHub logins compare case-insensitively, and a GitHub noreply
-- address (ID+login@users.noreply.github.com, or login@… for older
-- accounts) carries the login when the observation gave none: github_login
-- is that login, lower-cased, NULL for other providers and for identities
-- with neither. The pattern is directory.GitHubNoreplyLogin's rule (1-39
-- letters, digits or hyphens, or a GitHub App's "[bot]" login); a stored
-- column keeps the rule in one place for the survey, the apply-time
-- re-check and the index. PostgreSQL recomputes it on every update of the
-- row (a map, an ingest seeing it again), so the regular expression runs
-- only on noreply addresses: on all of them it cost the first run's 10,000
-- auto-maps a third more time.
ALTER TABLE git_identities ADD COLUMN github_login text GENERATED ALWAYS AS (
    CASE WHEN provider <> 'github' THEN NULL
        WHEN login <> '' THEN lower(login)
        WHEN lower(email) LIKE '%@users.noreply.github.com'
        THEN substring(lower(email) FROM '^(?:[0-9]+\+)?([a-z0-9-]{1,39}(?:\[bot\])?)@users\.noreply\.github\.com$')
    END) STORED;
-- The siblings of an identity (same login) and the owners of a login are
-- index ranges, so an incremental run's cost follows the changes.
CREATE INDEX git_identities_github_login_idx ON git_identities (org_id, github_login) WHERE github_login IS NOT NULL;

-- A login whose mapped identities belong to two users, or that names
-- another user than the identity's email, is a conflict, not a guess.
ALTER TABLE reconcile_conflicts DROP CONSTRAINT reconcile_conflicts_kind_check;
ALTER TABLE reconcile_conflicts ADD CONSTRAINT reconcile_conflicts_kind_check
    CHECK (kind IN ('ambiguous-email', 'mapped-to-removed', 'contradicts-email', 'ambiguous-login'));

-- The reconciler deletes login sessions that ended (expired or revoked)
-- more than a day ago, one organization at a time: this index holds when
-- each session ended, so that counting and deleting read the ended
-- sessions, not the live ones. least() ignores a NULL revoked_at.
CREATE INDEX sessions_ended_idx ON sessions (org_id, least(expires_at, revoked_at));

-- +goose Down
DROP INDEX sessions_ended_idx;
DELETE FROM reconcile_conflicts WHERE kind = 'ambiguous-login';
ALTER TABLE reconcile_conflicts DROP CONSTRAINT reconcile_conflicts_kind_check;
ALTER TABLE reconcile_conflicts ADD CONSTRAINT reconcile_conflicts_kind_check
    CHECK (kind IN ('ambiguous-email', 'mapped-to-removed', 'contradicts-email'));
DROP INDEX git_identities_github_login_idx;
ALTER TABLE git_identities DROP COLUMN github_login;
