-- +goose Up
-- The delivery queue, tuned after measuring a 100,000-event fan-out
-- (docs/BENCHMARKS.md, "Outbound webhook delivery"):
--
-- No foreign key to events: it cost an index probe per row of the
-- fan-out. A delivery whose event retention removed (30 days; deliveries
-- are given up after one) is logged as failed when claimed.
ALTER TABLE subscription_deliveries DROP CONSTRAINT subscription_deliveries_org_id_event_id_fkey;
DROP INDEX subscription_deliveries_event_idx;
-- The queue and the per-resource check order by (seq, id): a redelivery
-- shares its event's seq.
DROP INDEX subscription_deliveries_pending_idx;
CREATE INDEX subscription_deliveries_pending_idx ON subscription_deliveries (org_id, subscription_id, seq, id)
    WHERE state = 'pending';
DROP INDEX subscription_deliveries_resource_idx;
CREATE INDEX subscription_deliveries_resource_idx ON subscription_deliveries (org_id, subscription_id, resource_key, seq, id)
    WHERE state = 'pending';
-- The leases held, counted against the per-subscription bound.
CREATE INDEX subscription_deliveries_leased_idx ON subscription_deliveries (org_id, subscription_id, lease_until)
    WHERE state = 'pending' AND lease_until IS NOT NULL;

-- +goose Down
DROP INDEX subscription_deliveries_leased_idx;
DROP INDEX subscription_deliveries_resource_idx;
CREATE INDEX subscription_deliveries_resource_idx ON subscription_deliveries (org_id, subscription_id, resource_key, seq)
    WHERE state = 'pending';
DROP INDEX subscription_deliveries_pending_idx;
CREATE INDEX subscription_deliveries_pending_idx ON subscription_deliveries (org_id, subscription_id, seq)
    WHERE state = 'pending';
CREATE INDEX subscription_deliveries_event_idx ON subscription_deliveries (org_id, event_id);
DELETE FROM subscription_deliveries d WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.org_id = d.org_id AND e.id = d.event_id);
ALTER TABLE subscription_deliveries ADD FOREIGN KEY (org_id, event_id) REFERENCES events (org_id, id) ON DELETE CASCADE;
