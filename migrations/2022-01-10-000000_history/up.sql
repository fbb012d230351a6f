-- History reads ("as of" an instant) rely on two facts about each event's
-- revisions, which every writer (the API, imports, hand-written SQL) must
-- respect, so the database enforces them:
--  * versions run 1, 2, 3, … without gaps, and
--  * known_at never decreases from one version to the next.
-- Then the revision an event had at instant T is the one whose known_at is
-- at most T while the next version's is later (or absent): one primary-key
-- probe per candidate row.
CREATE FUNCTION chronik_check_revision_order() RETURNS trigger
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

CREATE TRIGGER event_revisions_in_order
    BEFORE INSERT ON event_revisions
    FOR EACH ROW EXECUTE FUNCTION chronik_check_revision_order();

-- `as_of` reads filter revisions by the actors, timelines and tags they had
-- then (arrays copied out of the snapshot); these let a selective filter
-- (a small timeline, a rare actor) use an index rather than walk the window.
CREATE INDEX event_revisions_actor_keys ON event_revisions USING gin (actor_keys);
CREATE INDEX event_revisions_timeline_slugs ON event_revisions USING gin (timeline_slugs);
CREATE INDEX event_revisions_tags ON event_revisions USING gin (tags);
