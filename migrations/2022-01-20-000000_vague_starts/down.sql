DROP INDEX event_revisions_vague_start;
ALTER TABLE event_revisions DROP COLUMN occurred_from;
DROP INDEX events_vague_start;
ALTER TABLE events DROP COLUMN occurred_from;
DROP FUNCTION chronik_period_start(timestamptz, text, text);
