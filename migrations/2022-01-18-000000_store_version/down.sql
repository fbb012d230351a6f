DO $$
DECLARE
    shown text;
BEGIN
    FOREACH shown IN ARRAY ARRAY[
        'events', 'event_revisions', 'event_redactions', 'event_timelines',
        'event_actors', 'event_sources', 'sources', 'actors', 'timelines',
        'event_types'
    ] LOOP
        EXECUTE format('DROP TRIGGER %I ON %I', shown || '_store_version', shown);
    END LOOP;
END;
$$;
DROP TABLE store_version_pending;
DROP TABLE store_version;
DROP TABLE store_epoch;
DROP FUNCTION chronik_bump_store_version();
DROP FUNCTION chronik_note_store_change();
