ALTER TABLE event_revisions ALTER COLUMN snapshot TYPE jsonb USING snapshot::jsonb;
ALTER TABLE event_revisions
    DROP COLUMN lat,
    DROP COLUMN lon,
    DROP COLUMN search_config,
    DROP COLUMN search;
ALTER TABLE event_revisions
    ADD COLUMN lat double precision
        GENERATED ALWAYS AS ((snapshot #>> '{location,lat}')::double precision) STORED,
    ADD COLUMN lon double precision
        GENERATED ALWAYS AS ((snapshot #>> '{location,lon}')::double precision) STORED,
    ADD COLUMN search_config regconfig
        GENERATED ALWAYS AS (chronik_ts_config(snapshot ->> 'language')) STORED,
    ADD COLUMN search tsvector
        GENERATED ALWAYS AS (chronik_search_vector(snapshot ->> 'language', snapshot ->> 'title', snapshot ->> 'summary')) STORED;
CREATE INDEX event_revisions_search ON event_revisions USING gin (search);
CREATE INDEX event_revisions_location ON event_revisions USING gist (point(lon, lat));
