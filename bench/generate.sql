-- Generates a synthetic Chronik store of :events events, directly in SQL.
-- Run by bench/run: psql -v events=N -v revised_from='…' -v revisions=5 -f bench/generate.sql
--
-- The data is what the app itself would have written: every event has its
-- actors, sources and timelines in the child tables, a revision row per
-- version whose snapshot is the Event JSON (src/models/event.rs) and whose
-- filter columns are copied from it, and events.version equals the latest
-- revision's version. Timestamps are whole seconds, so snapshots carry them
-- exactly as chrono serializes them ("2021-03-04T05:06:07Z").
--
-- Shape: occurred_start uniform over ten years (2016-01-01 to 2026-01-01),
-- 13 event types, 24 countries with a few cities each, 2,000 actors (1 to 3
-- per event), 100,000 source articles (1 or 2 per event), 40 tags (1 to 3 per
-- event), casualty figures on a third of the events, 10% with an end time,
-- 5% on one of 20 timelines. Events that start on or after :revised_from
-- (the last year: 10% of the store) have :revisions revisions each (the death
-- toll and status corrected day by day); the others have one.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET synchronous_commit = off;
SET maintenance_work_mem = '512MB';
SET work_mem = '256MB';
SET TimeZone = 'UTC';
\o /dev/null
SELECT setseed(0.4242);
\o

BEGIN;

-- The load is fastest into tables without secondary indexes: remember their
-- definitions (as the migrations created them), drop them, recreate them after.
CREATE TEMP TABLE saved_indexes AS
SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relname IN ('events', 'event_actors', 'event_sources', 'event_timelines', 'event_revisions')
  AND c.relnamespace = 'public'::regnamespace
  AND NOT i.indisprimary AND NOT i.indisunique;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT name FROM saved_indexes LOOP
        EXECUTE 'DROP INDEX ' || r.name;
    END LOOP;
END $$;

