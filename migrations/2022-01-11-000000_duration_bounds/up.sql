-- Date windows: an event overlaps [from, to] when it starts by `to` and ends
-- from `from` on. An index on the start alone then has to scan from the very
-- first event (an event that began years ago may still be going on). But no
-- event starts earlier than `from` minus the longest duration of any event,
-- so queries add that lower bound, and these indexes make finding the
-- longest duration a single index probe (a MIN/MAX lookup) per query.
CREATE INDEX events_duration ON events ((occurred_until - occurred_start)) WHERE deleted_at IS NULL;
CREATE INDEX event_revisions_duration ON event_revisions ((occurred_until - occurred_start));
