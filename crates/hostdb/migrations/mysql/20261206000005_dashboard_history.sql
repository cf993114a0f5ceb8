-- The dashboard's history columns (issue 16): when each tracker's last successful run
-- finished (kept through later failures), and how many webhook deliveries concerned it.
ALTER TABLE tracker_schedule ADD COLUMN last_success DATETIME(6) NULL;
UPDATE tracker_schedule SET last_success = last_finished WHERE outcome = 'ok';

CREATE TABLE tracker_webhook_deliveries (
    tracker_id BIGINT PRIMARY KEY,
    deliveries BIGINT NOT NULL,
    last_delivery DATETIME(6) NOT NULL,
    CONSTRAINT tracker_webhook_deliveries_tracker FOREIGN KEY (tracker_id)
        REFERENCES trackers(id) ON DELETE CASCADE
);
