-- +goose Up
-- The scheduled reconciler (package sync) reads only what changed since its
-- last successful run. A Git identity's last_seen is the commit's own
-- timestamp, which may be years old (a repository synced with its history)
-- or in the future (a wrong clock), so it cannot tell what changed.
-- touched_at is when scimbridge last wrote the row (an ingest that saw it
-- again, a map, an unmap, the release of a deleted user's identities by the
-- foreign key), on the database's clock, kept by a trigger so that no
-- writer can forget it.
ALTER TABLE git_identities ADD COLUMN touched_at timestamptz NOT NULL DEFAULT now();

-- +goose StatementBegin
CREATE FUNCTION touch_git_identity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.touched_at := now();
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER git_identities_touch BEFORE UPDATE ON git_identities FOR EACH ROW EXECUTE FUNCTION touch_git_identity();

CREATE INDEX git_identities_touched_idx ON git_identities (org_id, touched_at);
-- Pruning deletes unmapped identities nobody saw within the retention
-- window: this index holds only unmapped rows, so a prune reads what it
-- deletes, not the old mapped identities that stay forever.
CREATE INDEX git_identities_unmapped_seen_idx ON git_identities (org_id, greatest(last_seen, touched_at)) WHERE user_id IS NULL;
-- A pruned identity's commits go with it (ON DELETE CASCADE); without this
-- index each deleted identity would scan the organization's commits.
CREATE INDEX git_commits_identity_idx ON git_commits (org_id, identity_id);
-- Users changed since the last run (email changes, deactivation, removal).
CREATE INDEX users_updated_idx ON users (org_id, updated_at);

-- One row per organization per reconciler run (dry runs are not recorded).
-- since is the watermark the run read changes from, NULL for a full run.
-- counts holds, per job, what it planned and changed.
CREATE TABLE reconcile_runs (
    org_id      uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    outcome     text        NOT NULL,
    since       timestamptz,
    counts      jsonb       NOT NULL DEFAULT '{}',
    errors      text[]      NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, id),
    CONSTRAINT reconcile_runs_outcome_check CHECK (outcome IN ('ok', 'error', 'cancelled'))
);
CREATE INDEX reconcile_runs_time_idx ON reconcile_runs (org_id, started_at);
-- The watermark: the last successful run, and the last successful full run.
CREATE INDEX reconcile_runs_ok_idx ON reconcile_runs (org_id, started_at) WHERE outcome = 'ok';
CREATE INDEX reconcile_runs_full_idx ON reconcile_runs (org_id, started_at) WHERE outcome = 'ok' AND since IS NULL;

-- What the reconciler found and would not guess about, with the reason in
-- words. A conflict is open while it holds (resolved_at NULL): one open row
-- per (kind, identity); a later run sets resolved_at once it no longer
-- holds, and the same conflict arising again opens a new row.
CREATE TABLE reconcile_conflicts (
    org_id      uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id          uuid        NOT NULL DEFAULT gen_random_uuid(),
    kind        text        NOT NULL,
    identity_id uuid        NOT NULL,
    detail      text        NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, identity_id) REFERENCES git_identities (org_id, id) ON DELETE CASCADE,
    CONSTRAINT reconcile_conflicts_kind_check CHECK (kind IN ('ambiguous-email', 'mapped-to-removed', 'contradicts-email'))
);
CREATE UNIQUE INDEX reconcile_conflicts_open_key ON reconcile_conflicts (org_id, kind, identity_id) WHERE resolved_at IS NULL;
CREATE INDEX reconcile_conflicts_identity_idx ON reconcile_conflicts (org_id, identity_id);
CREATE INDEX reconcile_conflicts_resolved_idx ON reconcile_conflicts (org_id, resolved_at) WHERE resolved_at IS NOT NULL;

-- +goose Down
DROP TABLE reconcile_conflicts;
DROP TABLE reconcile_runs;
DROP INDEX users_updated_idx;
DROP INDEX git_commits_identity_idx;
DROP INDEX git_identities_unmapped_seen_idx;
DROP INDEX git_identities_touched_idx;
DROP TRIGGER git_identities_touch ON git_identities;
DROP FUNCTION touch_git_identity();
ALTER TABLE git_identities DROP COLUMN touched_at;
