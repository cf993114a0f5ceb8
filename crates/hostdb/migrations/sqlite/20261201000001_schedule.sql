-- The service's schedule (bugimporters serve): one row per tracker, created by the scheduler
-- from `trackers` (see docs/host-database.md). Timestamps are naive UTC.
CREATE TABLE tracker_schedule (
    tracker_id INTEGER PRIMARY KEY REFERENCES trackers(id) ON DELETE CASCADE,
    host_key TEXT NOT NULL,
    interval_secs INTEGER NOT NULL,
    tracker_modified_at TIMESTAMP NOT NULL,
    next_due TIMESTAMP NOT NULL,
    last_started TIMESTAMP NULL,
    last_finished TIMESTAMP NULL,
    outcome TEXT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NULL,
    last_bugs INTEGER NULL,
    last_worker TEXT NULL,
    lease_owner TEXT NULL,
    lease_run TEXT NULL,
    lease_expires TIMESTAMP NULL
);
CREATE INDEX tracker_schedule_due ON tracker_schedule(next_due);
CREATE INDEX tracker_schedule_host ON tracker_schedule(host_key, lease_expires);

-- One row per tracker host: leasing a host's trackers locks its row, so that the per-host
-- budget of concurrent runs holds across every process.
CREATE TABLE schedule_hosts (
    host_key TEXT PRIMARY KEY NOT NULL
);
