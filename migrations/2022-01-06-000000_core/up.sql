-- Chronik core schema. Events are the current state; event_revisions is the
-- append-only history that every write extends in the same transaction.

CREATE TABLE event_types (
    slug        text PRIMARY KEY CHECK (slug ~ '^[a-z][a-z0-9_]{0,63}$'),
    label       text NOT NULL CHECK (char_length(label) BETWEEN 1 AND 200),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO event_types (slug, label, description) VALUES
    ('military_deployment', 'Military deployment', 'Troops, police or paramilitary forces sent to or moved within an area.'),
    ('armed_clash', 'Armed clash', 'Violent confrontation between armed groups, or between security forces and others.'),
    ('casualties', 'Casualties', 'A report of people killed, injured, arrested or missing.'),
    ('protest', 'Protest', 'A public demonstration.'),
    ('riot', 'Riot', 'Violent public disorder.'),
    ('looting', 'Looting', 'Plundering of shops, facilities or property.'),
    ('arrest', 'Arrest', 'Detention of people by authorities.'),
    ('state_of_emergency', 'State of emergency', 'Declaration or extension of a state of emergency.'),
    ('curfew', 'Curfew', 'A curfew imposed or lifted.'),
    ('financial_disruption', 'Financial disruption', 'Banks, exchanges or payment systems suspended or failing.'),
    ('communications_disruption', 'Communications disruption', 'Internet, telephone or media outlets unreachable or shut down.'),
    ('official_statement', 'Official statement', 'A statement by a government, agency or official.'),
    ('diplomatic_action', 'Diplomatic action', 'Requests, agreements or measures between states or alliances.');

CREATE TABLE actors (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    -- Actors are matched case-insensitively: "TASS" and "Tass" are one actor.
    name_key   text GENERATED ALWAYS AS (lower(name)) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT actors_name_key_unique UNIQUE (name_key)
);
-- Prefix search for GET /v1/actors?q=
CREATE INDEX actors_name_key_prefix ON actors (name_key text_pattern_ops);

CREATE TABLE sources (
    id           uuid PRIMARY KEY,
    url          text NOT NULL,
    title        text,
    publisher    text,
    published_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sources_url_unique UNIQUE (url)
);

CREATE TABLE timelines (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,99}$'),
    title       text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 300),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT timelines_slug_unique UNIQUE (slug)
);

CREATE TABLE events (
    id             uuid PRIMARY KEY,
    external_id    text CHECK (char_length(external_id) BETWEEN 1 AND 200),
    title          text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 300),
    summary        text,
    language       text,
    event_type     text NOT NULL REFERENCES event_types (slug),
    occurred_start timestamptz NOT NULL,
    occurred_end   timestamptz,
    -- The closed interval [occurred_start, occurred_until] is what date filters overlap with.
    occurred_until timestamptz GENERATED ALWAYS AS (COALESCE(occurred_end, occurred_start)) STORED,
    precision      text NOT NULL DEFAULT 'day'
                   CHECK (precision IN ('year', 'month', 'day', 'hour', 'minute', 'second')),
    timezone       text,
    location_name  text,
    admin1         text,
    country_code   text CHECK (country_code ~ '^[A-Z]{2}$'),
    lat            double precision CHECK (lat BETWEEN -90 AND 90),
    lon            double precision CHECK (lon BETWEEN -180 AND 180),
    -- Casualty figures are value objects owned by the event: [{kind, party, min, max, status}].
    casualties     jsonb NOT NULL DEFAULT '[]',
    status         text NOT NULL DEFAULT 'reported'
                   CHECK (status IN ('reported', 'confirmed', 'disputed', 'retracted')),
    tags           text[] NOT NULL DEFAULT '{}',
    version        integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    deleted_at     timestamptz,
    CONSTRAINT events_external_id_unique UNIQUE (external_id),
    CONSTRAINT events_end_after_start CHECK (occurred_end IS NULL OR occurred_end >= occurred_start),
    CONSTRAINT events_lat_lon_together CHECK ((lat IS NULL) = (lon IS NULL))
);
-- Keyset paging and date-window scans (sort by occurred_start, then id).
CREATE INDEX events_occurred_start_id ON events (occurred_start, id) WHERE deleted_at IS NULL;
CREATE INDEX events_occurred_until ON events (occurred_until) WHERE deleted_at IS NULL;
CREATE INDEX events_type_start ON events (event_type, occurred_start, id) WHERE deleted_at IS NULL;
CREATE INDEX events_country_start ON events (country_code, occurred_start, id) WHERE deleted_at IS NULL;
CREATE INDEX events_tags ON events USING gin (tags) WHERE deleted_at IS NULL;

CREATE TABLE event_actors (
    event_id uuid NOT NULL REFERENCES events (id),
    position smallint NOT NULL,
    actor_id uuid NOT NULL REFERENCES actors (id),
    role     text,
    PRIMARY KEY (event_id, position)
);
CREATE INDEX event_actors_actor ON event_actors (actor_id, event_id);

CREATE TABLE event_sources (
    event_id  uuid NOT NULL REFERENCES events (id),
    position  smallint NOT NULL,
    source_id uuid NOT NULL REFERENCES sources (id),
    -- News agencies the publisher relays ("via TASS, Interfax"), and the quoted claim.
    via       text[] NOT NULL DEFAULT '{}',
    quote     text,
    PRIMARY KEY (event_id, position)
);
CREATE INDEX event_sources_source ON event_sources (source_id);

CREATE TABLE event_timelines (
    timeline_id uuid NOT NULL REFERENCES timelines (id),
    event_id    uuid NOT NULL REFERENCES events (id),
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (timeline_id, event_id)
);
CREATE INDEX event_timelines_event ON event_timelines (event_id);

-- Every write to an event appends its full snapshot here, in the same transaction.
-- The filterable columns are copied out of the snapshot so that "as of" queries
-- can use the same predicates and indexes as current-state queries.
CREATE TABLE event_revisions (
    event_id       uuid NOT NULL REFERENCES events (id),
    version        integer NOT NULL CHECK (version >= 1),
    kind           text NOT NULL CHECK (kind IN ('created', 'updated', 'deleted', 'restored')),
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    known_at       timestamptz NOT NULL,
    author         text,
    changed_fields text[] NOT NULL DEFAULT '{}',
    snapshot       jsonb NOT NULL,
    deleted        boolean NOT NULL,
    occurred_start timestamptz NOT NULL,
    occurred_until timestamptz NOT NULL,
    event_type     text NOT NULL,
    country_code   text,
    status         text NOT NULL,
    tags           text[] NOT NULL,
    actor_keys     text[] NOT NULL,
    timeline_slugs text[] NOT NULL,
    PRIMARY KEY (event_id, version)
);
CREATE INDEX event_revisions_known_at ON event_revisions (event_id, known_at DESC, version DESC);
CREATE INDEX event_revisions_start ON event_revisions (occurred_start, event_id);

CREATE FUNCTION chronik_forbid_history_rewrite() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_revisions is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER event_revisions_append_only
    BEFORE UPDATE OR DELETE ON event_revisions
    FOR EACH ROW EXECUTE FUNCTION chronik_forbid_history_rewrite();
CREATE TRIGGER event_revisions_no_truncate
    BEFORE TRUNCATE ON event_revisions
    FOR EACH STATEMENT EXECUTE FUNCTION chronik_forbid_history_rewrite();
