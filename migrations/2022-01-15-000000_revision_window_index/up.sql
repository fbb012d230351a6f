-- An `as_of` page of a date window walks the history from the window's start
-- minus the longest event, to catch events still running into it. With only
-- (occurred_start, event_id) indexed, every revision of those earlier days
-- was fetched from the heap to be rejected by `occurred_until >= from`
-- (about 4,000 per page on the 1M benchmark store, five revisions per
-- event). With occurred_until in the key, btree rejects them itself:
-- 3,500 → 230 buffers and about 23 → 3 ms for one page (bench/README.md).
-- The (occurred_start, event_id) index stays: keyset paging's row
-- comparison needs those two columns leading.
CREATE INDEX event_revisions_start_until ON event_revisions (occurred_start, occurred_until, event_id);
