-- Signed webhook deliveries (bugimporters serve, POST /hooks/FORGE) and the refreshes of
-- single issues they queue (see docs/host-database.md). Timestamps are naive UTC.

-- One row per delivery that queued work, so that a redelivery or a replay of the same
-- delivery id does nothing twice. Rows older than the retention are pruned.
CREATE TABLE webhook_deliveries (
    forge TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    event TEXT NOT NULL,
    refreshes INTEGER NOT NULL,
    PRIMARY KEY (forge, delivery_id)
);
CREATE INDEX webhook_deliveries_received ON webhook_deliveries(received_at);

-- The queue of issue refreshes: one row per (tracker, issue link) while a refresh is
-- pending or running. `generation` counts the requests; a finished refresh deletes the row
-- only if no request came in while it ran. Leased like the schedule's rows.
CREATE TABLE webhook_refreshes (
    tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
    link TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    generation INTEGER NOT NULL DEFAULT 1,
    lease_owner TEXT NULL,
    lease_run TEXT NULL,
    lease_expires TIMESTAMP NULL,
    PRIMARY KEY (tracker_id, link)
);
CREATE INDEX webhook_refreshes_due ON webhook_refreshes(lease_expires, requested_at);
