DROP TRIGGER event_revisions_notify ON event_revisions;
DROP FUNCTION chronik_notify_changes();
CREATE OR REPLACE FUNCTION chronik_check_revision_order() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous_known_at timestamptz;
BEGIN
    IF NEW.version = 1 THEN
        RETURN NEW;
    END IF;
    SELECT known_at INTO previous_known_at
    FROM event_revisions
    WHERE event_id = NEW.event_id AND version = NEW.version - 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'revision % of event % follows no revision %',
            NEW.version, NEW.event_id, NEW.version - 1
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.known_at < previous_known_at THEN
        RAISE EXCEPTION 'known_at % of revision % of event % is before the previous revision''s %',
            NEW.known_at, NEW.version, NEW.event_id, previous_known_at
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;
DROP INDEX event_revisions_recorded_at;
DROP INDEX event_revisions_feed;
ALTER TABLE event_revisions DROP COLUMN feed_seq, DROP COLUMN feed_xid;
