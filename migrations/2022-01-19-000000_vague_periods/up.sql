-- A vague date covers its whole period: an event "in July 2022" (month
-- precision, stored at the first instant of July) or "on Thursday" (day
-- precision, stored at midnight) matches every date window that overlaps
-- the month or the day, not just its first instant. `occurred_until`, the
-- end of the closed interval date filters overlap with, becomes the last
-- instant of the precision's period that contains the event's end (or its
-- start, without an end), read in the event's time zone (UTC without one).

CREATE FUNCTION chronik_period_end(at timestamptz, unit text, zone text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (date_trunc(unit, at AT TIME ZONE COALESCE(zone, 'UTC'))
        + CASE unit
              WHEN 'year' THEN interval '1 year'
              WHEN 'month' THEN interval '1 month'
              WHEN 'day' THEN interval '1 day'
              WHEN 'hour' THEN interval '1 hour'
              WHEN 'minute' THEN interval '1 minute'
              ELSE interval '1 second'
          END
        - interval '1 microsecond') AT TIME ZONE COALESCE(zone, 'UTC');

-- A generated column's expression cannot be changed in place before
-- Postgres 17: drop it (with its two indexes) and add it again.
ALTER TABLE events DROP COLUMN occurred_until;
ALTER TABLE events ADD COLUMN occurred_until timestamptz
    GENERATED ALWAYS AS (chronik_period_end(COALESCE(occurred_end, occurred_start), precision, timezone)) STORED;
CREATE INDEX events_occurred_until ON events (occurred_until) WHERE deleted_at IS NULL;
CREATE INDEX events_duration ON events ((occurred_until - occurred_start)) WHERE deleted_at IS NULL;

-- The history keeps its own copy, which `as_of` reads filter by: recompute
-- it from each revision's snapshot. This is a schema change, not an edit of
-- what was recorded, so the append-only trigger is paused for it alone.
ALTER TABLE event_revisions DISABLE TRIGGER event_revisions_append_only;
UPDATE event_revisions SET occurred_until = chronik_period_end(
    COALESCE((snapshot ->> 'occurred_end')::timestamptz, occurred_start),
    COALESCE(snapshot ->> 'precision', 'second'),
    snapshot ->> 'timezone');
ALTER TABLE event_revisions ENABLE TRIGGER event_revisions_append_only;
