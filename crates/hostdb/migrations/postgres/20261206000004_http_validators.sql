-- Conditional-request validators of `bugimporters serve` (issue 18): the ETag/Last-Modified
-- of each URL a tracker's run fetched conditionally, kept across runs and processes so that a
-- refresh of an unchanged listing answers 304 (which costs GitHub no rate-limit point). Keyed
-- by tracker and URL: one tracker's validators are never sent for another's requests. Written
-- after a run's records were imported, all of that tracker's rows at once. `link` is the
-- answer's Link header, given back with a 304 (which comes without it).
CREATE TABLE http_validators (
    tracker_id BIGINT NOT NULL REFERENCES trackers(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    etag TEXT NULL,
    last_modified TEXT NULL,
    link TEXT NULL,
    PRIMARY KEY (tracker_id, url)
);
