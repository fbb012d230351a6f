-- The change feed (GET /v1/changes, and the live streams on top of it):
-- every revision in an order a reader can resume from, and never a commit
-- skipped. Sequence numbers and clocks are read when a transaction writes,
-- not when it commits, so a reader that saw positions 11 and 13 could later
-- find a 12 that committed last. Instead each revision carries the id of the
-- transaction that wrote it (`feed_xid`), and readers serve only revisions
-- whose `feed_xid` is older than the oldest transaction still running
-- (`pg_snapshot_xmin` of their snapshot): every transaction below that has
-- ended, so nothing can ever appear behind a position already served. The
-- feed orders by (feed_xid, feed_seq); writes pay one column and one index
-- entry, and never wait for each other (bench/README.md measures it).
--
-- Transaction ids are handed out at a transaction's first write, so a
-- writer with an older id can still change an event after a younger
-- writer's change to it committed. To keep an event's versions in version
-- order in the feed, a revision's feed_xid is at least its previous
-- version's: it is served once both writers have ended, after that one.
ALTER TABLE event_revisions ADD COLUMN feed_xid bigint, ADD COLUMN feed_seq bigint;
CREATE SEQUENCE event_revisions_feed_seq AS bigint OWNED BY event_revisions.feed_seq;

-- Revisions written before the feed existed come first, in recorded order.
ALTER TABLE event_revisions DISABLE TRIGGER event_revisions_append_only;
UPDATE event_revisions r SET feed_xid = 0, feed_seq = o.n
FROM (SELECT event_id, version,
             row_number() OVER (ORDER BY recorded_at, event_id, version) AS n
      FROM event_revisions) o
WHERE r.event_id = o.event_id AND r.version = o.version;
ALTER TABLE event_revisions ENABLE TRIGGER event_revisions_append_only;
SELECT setval('event_revisions_feed_seq', COALESCE((SELECT max(feed_seq) FROM event_revisions), 0) + 1, false);

ALTER TABLE event_revisions
    ALTER COLUMN feed_seq SET DEFAULT nextval('event_revisions_feed_seq'),
    ALTER COLUMN feed_seq SET NOT NULL,
    ALTER COLUMN feed_xid SET NOT NULL;
CREATE INDEX event_revisions_feed ON event_revisions (feed_xid, feed_seq);
-- `since=` finds where a first sync begins by when revisions were recorded.
CREATE INDEX event_revisions_recorded_at ON event_revisions (recorded_at);

-- The insert trigger of the history migration, which every writer passes,
-- now also stamps the feed position; a writer cannot choose it.
CREATE OR REPLACE FUNCTION chronik_check_revision_order() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    previous_known_at timestamptz;
    previous_feed_xid bigint;
BEGIN
    NEW.feed_xid := pg_current_xact_id()::text::bigint;
    IF NEW.version = 1 THEN
        RETURN NEW;
    END IF;
    SELECT known_at, feed_xid INTO previous_known_at, previous_feed_xid
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
    NEW.feed_xid := GREATEST(NEW.feed_xid, previous_feed_xid);
    RETURN NEW;
END;
$$;

-- The wake-up of live streams: one notification per transaction that wrote
-- revisions (Postgres folds repeats), delivered at its commit to every
-- instance's listener, which then reads the feed. A lost notification only
-- delays delivery: the changes themselves are always read from the feed.
CREATE FUNCTION chronik_notify_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chronik_changes', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER event_revisions_notify
    AFTER INSERT ON event_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION chronik_notify_changes();
