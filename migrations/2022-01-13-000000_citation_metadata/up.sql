-- Each citation keeps the title, publisher and publication time it was
-- written with. Before, they lived only on the source shared by URL, so a
-- write citing the URL with a new title changed how every other event
-- citing it read, without a new version of those events: their ETag
-- (their version) and their latest revision then no longer described what
-- a read returned. `sources` still deduplicates URLs and keeps the latest
-- metadata seen for each, as a catalogue.
ALTER TABLE event_sources
    ADD COLUMN title        text,
    ADD COLUMN publisher    text,
    ADD COLUMN published_at timestamptz;

UPDATE event_sources es
SET title = s.title, publisher = s.publisher, published_at = s.published_at
FROM sources s
WHERE s.id = es.source_id;
