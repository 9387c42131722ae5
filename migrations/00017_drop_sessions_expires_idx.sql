-- +goose Up
-- Served a global prune of ended sessions that is gone: the reconciler
-- prunes per organization through sessions_ended_idx (00010), and logins
-- find sessions by their primary key. An unused index costs every login.
DROP INDEX sessions_expires_idx;

-- +goose Down
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
