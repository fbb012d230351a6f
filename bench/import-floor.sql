-- What Postgres alone needs to store events and their revisions, as a floor
-- under any import: copies the store's `events` and `event_revisions` rows
-- (run it after an import, e.g. on the benchmark's import database) into
-- scratch tables of the same shape, once with every index the schema has and
-- once with none, and prints microseconds per row. The copies skip what an
-- import adds on top (foreign-key checks, the history's triggers, parsing
-- the bound arrays, the child tables), so an import can only be slower.
--
--   psql "$DATABASE_URL" -X -q -f bench/import-floor.sql
--
-- The scratch tables are dropped at the end; the store is not changed.
\set ON_ERROR_STOP on
SET jit = off;

CREATE TEMP TABLE floor_result (tbl text, indexes text, rows bigint, ms numeric);

CREATE FUNCTION pg_temp.copy_rows(source regclass, target text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    cols text;
    started timestamptz;
    n bigint;
BEGIN
    SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) INTO cols
    FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name = source::text AND is_generated = 'NEVER';
    EXECUTE format('TRUNCATE %I', target);
    started := clock_timestamp();
    EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM %s', target, cols, cols, source);
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO floor_result VALUES (source::text,
        CASE WHEN EXISTS (SELECT 1 FROM pg_index WHERE indrelid = target::regclass) THEN 'all' ELSE 'none' END,
        n, round(extract(epoch FROM clock_timestamp() - started) * 1000));
END $$;

CREATE FUNCTION pg_temp.measure(source regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    target text := 'floor_' || source::text;
    ix record;
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', target);
    -- Same columns, generated expressions, defaults, constraints and indexes;
    -- no foreign keys and no triggers.
    EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING ALL)', target, source);
    PERFORM pg_temp.copy_rows(source, target);
    FOR ix IN SELECT c.relname, con.conname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
              LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
              WHERE x.indrelid = target::regclass LOOP
        IF ix.conname IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', target, ix.conname);
        ELSE
            EXECUTE format('DROP INDEX %I', ix.relname);
        END IF;
    END LOOP;
    PERFORM pg_temp.copy_rows(source, target);
    EXECUTE format('DROP TABLE %I', target);
END $$;

\o /dev/null
CHECKPOINT;
SELECT pg_temp.measure('events');
CHECKPOINT;
SELECT pg_temp.measure('event_revisions');
\o

SELECT tbl AS "table", indexes, rows, ms,
       round(ms * 1000 / NULLIF(rows, 0), 1) AS "µs per row",
       round(rows * 1000 / NULLIF(ms, 0)) AS "rows per s"
FROM floor_result ORDER BY tbl DESC, indexes;
