-- Each revision keeps its snapshot as `json`, the text Chronik wrote, rather
-- than `jsonb`. Reads hand a snapshot to the client as it is stored (see
-- `StoredEvent`), so every page, single read and export made Postgres render
-- `jsonb` back into text: on 100,000 snapshots the export's statement took
-- 1.2 s as `jsonb` and 0.45 s as `json` (bench/README.md). Imports and
-- writes gain too: `json` input is checked, not converted.
--
-- The columns Postgres derived from the snapshot (`->>` on `json` would parse
-- the text once per column) are written by the revision's insert instead,
-- copied from the event's row, which holds the same values when its revision
-- is appended (db::revisions::append). Existing values stay.
ALTER TABLE event_revisions
    ALTER COLUMN lat DROP EXPRESSION,
    ALTER COLUMN lon DROP EXPRESSION,
    ALTER COLUMN search_config DROP EXPRESSION,
    ALTER COLUMN search DROP EXPRESSION;
ALTER TABLE event_revisions ALTER COLUMN snapshot TYPE json USING snapshot::json;