-- RFC 3339 the way chrono serializes a whole-second DateTime<Utc>.
CREATE FUNCTION pg_temp.rfc3339(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;

CREATE TEMP TABLE places (n int, country text, city text, admin1 text, lat float8, lon float8, tz text, lang text);
INSERT INTO places SELECT row_number() OVER () - 1, * FROM (VALUES
    ('KZ', 'Almaty', 'Almaty', 43.2389, 76.8897, 'Asia/Almaty', 'ru'),
    ('KZ', 'Astana', 'Astana', 51.1605, 71.4704, 'Asia/Almaty', 'ru'),
    ('KZ', 'Aktau', 'Mangystau', 43.6411, 51.1983, 'Asia/Aqtau', 'ru'),
    ('UA', 'Kyiv', 'Kyiv', 50.4501, 30.5234, 'Europe/Kyiv', 'uk'),
    ('UA', 'Kharkiv', 'Kharkiv Oblast', 49.9935, 36.2304, 'Europe/Kyiv', 'uk'),
    ('BY', 'Minsk', 'Minsk', 53.9006, 27.5590, 'Europe/Minsk', 'ru'),
    ('RU', 'Moscow', 'Moscow', 55.7558, 37.6173, 'Europe/Moscow', 'ru'),
    ('GE', 'Tbilisi', 'Tbilisi', 41.7151, 44.8271, 'Asia/Tbilisi', 'en'),
    ('AM', 'Yerevan', 'Yerevan', 40.1792, 44.4991, 'Asia/Yerevan', 'en'),
    ('FR', 'Paris', 'Île-de-France', 48.8566, 2.3522, 'Europe/Paris', 'fr'),
    ('FR', 'Marseille', 'Provence-Alpes-Côte d''Azur', 43.2965, 5.3698, 'Europe/Paris', 'fr'),
    ('DE', 'Berlin', 'Berlin', 52.5200, 13.4050, 'Europe/Berlin', 'de'),
    ('DE', 'Leipzig', 'Saxony', 51.3397, 12.3731, 'Europe/Berlin', 'de'),
    ('US', 'Minneapolis', 'Minnesota', 44.9778, -93.2650, 'America/Chicago', 'en'),
    ('US', 'Portland', 'Oregon', 45.5152, -122.6784, 'America/Los_Angeles', 'en'),
    ('CL', 'Santiago', 'Santiago Metropolitan', -33.4489, -70.6693, 'America/Santiago', 'es'),
    ('CO', 'Bogotá', 'Bogotá', 4.7110, -74.0721, 'America/Bogota', 'es'),
    ('HK', 'Hong Kong', NULL, 22.3193, 114.1694, 'Asia/Hong_Kong', 'en'),
    ('MM', 'Yangon', 'Yangon Region', 16.8409, 96.1735, 'Asia/Yangon', 'en'),
    ('IR', 'Tehran', 'Tehran Province', 35.6892, 51.3890, 'Asia/Tehran', 'en'),
    ('SD', 'Khartoum', 'Khartoum', 15.5007, 32.5599, 'Africa/Khartoum', 'ar'),
    ('LB', 'Beirut', 'Beirut', 33.8938, 35.5018, 'Asia/Beirut', 'ar'),
    ('NG', 'Lagos', 'Lagos', 6.5244, 3.3792, 'Africa/Lagos', 'en'),
    ('KE', 'Nairobi', 'Nairobi', -1.2921, 36.8219, 'Africa/Nairobi', 'en'),
    ('SN', 'Dakar', 'Dakar', 14.7167, -17.4677, 'Africa/Dakar', 'fr'),
    ('PE', 'Lima', 'Lima', -12.0464, -77.0428, 'America/Lima', 'es'),
    ('TH', 'Bangkok', 'Bangkok', 13.7563, 100.5018, 'Asia/Bangkok', 'en'),
    ('RS', 'Belgrade', 'Belgrade', 44.7866, 20.4489, 'Europe/Belgrade', 'en'),
    ('TN', 'Tunis', 'Tunis', 36.8065, 10.1815, 'Africa/Tunis', 'fr'),
    ('EC', 'Quito', 'Pichincha', -0.1807, -78.4678, 'America/Guayaquil', 'es')
) AS p;

CREATE TEMP TABLE types AS
SELECT row_number() OVER (ORDER BY slug) - 1 AS n, slug, label FROM event_types;

CREATE TEMP TABLE vocab (name text, list text[]);
INSERT INTO vocab VALUES
    ('tags', ARRAY['protest-wave', 'internet-shutdown', 'fuel-prices', 'election', 'curfew', 'martial-law',
                   'strike', 'students', 'opposition', 'police-violence', 'border', 'refugees', 'sanctions',
                   'airport', 'parliament', 'capital', 'north', 'south', 'east', 'west', 'oil', 'gas', 'banks',
                   'media', 'journalists', 'military', 'ceasefire', 'negotiations', 'hostages', 'prison',
                   'court', 'religion', 'minorities', 'trade-union', 'farmers', 'miners', 'teachers', 'doctors',
                   'water', 'food']),
    ('first', ARRAY['Aigerim', 'Nurlan', 'Olena', 'Dmitri', 'Marie', 'Jonas', 'Camila', 'Juan', 'Aung', 'Leila',
                    'Amara', 'Kwame', 'Fatou', 'Somchai', 'Milica', 'Youssef', 'Grace', 'Pierre', 'Anna', 'Tamar']),
    ('last', ARRAY['Azirbek', 'Tokayev', 'Kovalenko', 'Ivanov', 'Dubois', 'Schmidt', 'Rojas', 'García', 'Min',
                   'Rahimi', 'Okafor', 'Mensah', 'Diallo', 'Srisuk', 'Jovanović', 'Ben Ali', 'Wanjiru',
                   'Martin', 'Novak', 'Beridze', 'Hakobyan', 'Osei', 'Quispe', 'Haddad', 'Nguyen']),
    ('orgs', ARRAY['Ministry of Interior', 'Police', 'National Guard', 'Army', 'Opposition Alliance',
                   'Trade Union Federation', 'Student Council', 'Central Bank', 'Red Cross', 'Prosecutor''s Office']),
    ('roles', ARRAY['spokesperson', 'deploying state', 'organizer', 'perpetrator', 'target', 'mediator',
                    'witness', 'official']),
    ('publishers', ARRAY['Example News', 'Daily Wire Service', 'Global Report', 'Tagesbericht', 'Le Quotidien',
                         'El Diario', 'Steppe Times', 'Eastern Herald', 'Coast Observer', 'World Desk']),
    ('agencies', ARRAY['TASS', 'Interfax', 'Reuters', 'AFP', 'AP', 'dpa', 'EFE', 'Anadolu']);

-- Actors: 1,500 people (first × last name) and 500 organizations per place.
INSERT INTO actors (id, name, created_at)
SELECT gen_random_uuid(), name, '2016-01-01'
FROM (
    SELECT DISTINCT f || ' ' || l AS name
    FROM vocab v1, unnest(v1.list) f, vocab v2, unnest(v2.list) l
    WHERE v1.name = 'first' AND v2.name = 'last'
    UNION
    SELECT DISTINCT o || ' (' || p.city || ')'
    FROM vocab v, unnest(v.list) o, places p WHERE v.name = 'orgs'
) names;
CREATE TEMP TABLE actor_list AS
SELECT row_number() OVER (ORDER BY name_key) - 1 AS n, id, name, name_key FROM actors;

-- Sources: 100,000 articles (at least one per ten events).
INSERT INTO sources (id, url, title, publisher, published_at, created_at, updated_at)
SELECT gen_random_uuid(),
       'https://news' || (s % 10) || '.example.org/articles/' || s,
       CASE WHEN s % 5 <> 0 THEN 'Live report ' || s END,
       CASE WHEN s % 3 <> 0 THEN (SELECT list[1 + s % 10] FROM vocab WHERE name = 'publishers') END,
       CASE WHEN s % 2 = 0 THEN '2016-01-01'::timestamptz + (s % 3650) * interval '1 day' END,
       '2016-01-01', '2016-01-01'
FROM generate_series(0, greatest(:events / 10, 100) - 1) s;
CREATE TEMP TABLE source_list AS
SELECT row_number() OVER (ORDER BY url) - 1 AS n, id, url, title, publisher, published_at FROM sources;

INSERT INTO timelines (id, slug, title, description, created_at, updated_at)
SELECT gen_random_uuid(), 'bench-timeline-' || t, 'Benchmark timeline ' || t, NULL, '2016-01-01', '2016-01-01'
FROM generate_series(1, 20) t
ON CONFLICT (slug) DO NOTHING;
CREATE TEMP TABLE timeline_list AS
SELECT row_number() OVER (ORDER BY slug) - 1 AS n, id, slug FROM timelines WHERE slug LIKE 'bench-timeline-%';

-- One row per event with every random choice made once.
CREATE TEMP TABLE g AS
SELECT i,
       gen_random_uuid() AS id,
       start,
       CASE WHEN random() < 0.1 THEN start + (1 + floor(random() * 72)) * interval '1 hour' END AS finish,
       floor(random() * (SELECT count(*) FROM types))::int AS type_n,
       floor(random() * (SELECT count(*) FROM places))::int AS place_n,
       random() < 0.9 AS located,
       floor(random() * 40)::int AS tag_a, floor(random() * 39)::int AS tag_b, floor(random() * 3)::int AS n_tags,
       floor(random() * (SELECT count(*) FROM actor_list))::int AS actor_a, 1 + floor(random() * 3)::int AS n_actors,
       floor(random() * (SELECT count(*) FROM source_list))::int AS source_a, 1 + floor(random() * 2)::int AS n_sources,
       -- Corrections change the death toll, so every revised event has one.
       CASE WHEN random() < 0.33 OR start >= :'revised_from'::timestamptz THEN floor(random() * 50)::int END AS killed,
       (ARRAY['reported', 'reported', 'confirmed', 'confirmed', 'disputed', 'retracted'])[1 + floor(random() * 6)::int] AS final_status,
       (ARRAY['day', 'day', 'day', 'hour', 'hour', 'minute'])[1 + floor(random() * 6)::int] AS precision,
       CASE WHEN random() < 0.05 THEN floor(random() * 20)::int END AS timeline_n,
       CASE WHEN start >= :'revised_from'::timestamptz THEN :revisions ELSE 1 END AS versions
FROM (
    SELECT i, date_trunc('minute', '2016-01-01'::timestamptz + random() * interval '3652 days') AS start
    FROM generate_series(1, :events) i
) s;

INSERT INTO events (id, external_id, title, summary, language, event_type, occurred_start, occurred_end, precision,
                    timezone, location_name, admin1, country_code, lat, lon, casualties, status, tags, version,
                    created_at, updated_at)
SELECT g.id, 'bench-' || g.i,
       t.label || ' in ' || p.city || ' (' || g.i || ')',
       'Reports say a ' || lower(t.label) || ' took place in ' || p.city || '; ' ||
           (SELECT list[1 + g.tag_a] FROM vocab WHERE name = 'tags') || ' was mentioned by several outlets.',
       p.lang, t.slug, g.start, g.finish, g.precision, p.tz,
       CASE WHEN g.located THEN p.city END, CASE WHEN g.located THEN p.admin1 END,
       CASE WHEN g.located THEN p.country END,
       CASE WHEN g.located THEN p.lat END, CASE WHEN g.located THEN p.lon END,
       CASE WHEN g.killed IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object(
           'kind', 'killed', 'party', 'protesters', 'min', g.killed + g.versions - 1, 'max', NULL,
           'status', 'claimed')) END,
       g.final_status,
       (SELECT array_agg(v.list[1 + (g.tag_a + k * (1 + g.tag_b)) % 40] ORDER BY k)
        FROM vocab v, generate_series(0, g.n_tags) k WHERE v.name = 'tags'),
       g.versions,
       g.start + interval '1 hour',
       g.start + interval '1 hour' + (g.versions - 1) * interval '1 day'
