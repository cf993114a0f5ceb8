-- bugimporters host database, SQLite dialect. Timestamps are naive UTC.
CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL
);

CREATE TABLE trackers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    base_url TEXT NOT NULL DEFAULT '',
    bug_project_name_format TEXT NOT NULL DEFAULT '',
    bitesized_type TEXT NOT NULL DEFAULT '',
    bitesized_text TEXT NOT NULL DEFAULT '',
    documentation_type TEXT NOT NULL DEFAULT '',
    documentation_text TEXT NOT NULL DEFAULT '',
    as_appears_in_distribution TEXT NOT NULL DEFAULT '',
    custom_parser TEXT NOT NULL DEFAULT '',
    max_connections INTEGER NULL,
    options TEXT NOT NULL DEFAULT '{}',
    created_for_project_id INTEGER NULL REFERENCES projects(id) ON DELETE SET NULL,
    created_at DATETIME NOT NULL,
    modified_at DATETIME NOT NULL
);
CREATE INDEX trackers_kind ON trackers(kind);

CREATE TABLE tracker_queries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    kind TEXT NULL,
    description TEXT NULL,
    last_polled DATETIME NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX tracker_queries_tracker ON tracker_queries(tracker_id);

CREATE TABLE bugs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    canonical_bug_link TEXT NOT NULL UNIQUE,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    tracker_id INTEGER NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
    title TEXT NULL,
    description TEXT NULL,
    status TEXT NULL,
    importance TEXT NULL,
    people_involved BIGINT NULL,
    date_reported DATETIME NULL,
    last_touched DATETIME NULL,
    last_polled DATETIME NOT NULL,
    submitter_username TEXT NULL,
    submitter_realname TEXT NULL,
    looks_closed BOOLEAN NOT NULL DEFAULT FALSE,
    good_for_newcomers BOOLEAN NOT NULL DEFAULT FALSE,
    concerns_just_documentation BOOLEAN NOT NULL DEFAULT FALSE,
    as_appears_in_distribution TEXT NULL,
    raw_data TEXT NULL,
    content_hash BIGINT NOT NULL,
    created_at DATETIME NOT NULL,
    modified_at DATETIME NOT NULL
);
CREATE INDEX bugs_tracker ON bugs(tracker_id, last_polled);
CREATE INDEX bugs_project ON bugs(project_id);

CREATE TABLE import_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at DATETIME NOT NULL,
    finished_at DATETIME NOT NULL,
    files TEXT NOT NULL,
    inserted BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    status TEXT NOT NULL,
    errors TEXT NOT NULL
);
