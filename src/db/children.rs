//! An event's child rows: its actors (by name, into the shared `actors`
//! catalogue), its sources (citations, and the `sources` catalogue of URLs)
//! and its timeline memberships, written for many events per statement.
//! Single writes use them with a batch of one, so that an imported event is
//! stored exactly like one written through the API.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Array, Jsonb, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::batch::Row;
use super::sql::SqlBuilder;
use crate::error::ApiError;
use crate::models::event::{ActorRole, Event, EventInput, Source};
use crate::models::values::EventId;

/// What the shared rows a batch cites hold after it was written: actors
/// are one row per name (any casing; the first writer's casing is kept), so
/// an event shows them as stored. (Citations keep their own metadata.)
#[derive(Debug, Default)]
pub struct Shared {
    /// Stored actor name by the name an input used.
    actors: HashMap<String, String>,
}

#[derive(QueryableByName)]
struct ActorRow {
    #[diesel(sql_type = Text)]
    given: String,
    #[diesel(sql_type = Text)]
    stored: String,
}

impl Shared {
    /// The event as a read shows it once written, without reading it back
    /// (reading a batch back row by row is what made imports slow): the
    /// same value `db::events::find_many` would return.
    pub fn event(
        &self,
        id: EventId,
        input: &EventInput,
        version: i32,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Event {
        // Postgres keeps microseconds (diesel truncates on the way in).
        let stored = |t: DateTime<Utc>| t.trunc_subsecs(6);
        let actors = input
            .actors
            .iter()
            .map(|a| ActorRole {
                name: self
                    .actors
                    .get(a.name.as_str())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| a.name.clone()),
                role: a.role.clone(),
            })
            .collect();
        let sources = input
            .sources
            .iter()
            .map(|s| Source {
                published_at: s.published_at.map(stored),
                ..s.clone()
            })
            .collect();
        let mut timelines = input.timelines.clone();
        timelines.sort();
        timelines.dedup();
        Event {
            id,
            external_id: input.external_id.clone(),
            title: input.title.to_string(),
            summary: input.summary.clone(),
            language: input.language.as_ref().map(ToString::to_string),
            event_type: input.event_type.clone(),
            occurred_start: stored(input.occurred_start),
            occurred_end: input.occurred_end.map(stored),
            precision: input.precision,
            timezone: input.timezone.as_ref().map(ToString::to_string),
            location: input.location.clone(),
            actors,
            casualties: input.casualties.clone(),
            sources,
            status: input.status,
            tags: input.tags.iter().map(ToString::to_string).collect(),
            timelines,
            version,
            created_at,
            updated_at,
        }
    }
}

