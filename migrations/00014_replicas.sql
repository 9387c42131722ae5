-- +goose Up
-- The serve processes that share this database, each seen by its
-- heartbeat: a replica divides per-organization rate limits by how many
-- are live, so that the limit holds for the service, not per process.
CREATE TABLE replicas (
    id         uuid        PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE replicas;
