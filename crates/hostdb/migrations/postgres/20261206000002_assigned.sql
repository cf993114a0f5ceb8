-- Whether somebody has taken the bug, as its tracker says it (ParsedBug.assigned; issue 16).
-- NULL: the tracker does not say (and every row imported before this column existed). The bug
-- finder hides TRUE by default and counts NULL as not assigned.
ALTER TABLE bugs ADD COLUMN assigned BOOLEAN NULL;
