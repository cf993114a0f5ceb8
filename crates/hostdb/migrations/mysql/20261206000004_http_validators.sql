-- Conditional-request validators of `bugimporters serve` (issue 18): the ETag/Last-Modified
-- of each URL a tracker's run fetched conditionally, kept across runs and processes so that a
-- refresh of an unchanged listing answers 304 (which costs GitHub no rate-limit point). Keyed
-- by tracker and URL: one tracker's validators are never sent for another's requests. Written
-- after a run's records were imported, all of that tracker's rows at once. `link` is the
-- answer's Link header, given back with a 304 (which comes without it). URLs of at most
-- 760 characters (the key's limit); longer ones are not kept.
CREATE TABLE http_validators (
    tracker_id BIGINT NOT NULL,
    url VARCHAR(760) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    etag VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    last_modified VARCHAR(255) NULL,
    link TEXT NULL,
    PRIMARY KEY (tracker_id, url),
    CONSTRAINT http_validators_tracker_fk FOREIGN KEY (tracker_id) REFERENCES trackers(id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
