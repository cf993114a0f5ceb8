-- Accounts of the web pages (/customs/): users, server-side sessions, failed logins for
-- throttling, the audit log of tracker changes, and the owner of each tracker
-- (see docs/host-database.md and docs/web.md). Timestamps are naive UTC.

-- A user: a unique name, an argon2id hash in the PHC string format (never the password),
-- a role (`admin` or `maintainer`).
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'maintainer')),
    created_at TIMESTAMP NOT NULL
);

-- A session: the SHA-256 (hex) of its random id (the cookie holds the id; a copy of the
-- table gives nobody a session), its user, its CSRF token and when it ends.
CREATE TABLE sessions (
    id_hash TEXT NOT NULL PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

-- One row per failed login, per key (`name:NAME` and `addr:ADDRESS`): a key with too many
-- recent rows is locked out. Old rows are pruned.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    throttle_key TEXT NOT NULL,
    failed_at TIMESTAMP NOT NULL
);
CREATE INDEX login_failures_key ON login_failures(throttle_key, failed_at);
CREATE INDEX login_failures_at ON login_failures(failed_at);

-- Who changed which tracker, when, and how (old and new values as JSON, secrets removed).
-- Kept when the tracker or the user goes: the names are copied.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    tracker_id INTEGER NULL,
    tracker_name TEXT NOT NULL,
    action TEXT NOT NULL,
    old_value TEXT NULL,
    new_value TEXT NULL
);
CREATE INDEX audit_log_tracker ON audit_log(tracker_id, id);

-- The user who created a tracker (maintainers may change only their own).
ALTER TABLE trackers ADD COLUMN created_by INTEGER NULL REFERENCES users(id) ON DELETE SET NULL;
