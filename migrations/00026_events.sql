-- +goose Up
-- The change feed (docs/events.md). Every change a platform cares about is
-- appended here in the transaction of the change. Two numbers order it:
--
-- id, an identity taken when the event is inserted. Writers insert an
-- event after the statement that changed (and so row-locked) its
-- resource, and the lock is held until commit, so for one resource id
-- order is commit order. Across resources ids commit out of order.
--
-- seq, the position in the feed, NULL until the sequencer assigns it
-- after commit. The sequencer is a single writer (it locks the one row of
-- event_sequencer): each pass numbers every committed, unnumbered event
-- in id order, continuing from last_seq, and commits. A pass commits all
-- its numbers at once and passes never overlap, so a reader that sees seq
-- n has seen every seq below n: "seq greater than my cursor" never skips
-- an event. An event of a resource is committed only after the earlier
-- events of that resource (they held its row lock), so it is numbered in
-- the same pass as them or a later one, and after them.
CREATE TABLE events (
    org_id        uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    seq           bigint,
    type          text        NOT NULL,
    resource_type text        NOT NULL,
    resource_id   text        NOT NULL,
    actor_kind    text        NOT NULL,
    actor_name    text        NOT NULL,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    data          jsonb       NOT NULL,
    PRIMARY KEY (org_id, id)
);
-- The feed: an organization's numbered events in order.
CREATE UNIQUE INDEX events_feed_idx ON events (org_id, seq) WHERE seq IS NOT NULL;
-- The sequencer's work list: small, since events are numbered within a
-- second of their commit.
CREATE INDEX events_unsequenced_idx ON events (id) WHERE seq IS NULL;
-- Retention deletes by age.
CREATE INDEX events_occurred_idx ON events (occurred_at);

CREATE TABLE event_sequencer (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_seq bigint  NOT NULL DEFAULT 0
);
INSERT INTO event_sequencer DEFAULT VALUES;

-- What retention removed, per organization: a cursor below pruned_seq
-- points at events that are gone (410 Gone on the feed).
CREATE TABLE event_retention (
    org_id     uuid   PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    pruned_seq bigint NOT NULL
);

-- +goose Down
DROP TABLE event_retention;
DROP TABLE event_sequencer;
DROP TABLE events;
