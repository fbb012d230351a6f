-- The start side of a vague date: an event of day precision stored at 15:00,
-- or of month precision stored on the 15th, may have happened at any time in
-- its day or month, so it matches every window that overlaps the period, not
-- only windows that reach its stored instant. `occurred_from` is the first
-- instant of the precision's period that holds `occurred_start`, read in the
-- event's time zone (UTC without one); date windows overlap
-- [occurred_from, occurred_until]. Lists still sort by `occurred_start`.

CREATE FUNCTION chronik_period_start(at timestamptz, unit text, zone text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN date_trunc(unit, at AT TIME ZONE COALESCE(zone, 'UTC')) AT TIME ZONE COALESCE(zone, 'UTC');

ALTER TABLE events ADD COLUMN occurred_from timestamptz
    GENERATED ALWAYS AS (chronik_period_start(occurred_start, precision, timezone)) STORED;

-- `to` filters on occurred_from, but the index that pages and scans windows
-- is on occurred_start. No event starts later than its period's start plus
-- the largest such gap of any event, so queries add that upper bound on
-- occurred_start (as the duration_bounds migration does for `from`), and
-- these indexes make finding the largest gap one MIN/MAX probe.
CREATE INDEX events_vague_start ON events ((occurred_start - occurred_from)) WHERE deleted_at IS NULL;

ALTER TABLE event_revisions ADD COLUMN occurred_from timestamptz;
ALTER TABLE event_revisions DISABLE TRIGGER event_revisions_append_only;
UPDATE event_revisions SET occurred_from = chronik_period_start(
    occurred_start,
    COALESCE(snapshot ->> 'precision', 'second'),
    snapshot ->> 'timezone');
ALTER TABLE event_revisions ENABLE TRIGGER event_revisions_append_only;
ALTER TABLE event_revisions ALTER COLUMN occurred_from SET NOT NULL;
CREATE INDEX event_revisions_vague_start ON event_revisions ((occurred_start - occurred_from));
