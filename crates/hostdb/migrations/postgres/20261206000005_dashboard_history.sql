-- The dashboard's history columns (issue 16): when each tracker's last successful run
-- finished (kept through later failures), and how many webhook deliveries concerned it.
ALTER TABLE tracker_schedule ADD COLUMN last_success TIMESTAMP NULL;
UPDATE tracker_schedule SET last_success = last_finished WHERE outcome = 'ok';

CREATE TABLE tracker_webhook_deliveries (
    tracker_id BIGINT PRIMARY KEY REFERENCES trackers(id) ON DELETE CASCADE,
    deliveries BIGINT NOT NULL,
    last_delivery TIMESTAMP NOT NULL
);
