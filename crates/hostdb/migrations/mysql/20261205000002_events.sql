-- Change capture for `GET /events` (see docs/host-database.md and docs/events.md): every
-- change an import makes to `bugs` is a row here, written in the same transaction. Ids come
-- from `bug_event_seq` (taken last in the transaction: its row lock makes ids contiguous and
-- commit in order); the history is pruned to the last 100 000 events.
CREATE TABLE bug_events (
    id BIGINT NOT NULL PRIMARY KEY,
    kind VARCHAR(16) NOT NULL,
    tracker VARCHAR(255) NOT NULL,
    project VARCHAR(255) NOT NULL,
    link TEXT NOT NULL,
    bug LONGTEXT NULL,
    created_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE bug_event_seq (
    id BIGINT NOT NULL PRIMARY KEY,
    last_id BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
INSERT INTO bug_event_seq (id, last_id) VALUES (1, 0);
