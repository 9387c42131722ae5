-- +goose Up
-- Outbound webhooks (docs/events.md, "Webhooks"): an organization's
-- subscriptions, and the deliveries of its numbered events to them.
--
-- The signing secret is sealed with the service's secret key (AES-256-GCM,
-- bound to the organization and the subscription): an HMAC is computed with
-- the secret itself, so it is encrypted rather than hashed. previous_sealed
-- keeps signing beside it until previous_until after a rotation, so that a
-- receiver can switch over without rejecting a delivery.
--
-- cursor_seq is the fan-out position: every event of the organization
-- numbered at or below it has been enqueued as a delivery (or skipped by
-- the type filter). It advances in the transaction that inserts the
-- deliveries, so an event is enqueued once per subscription, whatever
-- crashes.
CREATE TABLE subscriptions (
    org_id          uuid        NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id              uuid        NOT NULL,
    url             text        NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    event_types     text[]      NOT NULL DEFAULT '{}',
    description     text        NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    enabled         boolean     NOT NULL DEFAULT true,
    sealed          bytea       NOT NULL,
    previous_sealed bytea,
    previous_until  timestamptz,
    cursor_seq      bigint      NOT NULL,
    -- Since when every attempt has failed (NULL: the last one succeeded);
    -- auto-disable looks at it.
    failing_since   timestamptz,
    -- 'failing' when the service disabled it, NULL when an admin did.
    disabled_reason text,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);

-- One row per (subscription, event) to send, and the log of how it went.
-- A pending row is due at next_attempt_at; a worker that takes it holds a
-- lease (lease_until, lease_token) while it sends, so that two replicas
-- never send it at once; a lease that runs out (the worker died) lets
-- another take it again: at least once, with the same event id. A pending
-- row of a resource waits while one of the same resource with a lower
-- seq is pending for the subscription: per resource, the receiver gets
-- the changes in feed order.
CREATE TABLE subscription_deliveries (
    org_id          uuid        NOT NULL,
    id              bigint      GENERATED ALWAYS AS IDENTITY,
    subscription_id uuid        NOT NULL,
    event_id        bigint      NOT NULL,
    seq             bigint      NOT NULL,
    resource_key    text        NOT NULL,
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    lease_token     text,
    created_at      timestamptz NOT NULL,
    last_attempt_at timestamptz,
    finished_at     timestamptz,
    status_code     integer,
    latency_ms      integer,
    last_error      text,
    -- A redelivery an admin asked for: the row it repeats.
    redelivery_of   bigint,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, subscription_id) REFERENCES subscriptions (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, event_id) REFERENCES events (org_id, id) ON DELETE CASCADE
);
-- The worker's queue: a subscription's pending rows in feed order.
CREATE INDEX subscription_deliveries_pending_idx ON subscription_deliveries (org_id, subscription_id, seq)
    WHERE state = 'pending';
-- The per-resource order check: an earlier pending row of the resource.
CREATE INDEX subscription_deliveries_resource_idx ON subscription_deliveries (org_id, subscription_id, resource_key, seq)
    WHERE state = 'pending';
-- The log, newest first, and its pruning.
CREATE INDEX subscription_deliveries_log_idx ON subscription_deliveries (org_id, subscription_id, id);
CREATE INDEX subscription_deliveries_finished_idx ON subscription_deliveries (finished_at) WHERE state <> 'pending';
-- Deleting an event (retention) finds its deliveries.
CREATE INDEX subscription_deliveries_event_idx ON subscription_deliveries (org_id, event_id);

-- +goose Down
DROP TABLE subscription_deliveries;
DROP TABLE subscriptions;
