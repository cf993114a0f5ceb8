-- Indexes the service needs at thousands of trackers (docs/performance.md, "The service"):
-- a lease pass takes a host's oldest due trackers in index order instead of sorting every
-- due tracker of the host, and recording an import run (one per service run) finds its row
-- without scanning every earlier run.
CREATE INDEX tracker_schedule_host_due ON tracker_schedule(host_key, next_due, tracker_id);
CREATE INDEX import_runs_started ON import_runs(started_at);
