-- bugimporters host database, MySQL/MariaDB dialect. Timestamps are naive UTC.
-- Text is utf8mb4; names and links have a binary collation so that they compare exactly,
-- as on the other databases. Unique keys are VARCHAR so that they can be indexed whole
-- (canonical_bug_link up to 768 characters, names up to 255).
CREATE TABLE projects (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    display_name VARCHAR(255) NOT NULL DEFAULT '',
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY projects_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE trackers (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    kind VARCHAR(100) NOT NULL,
    base_url TEXT NOT NULL,
    bug_project_name_format TEXT NOT NULL,
    bitesized_type TEXT NOT NULL,
    bitesized_text TEXT NOT NULL,
    documentation_type TEXT NOT NULL,
    documentation_text TEXT NOT NULL,
    as_appears_in_distribution TEXT NOT NULL,
    custom_parser TEXT NOT NULL,
    max_connections BIGINT NULL,
    options LONGTEXT NOT NULL,
    created_for_project_id BIGINT NULL,
    created_at DATETIME(6) NOT NULL,
    modified_at DATETIME(6) NOT NULL,
    UNIQUE KEY trackers_name (name),
    KEY trackers_kind (kind),
    CONSTRAINT trackers_project_fk FOREIGN KEY (created_for_project_id) REFERENCES projects(id) ON DELETE SET NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tracker_queries (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tracker_id BIGINT NOT NULL,
    url TEXT NOT NULL,
    kind TEXT NULL,
    description TEXT NULL,
    last_polled DATETIME(6) NULL,
    created_at DATETIME(6) NOT NULL,
    KEY tracker_queries_tracker (tracker_id),
    CONSTRAINT tracker_queries_tracker_fk FOREIGN KEY (tracker_id) REFERENCES trackers(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE bugs (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    canonical_bug_link VARCHAR(768) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    project_id BIGINT NOT NULL,
    tracker_id BIGINT NOT NULL,
    title LONGTEXT NULL,
    description LONGTEXT NULL,
    status TEXT NULL,
    importance TEXT NULL,
    people_involved BIGINT NULL,
    date_reported DATETIME(6) NULL,
    last_touched DATETIME(6) NULL,
    last_polled DATETIME(6) NOT NULL,
    submitter_username TEXT NULL,
    submitter_realname TEXT NULL,
    looks_closed BOOLEAN NOT NULL DEFAULT FALSE,
    good_for_newcomers BOOLEAN NOT NULL DEFAULT FALSE,
    concerns_just_documentation BOOLEAN NOT NULL DEFAULT FALSE,
    as_appears_in_distribution TEXT NULL,
    raw_data LONGTEXT NULL,
    content_hash BIGINT NOT NULL,
    created_at DATETIME(6) NOT NULL,
    modified_at DATETIME(6) NOT NULL,
    UNIQUE KEY bugs_link (canonical_bug_link),
    KEY bugs_tracker (tracker_id, last_polled),
    KEY bugs_project (project_id),
    CONSTRAINT bugs_project_fk FOREIGN KEY (project_id) REFERENCES projects(id),
    CONSTRAINT bugs_tracker_fk FOREIGN KEY (tracker_id) REFERENCES trackers(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE import_runs (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    started_at DATETIME(6) NOT NULL,
    finished_at DATETIME(6) NOT NULL,
    files LONGTEXT NOT NULL,
    inserted BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    status VARCHAR(20) NOT NULL,
    errors LONGTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
