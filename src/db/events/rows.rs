//! Events read from their rows, children aggregated per row: the state a
//! write starts from, and what an import compares with.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::deserialize::FromSql;
use diesel::pg::{Pg, PgValue};
use diesel::sql_types::{
    Array, Integer, Json, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::sql::SqlBuilder;
use crate::db::stored::parse_stored;
use crate::error::ApiError;
use crate::models::event::{Event, Location, StoredEvent};
use crate::models::values::{EventId, TimelineSlug};

/// Selects complete events from their rows, children aggregated per row:
/// the state a write starts from, read inside its transaction.
const SELECT_EVENTS: &str = "\
SELECT e.id, e.external_id, e.title, e.summary, e.language, e.event_type, e.occurred_start, e.occurred_end, \
       e.precision, e.timezone, e.location_name, e.admin1, e.country_code, e.lat, e.lon, e.casualties, e.status, \
       e.tags, e.version, e.created_at, e.updated_at, \
       COALESCE((SELECT jsonb_agg(jsonb_build_object('name', a.name, 'role', ea.role) ORDER BY ea.position) \
                 FROM event_actors ea JOIN actors a ON a.id = ea.actor_id WHERE ea.event_id = e.id), '[]') AS actors, \
       COALESCE((SELECT jsonb_agg(jsonb_build_object('url', s.url, 'title', es.title, 'publisher', es.publisher, \
                                  'published_at', es.published_at, 'via', es.via, 'quote', es.quote) ORDER BY es.position) \
                 FROM event_sources es JOIN sources s ON s.id = es.source_id WHERE es.event_id = e.id), '[]') AS sources, \
       ARRAY(SELECT t.slug FROM event_timelines et JOIN timelines t ON t.id = et.timeline_id \
             WHERE et.event_id = e.id ORDER BY t.slug) AS timelines \
FROM events e";

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Nullable<Text>)]
    external_id: Option<String>,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Text>)]
    summary: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    language: Option<String>,
    #[diesel(sql_type = Text)]
    event_type: String,
    #[diesel(sql_type = Timestamptz)]
    occurred_start: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    occurred_end: Option<DateTime<Utc>>,
    #[diesel(sql_type = Text)]
    precision: String,
    #[diesel(sql_type = Nullable<Text>)]
    timezone: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    location_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    admin1: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    country_code: Option<String>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    lat: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    lon: Option<f64>,
    #[diesel(sql_type = Jsonb)]
    casualties: serde_json::Value,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Array<Text>)]
    tags: Vec<String>,
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
    #[diesel(sql_type = Jsonb)]
    actors: serde_json::Value,
    #[diesel(sql_type = Jsonb)]
    sources: serde_json::Value,
    #[diesel(sql_type = Array<Text>)]
    timelines: Vec<String>,
}

impl EventRow {
    fn into_event(self) -> Result<Event, ApiError> {
        let location = match (self.location_name, self.country_code) {
            (Some(name), Some(country_code)) => Some(Location {
                name,
                admin1: self.admin1,
                country_code: parse_stored(country_code)?,
                lat: self.lat,
                lon: self.lon,
            }),
            _ => None,
        };
        Ok(Event {
            id: EventId(self.id),
            external_id: self.external_id.map(parse_stored).transpose()?,
            title: self.title,
            summary: self.summary,
            language: self.language,
            event_type: parse_stored(self.event_type)?,
            occurred_start: self.occurred_start,
            occurred_end: self.occurred_end,
            precision: parse_stored(self.precision)?,
            timezone: self.timezone,
            location,
            actors: from_json(self.actors)?,
            casualties: from_json(self.casualties)?,
            sources: from_json(self.sources)?,
            status: parse_stored(self.status)?,
            tags: self.tags,
            timelines: self
                .timelines
                .into_iter()
                .map(parse_stored::<TimelineSlug>)
                .collect::<Result<_, _>>()?,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(ApiError::internal)
}

/// Reads an event back from its rows inside the transaction that wrote it,
/// before its revision exists: what that revision's snapshot will hold.
pub(super) async fn get(conn: &mut AsyncPgConnection, id: EventId) -> Result<Event, ApiError> {
    let mut q = SqlBuilder::new(SELECT_EVENTS);
    q.sql(" WHERE e.id = ").bind::<SqlUuid, _>(id.0);
    let rows: Vec<EventRow> = q.build().load(conn).await?;
    rows.into_iter()
        .next()
        .map(EventRow::into_event)
        .transpose()?
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "event {id} vanished inside its transaction"
            ))
        })
}

/// The events with these ids, deleted ones included, in no particular order.
pub async fn find_many(
    conn: &mut AsyncPgConnection,
    ids: &[EventId],
) -> Result<Vec<Event>, ApiError> {
    let mut q = SqlBuilder::new(SELECT_EVENTS);
    q.sql(" WHERE e.id = ANY(")
        .bind::<Array<SqlUuid>, _>(ids.iter().map(|id| id.0).collect::<Vec<_>>())
        .sql(")");
    let rows: Vec<EventRow> = q.build().load(conn).await?;
    rows.into_iter().map(EventRow::into_event).collect()
}

/// A `json` value arrives as the JSON text it was stored as; the text is
/// kept, not parsed (see [`StoredEvent`]).
impl FromSql<Json, Pg> for StoredEvent {
    fn from_sql(value: PgValue<'_>) -> diesel::deserialize::Result<Self> {
        Ok(StoredEvent::from_stored_json(
            std::str::from_utf8(value.as_bytes())?.to_owned(),
        ))
    }
}