/// Writes actors, sources and timeline memberships of new or replaced
/// events (whose old actors and sources are gone): a few statements for
/// the whole batch.
/// `replaced` names the events among `rows` that were stored before (the
/// others are new, so they have no memberships to drop).
pub async fn write_children(
    conn: &mut AsyncPgConnection,
    rows: &[Row<'_>],
    replaced: &[EventId],
) -> Result<Shared, ApiError> {
    let actors = write_actors(conn, rows).await?;
    write_sources(conn, rows).await?;
    write_memberships(conn, rows, replaced).await?;
    Ok(Shared { actors })
}

const WRITE_ACTORS_SQL: &str = "INSERT INTO actors (id, name) SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT (name_key) DO NOTHING";

const WRITE_ACTORS_SQL_2: &str = "SELECT t.given, a.name AS stored FROM unnest($1::text[]) AS t(given) JOIN actors a ON a.name_key = lower(t.given)";

const WRITE_ACTORS_SQL_3: &str = "INSERT INTO event_actors (event_id, position, actor_id, role) \
         SELECT t.event_id, t.position, a.id, t.role \
         FROM unnest($1::uuid[], $2::int2[], $3::text[], $4::text[]) AS t(event_id, position, name, role) \
         JOIN actors a ON a.name_key = lower(t.name)";

async fn write_actors(
    conn: &mut AsyncPgConnection,
    rows: &[Row<'_>],
) -> Result<HashMap<String, String>, ApiError> {
    let (mut event_ids, mut positions, mut names, mut roles) = (vec![], vec![], vec![], vec![]);
    for (id, input) in rows {
        for (position, actor) in input.actors.iter().enumerate() {
            event_ids.push(id.0);
            positions.push(i16::try_from(position).map_err(ApiError::internal)?);
            names.push(actor.name.to_string());
            roles.push(actor.role.clone());
        }
    }
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    // Sorted, so concurrent writers take the unique-index locks in one order.
    let mut distinct: BTreeMap<String, &str> = BTreeMap::new();
    for name in &names {
        distinct.entry(name.to_lowercase()).or_insert(name);
    }
    let new_names: Vec<String> = distinct.values().map(|n| (*n).to_owned()).collect();
    SqlBuilder::fixed(WRITE_ACTORS_SQL)
        .arg::<Array<SqlUuid>, _>(new_names.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
        .arg::<Array<Text>, _>(new_names)
        .build()
        .execute(conn)
        .await?;
    let mut given: Vec<String> = names.clone();
    given.sort_unstable();
    given.dedup();
    let stored: Vec<ActorRow> = SqlBuilder::fixed(WRITE_ACTORS_SQL_2)
        .arg::<Array<Text>, _>(given)
        .build()
        .load(conn)
        .await?;
    SqlBuilder::fixed(WRITE_ACTORS_SQL_3)
        .arg::<Array<SqlUuid>, _>(event_ids)
        .arg::<Array<SmallInt>, _>(positions)
        .arg::<Array<Text>, _>(names)
        .arg::<Array<Nullable<Text>>, _>(roles)
        .build()
        .execute(conn)
        .await?;
    Ok(stored.into_iter().map(|r| (r.given, r.stored)).collect())
}

const WRITE_SOURCES_SQL: &str = "INSERT INTO event_sources (event_id, position, source_id, via, quote, title, publisher, published_at) \
         SELECT t.event_id, t.position, s.id, ARRAY(SELECT jsonb_array_elements_text(t.via)), t.quote, \
             t.title, t.publisher, t.published_at \
         FROM unnest($1::uuid[], $2::int2[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::text[], $8::timestamptz[]) \
             AS t(event_id, position, url, via, quote, title, publisher, published_at) \
         JOIN sources s ON s.url = t.url";

/// Each citation keeps the metadata it was written with; the shared source
/// row only deduplicates the URL (see the citation_metadata migration).
async fn write_sources(conn: &mut AsyncPgConnection, rows: &[Row<'_>]) -> Result<(), ApiError> {
    let (mut event_ids, mut positions, mut urls, mut via, mut quotes) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut titles, mut publishers, mut published) = (vec![], vec![], vec![]);
    for (id, input) in rows {
        for (position, source) in input.sources.iter().enumerate() {
            event_ids.push(id.0);
            positions.push(i16::try_from(position).map_err(ApiError::internal)?);
            urls.push(source.url.to_string());
            via.push(serde_json::Value::from(source.via.clone()));
            quotes.push(source.quote.clone());
            titles.push(source.title.clone());
            publishers.push(source.publisher.clone());
            published.push(source.published_at);
        }
    }
    if urls.is_empty() {
        return Ok(());
    }
    upsert_sources(conn, rows.iter().flat_map(|(_, i)| &i.sources)).await?;
    SqlBuilder::fixed(WRITE_SOURCES_SQL)
        .arg::<Array<SqlUuid>, _>(event_ids)
        .arg::<Array<SmallInt>, _>(positions)
        .arg::<Array<Text>, _>(urls)
        .arg::<Array<Jsonb>, _>(via)
        .arg::<Array<Nullable<Text>>, _>(quotes)
        .arg::<Array<Nullable<Text>>, _>(titles)
        .arg::<Array<Nullable<Text>>, _>(publishers)
        .arg::<Array<Nullable<Timestamptz>>, _>(published)
        .build()
        .execute(conn)
        .await?;
    Ok(())
}

const UPSERT_SOURCES_SQL: &str = "INSERT INTO sources (id, url, title, publisher, published_at) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
         ON CONFLICT (url) DO NOTHING";

const UPSERT_SOURCES_SQL_2: &str = "UPDATE sources s SET title = COALESCE(t.title, s.title), \
             publisher = COALESCE(t.publisher, s.publisher), \
             published_at = COALESCE(t.published_at, s.published_at), updated_at = now() \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS t(url, title, publisher, published_at) \
         WHERE s.url = t.url AND ((t.title IS NOT NULL AND t.title IS DISTINCT FROM s.title) \
             OR (t.publisher IS NOT NULL AND t.publisher IS DISTINCT FROM s.publisher) \
             OR (t.published_at IS NOT NULL AND t.published_at IS DISTINCT FROM s.published_at))";

/// One source row per URL, a catalogue of the URLs cited: newer non-empty
/// metadata fills in or replaces older (within a batch, the last citation of
/// a URL is the newest). Events read their citations' own metadata.
async fn upsert_sources<'a>(
    conn: &mut AsyncPgConnection,
    sources: impl Iterator<Item = &'a Source>,
) -> Result<(), ApiError> {
    let mut by_url = BTreeMap::new();
    for source in sources {
        by_url.insert(source.url.to_string(), source);
    }
    let urls: Vec<String> = by_url.keys().cloned().collect();
    let titles: Vec<Option<String>> = by_url.values().map(|s| s.title.clone()).collect();
    let publishers: Vec<Option<String>> = by_url.values().map(|s| s.publisher.clone()).collect();
    let published: Vec<Option<DateTime<Utc>>> = by_url.values().map(|s| s.published_at).collect();
    SqlBuilder::fixed(UPSERT_SOURCES_SQL)
        .arg::<Array<SqlUuid>, _>(urls.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
        .arg::<Array<Text>, _>(urls.clone())
        .arg::<Array<Nullable<Text>>, _>(titles.clone())
        .arg::<Array<Nullable<Text>>, _>(publishers.clone())
        .arg::<Array<Nullable<Timestamptz>>, _>(published.clone())
        .build()
        .execute(conn)
        .await?;
    let no_metadata = titles.iter().all(Option::is_none)
        && publishers.iter().all(Option::is_none)
        && published.iter().all(Option::is_none);
    if no_metadata {
        // Nothing to fill in: the UPDATE below would match no row.
        return Ok(());
    }
    // A separate UPDATE that touches only URLs whose catalogue entry gains
    // something: `ON CONFLICT DO UPDATE` would lock and rewrite the row of
    // every URL cited again, so that all writers citing one live article
    // (the seed story is one) queued behind each other on that row.
    SqlBuilder::fixed(UPSERT_SOURCES_SQL_2)
        .arg::<Array<Text>, _>(urls)
        .arg::<Array<Nullable<Text>>, _>(titles)
        .arg::<Array<Nullable<Text>>, _>(publishers)
        .arg::<Array<Nullable<Timestamptz>>, _>(published)
        .build()
        .execute(conn)
        .await?;
    Ok(())
}

const WRITE_MEMBERSHIPS_SQL: &str = "DELETE FROM event_timelines et WHERE et.event_id = ANY($1) AND NOT EXISTS ( \
                 SELECT 1 FROM unnest($2::uuid[], $3::text[]) AS t(event_id, slug) JOIN timelines tl ON tl.slug = t.slug \
                 WHERE t.event_id = et.event_id AND tl.id = et.timeline_id)";

const WRITE_MEMBERSHIPS_SQL_2: &str = "INSERT INTO event_timelines (timeline_id, event_id) \
         SELECT tl.id, t.event_id FROM unnest($1::uuid[], $2::text[]) AS t(event_id, slug) \
         JOIN timelines tl ON tl.slug = t.slug ON CONFLICT DO NOTHING";

/// Makes each event's timelines exactly those its input lists; memberships
/// it keeps keep their `added_at`.
async fn write_memberships(
    conn: &mut AsyncPgConnection,
    rows: &[Row<'_>],
    replaced: &[EventId],
) -> Result<(), ApiError> {
    let (mut event_ids, mut slugs) = (vec![], vec![]);
    for (id, input) in rows {
        for slug in &input.timelines {
            event_ids.push(id.0);
            slugs.push(slug.to_string());
        }
    }
    if !replaced.is_empty() {
        SqlBuilder::fixed(WRITE_MEMBERSHIPS_SQL)
            .arg::<Array<SqlUuid>, _>(replaced.iter().map(|id| id.0).collect::<Vec<_>>())
            .arg::<Array<SqlUuid>, _>(event_ids.clone())
            .arg::<Array<Text>, _>(slugs.clone())
            .build()
            .execute(conn)
            .await?;
    }
    if slugs.is_empty() {
        return Ok(());
    }
    SqlBuilder::fixed(WRITE_MEMBERSHIPS_SQL_2)
        .arg::<Array<SqlUuid>, _>(event_ids)
        .arg::<Array<Text>, _>(slugs)
        .build()
        .execute(conn)
        .await?;
    Ok(())
}
