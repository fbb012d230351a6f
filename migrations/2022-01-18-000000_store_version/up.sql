-- The store's version: a counter that moves whenever anything a read can
-- show may have changed. Whole-result exports use it (with the request) as
-- their ETag, so that a client polling a TimelineJS or NDJSON URL gets a
-- `304` from one single-row read, without the export being run.
--
-- `epoch` tells one database from another (a recreated store starts its
-- counter again), so that a tag seen on one never matches on the other.
--
-- The counter is kept in 16 shards, each writer bumping the one its backend
-- picks, so that concurrent writers rarely queue on the same row; the
-- version is all 16 read together (any commit changes one of them).
CREATE TABLE store_version (
    shard smallint PRIMARY KEY CHECK (shard BETWEEN 0 AND 15),
    version bigint NOT NULL DEFAULT 0
);
INSERT INTO store_version (shard) SELECT generate_series(0, 15);
CREATE TABLE store_epoch (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    epoch uuid NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO store_epoch DEFAULT VALUES;

-- The counter must move in the same commit as the change (a reader that saw
-- the new number before the change was visible would tag old data with it,
-- and answer `304` for it forever after), and bumping it locks its row until
-- commit. Bumped by each statement, it would make every writer wait for a
-- running import's whole transaction. So a statement only notes the change
-- (one row here, once per transaction), and the bump runs as a deferred
-- trigger at commit: writers queue on a shard's row for the moment of
-- their commits only, and only when they picked the same shard.
CREATE TABLE store_version_pending (
    txid xid8 NOT NULL DEFAULT pg_current_xact_id()
);

CREATE FUNCTION chronik_note_store_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- A transaction-local flag: one pending row per transaction, however
    -- many statements it runs (a savepoint rolled back undoes both).
    IF current_setting('chronik.store_changed', true) IS DISTINCT FROM 'on' THEN
        INSERT INTO store_version_pending DEFAULT VALUES;
        PERFORM set_config('chronik.store_changed', 'on', true);
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION chronik_bump_store_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE store_version SET version = version + 1 WHERE shard = pg_backend_pid() % 16;
    DELETE FROM store_version_pending WHERE txid = NEW.txid;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER store_version_bump
    AFTER INSERT ON store_version_pending
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION chronik_bump_store_version();

-- Every table a read shows (events and their history, timelines and their
-- members, actors, sources, types, redactions); statement-level, so that a
-- bulk import costs one check per statement, not one per row. Tokens and
-- idempotency keys change no read's body and are left out.
DO $$
DECLARE
    shown text;
BEGIN
    FOREACH shown IN ARRAY ARRAY[
        'events', 'event_revisions', 'event_redactions', 'event_timelines',
        'event_actors', 'event_sources', 'sources', 'actors', 'timelines',
        'event_types'
    ] LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION chronik_note_store_change()',
            shown || '_store_version', shown
        );
    END LOOP;
END;
$$;