FROM g JOIN types t ON t.n = g.type_n JOIN places p ON p.n = g.place_n
-- News is stored roughly as it happens: the table's physical order follows time.
ORDER BY g.start;

INSERT INTO event_actors (event_id, position, actor_id, role)
SELECT g.id, k, a.id,
       CASE WHEN (g.i + k) % 4 <> 0 THEN (SELECT list[1 + (g.i + k) % 8] FROM vocab WHERE name = 'roles') END
FROM g CROSS JOIN LATERAL generate_series(0, g.n_actors - 1) k
JOIN actor_list a ON a.n = (g.actor_a + k * 7) % (SELECT count(*) FROM actor_list)
ORDER BY g.start, k;

INSERT INTO event_sources (event_id, position, source_id, via, quote, title, publisher, published_at)
SELECT g.id, k, s.id,
       CASE WHEN g.i % 3 = 0 THEN ARRAY[(SELECT list[1 + g.i % 8] FROM vocab WHERE name = 'agencies')] ELSE '{}' END,
       CASE WHEN k = 0 AND g.i % 2 = 0 THEN 'Officials said the situation was under control.' END,
       s.title, s.publisher, s.published_at
FROM g CROSS JOIN LATERAL generate_series(0, g.n_sources - 1) k
JOIN source_list s ON s.n = (g.source_a + k * 13) % (SELECT count(*) FROM source_list)
ORDER BY g.start, k;

