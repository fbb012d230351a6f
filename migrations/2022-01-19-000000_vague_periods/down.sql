ALTER TABLE events DROP COLUMN occurred_until;
ALTER TABLE events ADD COLUMN occurred_until timestamptz
    GENERATED ALWAYS AS (COALESCE(occurred_end, occurred_start)) STORED;
CREATE INDEX events_occurred_until ON events (occurred_until) WHERE deleted_at IS NULL;
CREATE INDEX events_duration ON events ((occurred_until - occurred_start)) WHERE deleted_at IS NULL;
ALTER TABLE event_revisions DISABLE TRIGGER event_revisions_append_only;
UPDATE event_revisions SET occurred_until = COALESCE((snapshot ->> 'occurred_end')::timestamptz, occurred_start);
ALTER TABLE event_revisions ENABLE TRIGGER event_revisions_append_only;
DROP FUNCTION chronik_period_end(timestamptz, text, text);
