-- Change capture for `GET /events` (see docs/host-database.md and docs/events.md): every
-- change an import makes to `bugs` is a row here, written in the same transaction. Ids come
-- from `bug_event_seq` (taken last in the transaction, so ids are contiguous and commit in
-- order); the history is pruned to the last 100 000 events.
CREATE TABLE bug_events (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    tracker TEXT NOT NULL,
    project TEXT NOT NULL,
    link TEXT NOT NULL,
    bug TEXT NULL,
    created_at DATETIME NOT NULL
);

CREATE TABLE bug_event_seq (
    id INTEGER PRIMARY KEY,
    last_id BIGINT NOT NULL
);
INSERT INTO bug_event_seq (id, last_id) VALUES (1, 0);