INSERT INTO event_timelines (timeline_id, event_id, added_at)
SELECT tl.id, g.id, g.start + interval '1 hour'
FROM g JOIN timeline_list tl ON tl.n = g.timeline_n;

-- The revisions: the children as the app aggregates them (here in one pass
-- over each table rather than per event), then one snapshot per version.
ANALYZE events, event_actors, event_sources, event_timelines, actors, sources, timelines;
CREATE TEMP TABLE actors_json AS
SELECT ea.event_id AS id,
       jsonb_agg(jsonb_build_object('name', a.name, 'role', ea.role) ORDER BY ea.position) AS actors,
       array_agg(a.name_key ORDER BY ea.position) AS actor_keys
FROM event_actors ea JOIN actors a ON a.id = ea.actor_id
GROUP BY ea.event_id;
CREATE TEMP TABLE sources_json AS
SELECT es.event_id AS id,
       jsonb_agg(jsonb_build_object('url', s.url, 'title', es.title, 'publisher', es.publisher,
           'published_at', pg_temp.rfc3339(es.published_at), 'via', to_jsonb(es.via), 'quote', es.quote)
           ORDER BY es.position) AS sources
FROM event_sources es JOIN sources s ON s.id = es.source_id
GROUP BY es.event_id;
CREATE TEMP TABLE timelines_json AS
SELECT et.event_id AS id, array_agg(t.slug ORDER BY t.slug) AS timelines
FROM event_timelines et JOIN timelines t ON t.id = et.timeline_id
GROUP BY et.event_id;
CREATE TEMP TABLE child_json AS
SELECT g.id, a.actors, COALESCE(a.actor_keys, '{}') AS actor_keys, s.sources,
       COALESCE(t.timelines, '{}') AS timelines
