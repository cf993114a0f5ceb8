-- The service's schedule (bugimporters serve): one row per tracker, created by the scheduler
-- from `trackers` (see docs/host-database.md). Timestamps are naive UTC.
CREATE TABLE tracker_schedule (
    tracker_id BIGINT NOT NULL PRIMARY KEY,
    host_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    interval_secs BIGINT NOT NULL,
    tracker_modified_at DATETIME(6) NOT NULL,
    next_due DATETIME(6) NOT NULL,
    last_started DATETIME(6) NULL,
    last_finished DATETIME(6) NULL,
    outcome VARCHAR(20) NULL,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NULL,
    last_bugs BIGINT NULL,
    last_worker VARCHAR(255) NULL,
    lease_owner VARCHAR(255) NULL,
    lease_run VARCHAR(64) NULL,
    lease_expires DATETIME(6) NULL,
    KEY tracker_schedule_due (next_due),
    KEY tracker_schedule_host (host_key, lease_expires),
    CONSTRAINT tracker_schedule_tracker_fk FOREIGN KEY (tracker_id) REFERENCES trackers(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per tracker host: leasing a host's trackers locks its row, so that the per-host
-- budget of concurrent runs holds across every process.
CREATE TABLE schedule_hosts (
    host_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
