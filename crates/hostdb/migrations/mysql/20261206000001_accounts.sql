-- Accounts of the web pages (/customs/): users, server-side sessions, failed logins for
-- throttling, the audit log of tracker changes, and the owner of each tracker
-- (see docs/host-database.md and docs/web.md). Timestamps are naive UTC.

-- A user: a unique name (compared exactly), an argon2id hash in the PHC string format
-- (never the password), a role (`admin` or `maintainer`).
CREATE TABLE users (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role VARCHAR(16) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY users_name (name),
    CONSTRAINT users_role CHECK (role IN ('admin', 'maintainer'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A session: the SHA-256 (hex) of its random id (the cookie holds the id; a copy of the
-- table gives nobody a session), its user, its CSRF token and when it ends.
CREATE TABLE sessions (
    id_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    csrf VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    KEY sessions_user (user_id),
    KEY sessions_expires (expires_at),
    CONSTRAINT sessions_user_fk FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per failed login, per key (`name:NAME` and `addr:ADDRESS`): a key with too many
-- recent rows is locked out. Old rows are pruned.
CREATE TABLE login_failures (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    throttle_key VARCHAR(300) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    failed_at DATETIME(6) NOT NULL,
    KEY login_failures_key (throttle_key, failed_at),
    KEY login_failures_at (failed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Who changed which tracker, when, and how (old and new values as JSON, secrets removed).
-- Kept when the tracker or the user goes: the names are copied.
CREATE TABLE audit_log (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    created_at DATETIME(6) NOT NULL,
    actor VARCHAR(255) NOT NULL,
    tracker_id BIGINT NULL,
    tracker_name VARCHAR(255) NOT NULL,
    action VARCHAR(32) NOT NULL,
    old_value LONGTEXT NULL,
    new_value LONGTEXT NULL,
    KEY audit_log_tracker (tracker_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The user who created a tracker (maintainers may change only their own).
ALTER TABLE trackers ADD COLUMN created_by BIGINT NULL,
    ADD CONSTRAINT trackers_created_by_fk FOREIGN KEY (created_by) REFERENCES users(id) ON DELETE SET NULL;
