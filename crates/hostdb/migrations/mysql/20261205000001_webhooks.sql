-- Signed webhook deliveries (bugimporters serve, POST /hooks/FORGE) and the refreshes of
-- single issues they queue (see docs/host-database.md). Timestamps are naive UTC.

-- One row per delivery that queued work, so that a redelivery or a replay of the same
-- delivery id does nothing twice. Rows older than the retention are pruned.
CREATE TABLE webhook_deliveries (
    forge VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    delivery_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    received_at DATETIME(6) NOT NULL,
    event VARCHAR(255) NOT NULL,
    refreshes BIGINT NOT NULL,
    PRIMARY KEY (forge, delivery_id),
    KEY webhook_deliveries_received (received_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The queue of issue refreshes: one row per (tracker, issue link) while a refresh is
-- pending or running. `generation` counts the requests; a finished refresh deletes the row
-- only if no request came in while it ran. Leased like the schedule's rows. Links of at most
-- 760 characters (the key's limit); longer ones are not queued.
CREATE TABLE webhook_refreshes (
    tracker_id BIGINT NOT NULL,
    link VARCHAR(760) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    requested_at DATETIME(6) NOT NULL,
    generation BIGINT NOT NULL DEFAULT 1,
    lease_owner VARCHAR(255) NULL,
    lease_run VARCHAR(64) NULL,
    lease_expires DATETIME(6) NULL,
    PRIMARY KEY (tracker_id, link),
    KEY webhook_refreshes_due (lease_expires, requested_at),
    CONSTRAINT webhook_refreshes_tracker_fk FOREIGN KEY (tracker_id) REFERENCES trackers(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
