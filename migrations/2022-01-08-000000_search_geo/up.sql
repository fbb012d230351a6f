-- Full-text search (`q=`) and bounding-box filters (`bbox=`).
--
-- Both tables that filters run on, `events` (current state) and
-- `event_revisions` (history, for "as of" reads), get the same generated
-- columns `search` and `search_config`, and `event_revisions` gets `lat` and
-- `lon` like `events`,
-- so one predicate works on either. Generated columns need no UPDATE, which the
-- append-only trigger on event_revisions would reject.

-- The text search configuration for an event's BCP 47 `language` (its primary
-- subtag): a stemming configuration where Postgres ships one, `simple` (no
-- stemming, no stop words) otherwise. Only configurations that every supported
-- Postgres (13 and newer) has are used. IMMUTABLE so that generated columns can
-- use it; changing the mapping therefore needs a migration that recomputes the
-- `search` columns.
CREATE FUNCTION chronik_ts_config(language text) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE lower(split_part(language, '-', 1))
    WHEN 'ar' THEN 'pg_catalog.arabic'::regconfig
    WHEN 'da' THEN 'pg_catalog.danish'::regconfig
    WHEN 'de' THEN 'pg_catalog.german'::regconfig
    WHEN 'el' THEN 'pg_catalog.greek'::regconfig
    WHEN 'en' THEN 'pg_catalog.english'::regconfig
    WHEN 'es' THEN 'pg_catalog.spanish'::regconfig
    WHEN 'fi' THEN 'pg_catalog.finnish'::regconfig
    WHEN 'fr' THEN 'pg_catalog.french'::regconfig
    WHEN 'ga' THEN 'pg_catalog.irish'::regconfig
    WHEN 'hu' THEN 'pg_catalog.hungarian'::regconfig
    WHEN 'id' THEN 'pg_catalog.indonesian'::regconfig
    WHEN 'it' THEN 'pg_catalog.italian'::regconfig
    WHEN 'lt' THEN 'pg_catalog.lithuanian'::regconfig
    WHEN 'nb' THEN 'pg_catalog.norwegian'::regconfig
    WHEN 'ne' THEN 'pg_catalog.nepali'::regconfig
    WHEN 'nl' THEN 'pg_catalog.dutch'::regconfig
    WHEN 'nn' THEN 'pg_catalog.norwegian'::regconfig
    WHEN 'no' THEN 'pg_catalog.norwegian'::regconfig
    WHEN 'pt' THEN 'pg_catalog.portuguese'::regconfig
    WHEN 'ro' THEN 'pg_catalog.romanian'::regconfig
    WHEN 'ru' THEN 'pg_catalog.russian'::regconfig
    WHEN 'sv' THEN 'pg_catalog.swedish'::regconfig
    WHEN 'ta' THEN 'pg_catalog.tamil'::regconfig
    WHEN 'tr' THEN 'pg_catalog.turkish'::regconfig
    ELSE 'pg_catalog.simple'::regconfig
END
$$;

-- What `q=` searches: the title (weight A) and the summary (weight B), each
-- parsed with the configuration of the event's language.
CREATE FUNCTION chronik_search_vector(language text, title text, summary text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT setweight(to_tsvector(chronik_ts_config(language), coalesce(title, '')), 'A')
    || setweight(to_tsvector(chronik_ts_config(language), coalesce(summary, '')), 'B')
$$;

-- `q=` (web search syntax: words, "quoted phrases", -exclusions, OR) must
-- find events of every language, but each vector is stemmed with its own
-- event's configuration. So an event matches when its vector matches the
-- query parsed with that same configuration (`search_config`, stored next to
-- `search`). That predicate depends on the row, so no index can answer it;
-- this function builds the index-friendly superset to check first: the OR of
-- the query parsed with every configuration chronik_ts_config can choose.
CREATE FUNCTION chronik_websearch(query text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE
-- Branches made only of stop words are empty and would each send a NOTICE.
SET client_min_messages = warning
AS $$
-- Most configurations parse most words alike: OR only the distinct branches.
SELECT coalesce(
    string_agg(DISTINCT '(' || branch::text || ')', ' | ')::tsquery,
    websearch_to_tsquery('pg_catalog.simple', query))
FROM unnest(ARRAY[
    websearch_to_tsquery('pg_catalog.simple', query),
    websearch_to_tsquery('pg_catalog.arabic', query),
    websearch_to_tsquery('pg_catalog.danish', query),
    websearch_to_tsquery('pg_catalog.dutch', query),
    websearch_to_tsquery('pg_catalog.english', query),
    websearch_to_tsquery('pg_catalog.finnish', query),
    websearch_to_tsquery('pg_catalog.french', query),
    websearch_to_tsquery('pg_catalog.german', query),
    websearch_to_tsquery('pg_catalog.greek', query),
    websearch_to_tsquery('pg_catalog.hungarian', query),
    websearch_to_tsquery('pg_catalog.indonesian', query),
    websearch_to_tsquery('pg_catalog.irish', query),
    websearch_to_tsquery('pg_catalog.italian', query),
    websearch_to_tsquery('pg_catalog.lithuanian', query),
    websearch_to_tsquery('pg_catalog.nepali', query),
    websearch_to_tsquery('pg_catalog.norwegian', query),
    websearch_to_tsquery('pg_catalog.portuguese', query),
    websearch_to_tsquery('pg_catalog.romanian', query),
    websearch_to_tsquery('pg_catalog.russian', query),
    websearch_to_tsquery('pg_catalog.spanish', query),
    websearch_to_tsquery('pg_catalog.swedish', query),
    websearch_to_tsquery('pg_catalog.tamil', query),
    websearch_to_tsquery('pg_catalog.turkish', query)
]) AS branches(branch)
WHERE numnode(branch) > 0
$$;

ALTER TABLE events
    ADD COLUMN search_config regconfig GENERATED ALWAYS AS (chronik_ts_config(language)) STORED,
    ADD COLUMN search tsvector GENERATED ALWAYS AS (chronik_search_vector(language, title, summary)) STORED;
CREATE INDEX events_search ON events USING gin (search) WHERE deleted_at IS NULL;
-- bbox: `point(lon, lat) <@ box(...)` is answered by this GiST index.
CREATE INDEX events_location ON events USING gist (point(lon, lat)) WHERE deleted_at IS NULL;

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
