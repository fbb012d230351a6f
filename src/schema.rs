// @generated automatically by Diesel CLI.

pub mod sql_types {
    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "regconfig", schema = "pg_catalog"))]
    pub struct Regconfig;

    #[derive(diesel::query_builder::QueryId, Clone, diesel::sql_types::SqlType)]
    #[diesel(postgres_type(name = "tsvector", schema = "pg_catalog"))]
    pub struct Tsvector;
}

diesel::table! {
    actors (id) {
        id -> Uuid,
        name -> Text,
        name_key -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Uuid,
        name -> Text,
        scope -> Text,
        secret_hash -> Bytea,
        prefix -> Text,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        created_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    event_actors (event_id, position) {
        event_id -> Uuid,
        position -> Int2,
        actor_id -> Uuid,
        role -> Nullable<Text>,
    }
}

diesel::table! {
    event_redactions (event_id) {
        event_id -> Uuid,
        redacted_at -> Timestamptz,
        redacted_by -> Nullable<Text>,
        reason -> Text,
        revisions -> Int4,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Regconfig;
    use super::sql_types::Tsvector;

    event_revisions (event_id, version) {
        event_id -> Uuid,
        version -> Int4,
        kind -> Text,
        recorded_at -> Timestamptz,
        known_at -> Timestamptz,
        author -> Nullable<Text>,
        changed_fields -> Array<Nullable<Text>>,
        snapshot -> Json,
        deleted -> Bool,
        occurred_start -> Timestamptz,
        occurred_until -> Timestamptz,
        event_type -> Text,
        country_code -> Nullable<Text>,
        status -> Text,
        tags -> Array<Nullable<Text>>,
        actor_keys -> Array<Nullable<Text>>,
        timeline_slugs -> Array<Nullable<Text>>,
        lat -> Nullable<Float8>,
        lon -> Nullable<Float8>,
        search_config -> Nullable<Regconfig>,
        search -> Nullable<Tsvector>,
        occurred_from -> Timestamptz,
        feed_xid -> Int8,
        feed_seq -> Int8,
    }
}

diesel::table! {
    event_sources (event_id, position) {
        event_id -> Uuid,
        position -> Int2,
        source_id -> Uuid,
        via -> Array<Nullable<Text>>,
        quote -> Nullable<Text>,
        title -> Nullable<Text>,
        publisher -> Nullable<Text>,
        published_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    event_timelines (timeline_id, event_id) {
        timeline_id -> Uuid,
        event_id -> Uuid,
        added_at -> Timestamptz,
    }
}

diesel::table! {
    event_types (slug) {
        slug -> Text,
        label -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::Regconfig;
    use super::sql_types::Tsvector;

    events (id) {
        id -> Uuid,
        external_id -> Nullable<Text>,
        title -> Text,
        summary -> Nullable<Text>,
        language -> Nullable<Text>,
        event_type -> Text,
        occurred_start -> Timestamptz,
        occurred_end -> Nullable<Timestamptz>,
        precision -> Text,
        timezone -> Nullable<Text>,
        location_name -> Nullable<Text>,
        admin1 -> Nullable<Text>,
        country_code -> Nullable<Text>,
        lat -> Nullable<Float8>,
        lon -> Nullable<Float8>,
        casualties -> Jsonb,
        status -> Text,
        tags -> Array<Nullable<Text>>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        search_config -> Nullable<Regconfig>,
        search -> Nullable<Tsvector>,
        occurred_until -> Nullable<Timestamptz>,
        occurred_from -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    idempotency_keys (caller, key) {
        caller -> Text,
        key -> Text,
        method -> Text,
        path -> Text,
        request_hash -> Bytea,
        status -> Nullable<Int2>,
        headers -> Nullable<Jsonb>,
        body -> Nullable<Bytea>,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    rate_limit_buckets (key) {
        key -> Text,
        tat -> Timestamptz,
    }
}

diesel::table! {
    sources (id) {
        id -> Uuid,
        url -> Text,
        title -> Nullable<Text>,
        publisher -> Nullable<Text>,
        published_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    store_epoch (only_row) {
        only_row -> Bool,
        epoch -> Uuid,
    }
}

diesel::table! {
    store_version (shard) {
        shard -> Int2,
        version -> Int8,
    }
}

diesel::table! {
    timelines (id) {
        id -> Uuid,
        slug -> Text,
        title -> Text,
        description -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(event_actors -> actors (actor_id));
diesel::joinable!(event_actors -> events (event_id));
diesel::joinable!(event_redactions -> events (event_id));
diesel::joinable!(event_revisions -> events (event_id));
diesel::joinable!(event_sources -> events (event_id));
diesel::joinable!(event_sources -> sources (source_id));
diesel::joinable!(event_timelines -> events (event_id));
diesel::joinable!(event_timelines -> timelines (timeline_id));
diesel::joinable!(events -> event_types (event_type));

diesel::allow_tables_to_appear_in_same_query!(
    actors,
    api_tokens,
    event_actors,
    event_redactions,
    event_revisions,
    event_sources,
    event_timelines,
    event_types,
    events,
    idempotency_keys,
    rate_limit_buckets,
    sources,
    store_epoch,
    store_version,
    timelines,
);