FROM g LEFT JOIN actors_json a ON a.id = g.id LEFT JOIN sources_json s ON s.id = g.id
LEFT JOIN timelines_json t ON t.id = g.id;
ANALYZE child_json;

-- Revision k + 1 is inserted after revision k (the history trigger checks the order).
INSERT INTO event_revisions (event_id, version, kind, recorded_at, known_at, author, changed_fields, snapshot,
                             deleted, occurred_start, occurred_from, occurred_until, event_type, country_code, status, tags,
                             actor_keys, timeline_slugs, lat, lon, search_config, search)
SELECT e.id, k, CASE WHEN k = 1 THEN 'created' ELSE 'updated' END,
       e.created_at + (k - 1) * interval '1 day', e.created_at + (k - 1) * interval '1 day', 'bench',
       CASE WHEN k = 1 THEN ARRAY['actors', 'casualties', 'external_id', 'language', 'location', 'occurred_end',
                                  'occurred_start', 'precision', 'sources', 'status', 'summary', 'tags', 'timelines',
                                  'timezone', 'title', 'type']
            WHEN k = e.version AND e.status <> 'reported' THEN ARRAY['casualties', 'status']
            ELSE ARRAY['casualties'] END,
       jsonb_build_object(
           'id', e.id, 'external_id', e.external_id, 'title', e.title, 'summary', e.summary,
           'language', e.language, 'type', e.event_type,
           'occurred_start', pg_temp.rfc3339(e.occurred_start), 'occurred_end', pg_temp.rfc3339(e.occurred_end),
           'precision', e.precision, 'timezone', e.timezone,
           'location', CASE WHEN e.location_name IS NOT NULL THEN jsonb_build_object(
               'name', e.location_name, 'admin1', e.admin1, 'country_code', e.country_code,
               'lat', e.lat, 'lon', e.lon) END,
           'actors', COALESCE(c.actors, '[]'),
           'casualties', CASE WHEN jsonb_array_length(e.casualties) = 0 THEN e.casualties
                              ELSE jsonb_set(e.casualties, '{0,min}', to_jsonb((e.casualties #>> '{0,min}')::int - e.version + k)) END,
           'sources', COALESCE(c.sources, '[]'),
           'status', CASE WHEN k = e.version THEN e.status ELSE 'reported' END,
           'tags', to_jsonb(e.tags), 'timelines', to_jsonb(c.timelines), 'version', k,
           'created_at', pg_temp.rfc3339(e.created_at),
           'updated_at', pg_temp.rfc3339(e.created_at + (k - 1) * interval '1 day')),
       false, e.occurred_start, e.occurred_from, e.occurred_until, e.event_type, e.country_code,
       CASE WHEN k = e.version THEN e.status ELSE 'reported' END,
       e.tags, c.actor_keys, c.timelines, e.lat, e.lon, e.search_config, e.search
FROM events e JOIN child_json c ON c.id = e.id CROSS JOIN LATERAL generate_series(1, e.version) k
WHERE e.external_id LIKE 'bench-%';

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT def FROM saved_indexes LOOP
        EXECUTE r.def;
    END LOOP;
END $$;

COMMIT;

VACUUM ANALYZE events, event_actors, event_sources, event_timelines, event_revisions, actors, sources, timelines;
