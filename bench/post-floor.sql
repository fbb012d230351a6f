-- What Postgres alone needs for one single-event POST, as a ceiling over
-- `POST /v1/events`: the statements of one create, exactly as the server
-- sent them (taken from Postgres's statement log of a POST with one actor,
-- one new source URL and no timelines, on `main` at 8809851), run inside one
-- PL/pgSQL function, so with no round trip between them: the event row, the
-- actor and source rows and citations, the read-back, and the revision. Each
-- call gets a new event id and source URL. What it leaves out (the token
-- lookup, BEGIN/COMMIT as statements of their own, the client round trips,
-- HTTP) can only make the server slower. The server now skips two of these
-- statements for such a create (the memberships DELETE and the sources
-- UPDATE, which change nothing here): the function does slightly more work.
--
--   psql "$DATABASE_URL" -X -q -f bench/post-floor.sql
--   echo 'SELECT bench_post_floor();' > /tmp/post.sql
--   pgbench -n -M prepared -c 32 -j 2 -T 15 -f /tmp/post.sql "$DATABASE_URL"
--   psql "$DATABASE_URL" -c 'DROP FUNCTION bench_post_floor()'
--
-- Run it on the benchmark's store (it needs the event type `protest`). Like
-- the POST scenario, it leaves its events (titled `post-floor`) in the store.
CREATE OR REPLACE FUNCTION bench_post_floor() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE v_eid uuid := gen_random_uuid(); v_sid uuid := gen_random_uuid(); v_aid uuid := gen_random_uuid();
BEGIN
PERFORM set_config('plan_cache_mode','force_generic_plan',true);
PERFORM slug FROM event_types ORDER BY slug;
INSERT INTO events (id, title, summary, language, event_type, occurred_start, occurred_end, precision, timezone, location_name, admin1, country_code, lat, lon, casualties, status, tags, external_id, created_at, updated_at) VALUES (v_eid, 'post-floor', NULL, NULL, 'protest', '2022-01-05 10:00:00+00', NULL, 'hour', NULL, 'Almaty', NULL, 'KZ', '43.2', '76.9', '[]', 'reported', '{x}', NULL, now(), now());
INSERT INTO actors (id, name) SELECT * FROM unnest(ARRAY[v_aid]::uuid[], '{A1}'::text[]) ON CONFLICT (name_key) DO NOTHING;
PERFORM t.given, a.name AS stored FROM unnest('{A1}'::text[]) AS t(given) JOIN actors a ON a.name_key = lower(t.given);
INSERT INTO event_actors (event_id, position, actor_id, role) SELECT t.event_id, t.position, a.id, t.role FROM unnest(ARRAY[v_eid]::uuid[], '{0}'::int2[], '{A1}'::text[], '{organizer}'::text[]) AS t(event_id, position, name, role) JOIN actors a ON a.name_key = lower(t.name);
INSERT INTO sources (id, url, title, publisher, published_at) SELECT * FROM unnest(ARRAY[v_sid]::uuid[], ('{https://x.example.org/a/' || v_eid::text || '}')::text[], '{NULL}'::text[], '{NULL}'::text[], '{NULL}'::timestamptz[]) ON CONFLICT (url) DO NOTHING;
UPDATE sources s SET title = COALESCE(t.title, s.title), publisher = COALESCE(t.publisher, s.publisher), published_at = COALESCE(t.published_at, s.published_at), updated_at = now() FROM unnest(('{https://x.example.org/a/' || v_eid::text || '}')::text[], '{NULL}'::text[], '{NULL}'::text[], '{NULL}'::timestamptz[]) AS t(url, title, publisher, published_at) WHERE s.url = t.url AND ((t.title IS NOT NULL AND t.title IS DISTINCT FROM s.title) OR (t.publisher IS NOT NULL AND t.publisher IS DISTINCT FROM s.publisher) OR (t.published_at IS NOT NULL AND t.published_at IS DISTINCT FROM s.published_at));
INSERT INTO event_sources (event_id, position, source_id, via, quote, title, publisher, published_at) SELECT t.event_id, t.position, s.id, ARRAY(SELECT jsonb_array_elements_text(t.via)), t.quote, t.title, t.publisher, t.published_at FROM unnest(ARRAY[v_eid]::uuid[], '{0}'::int2[], ('{https://x.example.org/a/' || v_eid::text || '}')::text[], '{"[\"AFP\"]"}'::jsonb[], '{NULL}'::text[], '{NULL}'::text[], '{NULL}'::text[], '{NULL}'::timestamptz[]) AS t(event_id, position, url, via, quote, title, publisher, published_at) JOIN sources s ON s.url = t.url;
DELETE FROM event_timelines et WHERE et.event_id = ANY(ARRAY[v_eid]) AND NOT EXISTS ( SELECT 1 FROM unnest('{}'::uuid[], '{}'::text[]) AS t(event_id, slug) JOIN timelines tl ON tl.slug = t.slug WHERE t.event_id = et.event_id AND tl.id = et.timeline_id);
PERFORM e.id, e.external_id, e.title, e.summary, e.language, e.event_type, e.occurred_start, e.occurred_end, e.precision, e.timezone, e.location_name, e.admin1, e.country_code, e.lat, e.lon, e.casualties, e.status, e.tags, e.version, e.created_at, e.updated_at, COALESCE((SELECT jsonb_agg(jsonb_build_object('name', a.name, 'role', ea.role) ORDER BY ea.position) FROM event_actors ea JOIN actors a ON a.id = ea.actor_id WHERE ea.event_id = e.id), '[]') AS actors, COALESCE((SELECT jsonb_agg(jsonb_build_object('url', s.url, 'title', es.title, 'publisher', es.publisher, 'published_at', es.published_at, 'via', es.via, 'quote', es.quote) ORDER BY es.position) FROM event_sources es JOIN sources s ON s.id = es.source_id WHERE es.event_id = e.id), '[]') AS sources, ARRAY(SELECT t.slug FROM event_timelines et JOIN timelines t ON t.id = et.timeline_id WHERE et.event_id = e.id ORDER BY t.slug) AS timelines FROM events e WHERE e.id = v_eid;
INSERT INTO event_revisions (event_id, version, kind, recorded_at, known_at, author, changed_fields, snapshot, deleted, occurred_start, occurred_from, occurred_until, event_type, country_code, status, tags, actor_keys, timeline_slugs, lat, lon, search_config, search) SELECT e.id, e.version, r.kind, clock.now, COALESCE(r.known_at, GREATEST(clock.now, (SELECT p.known_at FROM event_revisions p WHERE p.event_id = e.id ORDER BY p.version DESC LIMIT 1))), NULL, ARRAY(SELECT jsonb_array_elements_text(r.changed_fields)), r.snapshot, e.deleted_at IS NOT NULL, e.occurred_start, e.occurred_from, e.occurred_until, e.event_type, e.country_code, e.status, e.tags, ARRAY(SELECT lower(a ->> 'name') FROM json_array_elements(r.snapshot -> 'actors') a), ARRAY(SELECT json_array_elements_text(r.snapshot -> 'timelines')), e.lat, e.lon, e.search_config, e.search FROM unnest(ARRAY[v_eid]::uuid[], '{created}'::text[], '{"[\"actors\", \"casualties\", \"external_id\", \"language\", \"location\", \"occurred_end\", \"occurred_start\", \"precision\", \"sources\", \"status\", \"summary\", \"tags\", \"timelines\", \"timezone\", \"title\", \"type\"]"}'::jsonb[], ('{"{\"id\":\"' || v_eid::text || '\",\"external_id\":null,\"title\":\"post-floor\",\"summary\":null,\"language\":null,\"type\":\"protest\",\"occurred_start\":\"2022-01-05T10:00:00Z\",\"occurred_end\":null,\"precision\":\"hour\",\"timezone\":null,\"location\":{\"name\":\"Almaty\",\"admin1\":null,\"country_code\":\"KZ\",\"lat\":43.2,\"lon\":76.9},\"actors\":[{\"name\":\"A1\",\"role\":\"organizer\"}],\"casualties\":[],\"sources\":[{\"url\":\"https://x.example.org/a/' || v_eid::text || '\",\"title\":null,\"publisher\":null,\"published_at\":null,\"via\":[\"AFP\"],\"quote\":null}],\"status\":\"reported\",\"tags\":[\"x\"],\"timelines\":[],\"version\":1,\"created_at\":\"2026-12-02T06:29:31.677067Z\",\"updated_at\":\"2026-12-02T06:29:31.677067Z\"}"}')::text[]::json[], '{NULL}'::timestamptz[]) AS r(id, kind, changed_fields, snapshot, known_at) JOIN events e ON e.id = r.id, LATERAL (SELECT clock_timestamp() AS now) clock;
END
$fn$;
