//! All SQL for bulk writes: many events per statement (`unnest` over one
//! array per column), for imports. Single writes (`db::events`) use the
//! child-row statements here too, with a batch of one, so that an imported
//! event is stored exactly like one written through the API.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{
    Array, Bool, Double, Integer, Jsonb, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::sql::SqlBuilder;
use crate::error::ApiError;
use crate::models::event::{ActorRole, Event, EventInput, Source, ValidEventInput};
use crate::models::values::EventId;

/// An event to write, and the id it has (or gets).
pub type Row<'a> = (EventId, &'a ValidEventInput);

/// The writable columns of `events`, in the order [`push_unnest`] and
/// single writes (`db::events`) bind them: the one place that lists them.
macro_rules! writable_columns {
    () => {
        "title, summary, language, event_type, occurred_start, occurred_end, precision, timezone, \
         location_name, admin1, country_code, lat, lon, casualties, status, tags, external_id"
    };
}
pub(crate) use writable_columns;

const WRITABLE: &str = writable_columns!();

/// The same columns read from the unnested relation `t` (tags arrive as JSON arrays).
const FROM_T: &str = "t.title, t.summary, t.language, t.event_type, t.occurred_start, t.occurred_end, t.precision, \
     t.timezone, t.location_name, t.admin1, t.country_code, t.lat, t.lon, t.casualties, t.status, \
     ARRAY(SELECT jsonb_array_elements_text(t.tags)), t.external_id";

/// Appends `unnest(<one array per column>) AS t(id, <writable columns>)`.
fn push_unnest(q: &mut SqlBuilder, rows: &[Row<'_>]) -> Result<(), ApiError> {
    fn col<T>(rows: &[Row<'_>], f: impl Fn(&EventInput) -> T) -> Vec<T> {
        rows.iter().map(|(_, input)| f(input)).collect()
    }
    let json = |value: serde_json::Result<serde_json::Value>| value.map_err(ApiError::internal);
    let casualties = rows
        .iter()
        .map(|(_, i)| json(serde_json::to_value(&i.casualties)))
        .collect::<Result<Vec<_>, _>>()?;
    let tags = rows
        .iter()
        .map(|(_, i)| json(serde_json::to_value(&i.tags)))
        .collect::<Result<Vec<_>, _>>()?;
    let text = |v: Option<&dyn ToString>| v.map(|v| v.to_string());
    q.sql("unnest(")
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|(id, _)| id.0).collect::<Vec<_>>())
        .sql("::uuid[], ")
        .bind::<Array<Text>, _>(col(rows, |i| i.title.to_string()))
        .sql("::text[], ")
        .bind::<Array<Nullable<Text>>, _>(col(rows, |i| i.summary.clone()))
        .sql("::text[], ")
        .bind::<Array<Nullable<Text>>, _>(col(rows, |i| {
            text(i.language.as_ref().map(|l| l as &dyn ToString))
        }))
        .sql("::text[], ")
        .bind::<Array<Text>, _>(col(rows, |i| i.event_type.to_string()))
        .sql("::text[], ")
        .bind::<Array<Timestamptz>, _>(col(rows, |i| i.occurred_start))
        .sql("::timestamptz[], ")
        .bind::<Array<Nullable<Timestamptz>>, _>(col(rows, |i| i.occurred_end))
        .sql("::timestamptz[], ")
        .bind::<Array<Text>, _>(col(rows, |i| i.precision.as_str()))
        .sql("::text[], ")
        .bind::<Array<Nullable<Text>>, _>(col(rows, |i| {
            text(i.timezone.as_ref().map(|t| t as &dyn ToString))
        }))
        .sql("::text[], ")
        .bind::<Array<Nullable<Text>>, _>(col(rows, |i| {
            i.location.as_ref().map(|l| l.name.clone())
        }))
        .sql("::text[], ")
        .bind::<Array<Nullable<Text>>, _>(col(rows, |i| {
            i.location.as_ref().and_then(|l| l.admin1.clone())
        }))
        .sql("::text[], ")
        .bind::<Array<Nullable<Text>>, _>(col(rows, |i| {
            i.location.as_ref().map(|l| l.country_code.to_string())
        }))
        .sql("::text[], ")
        .bind::<Array<Nullable<Double>>, _>(col(rows, |i| i.location.as_ref().and_then(|l| l.lat)))
        .sql("::float8[], ")
        .bind::<Array<Nullable<Double>>, _>(col(rows, |i| i.location.as_ref().and_then(|l| l.lon)))
        .sql("::float8[], ")
        .bind::<Array<Jsonb>, _>(casualties)
        .sql("::jsonb[], ")
        .bind::<Array<Text>, _>(col(rows, |i| i.status.as_str()))
        .sql("::text[], ")
        .bind::<Array<Jsonb>, _>(tags)
        .sql("::jsonb[], ")
        .bind::<Array<Nullable<Text>>, _>(col(rows, |i| {
            text(i.external_id.as_ref().map(|e| e as &dyn ToString))
        }))
        .sql(&format!("::text[]) AS t(id, {WRITABLE})"));
    Ok(())
}

/// Inserts new events (without children or history) in one statement.
pub async fn insert(conn: &mut AsyncPgConnection, rows: &[Row<'_>]) -> Result<(), ApiError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = SqlBuilder::new(&format!(
        "INSERT INTO events (id, {WRITABLE}, created_at, updated_at) SELECT t.id, {FROM_T}, now(), now() FROM "
    ));
    push_unnest(&mut q, rows)?;
    q.build().execute(conn).await?;
    Ok(())
}

/// Replaces the writable fields of live events, one version up, and drops
/// their actors and sources (which [`write_children`] writes anew).
pub async fn update(conn: &mut AsyncPgConnection, rows: &[Row<'_>]) -> Result<(), ApiError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = SqlBuilder::new(&format!(
        "UPDATE events e SET ({WRITABLE}, version, updated_at) = ({FROM_T}, e.version + 1, now()) FROM "
    ));
    push_unnest(&mut q, rows)?;
    q.sql(" WHERE e.id = t.id AND e.deleted_at IS NULL");
    q.build().execute(conn).await?;
    let ids: Vec<Uuid> = rows.iter().map(|(id, _)| id.0).collect();
    for table in ["event_actors", "event_sources"] {
        SqlBuilder::fixed(&format!("DELETE FROM {table} WHERE event_id = ANY($1)"))
            .arg::<Array<SqlUuid>, _>(ids.clone())
            .build()
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
}

/// Locks live events for the rest of the transaction (in id order, so that
/// concurrent importers queue rather than deadlock), so that no write comes
/// between reading them and replacing them. A missing one was deleted meanwhile.
pub async fn lock_live(conn: &mut AsyncPgConnection, ids: &[EventId]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let locked: Vec<Id> = SqlBuilder::fixed(
        "SELECT id FROM events WHERE id = ANY($1) AND deleted_at IS NULL ORDER BY id FOR UPDATE",
    )
    .arg::<Array<SqlUuid>, _>(ids.iter().map(|id| id.0).collect::<Vec<_>>())
    .build()
    .load(conn)
    .await?;
    let locked: std::collections::HashSet<Uuid> = locked.into_iter().map(|l| l.id).collect();
    match ids.iter().find(|id| !locked.contains(&id.0)) {
        None => Ok(()),
        Some(gone) => Err(ApiError::Conflict(format!(
            "event {gone}, which the import was about to replace, was deleted meanwhile; nothing was imported"
        ))),
    }
}

/// The clock, and the `known_at` of the latest revision of each of these events.
pub async fn known_at_bounds(
    conn: &mut AsyncPgConnection,
    ids: &[EventId],
) -> Result<(DateTime<Utc>, HashMap<EventId, DateTime<Utc>>), ApiError> {
    #[derive(QueryableByName)]
    struct Latest {
        #[diesel(sql_type = SqlUuid)]
        id: Uuid,
        #[diesel(sql_type = Timestamptz)]
        known_at: DateTime<Utc>,
    }
    let rows: Vec<Latest> = SqlBuilder::fixed(
        "SELECT DISTINCT ON (event_id) event_id AS id, known_at FROM event_revisions \
         WHERE event_id = ANY($1) ORDER BY event_id, version DESC",
    )
    .arg::<Array<SqlUuid>, _>(ids.iter().map(|id| id.0).collect::<Vec<_>>())
    .build()
    .load(conn)
    .await?;
    let now = clock(conn).await?;
    Ok((
        now,
        rows.into_iter()
            .map(|r| (EventId(r.id), r.known_at))
            .collect(),
    ))
}

/// Puts version and `updated_at` back to what `before` had: for updates
/// that turned out to change nothing, which therefore get no revision.
pub async fn restore_versions(
    conn: &mut AsyncPgConnection,
    before: &[&Event],
) -> Result<(), ApiError> {
    if before.is_empty() {
        return Ok(());
    }
    SqlBuilder::fixed(
        "UPDATE events e SET version = t.version, updated_at = t.updated_at \
         FROM unnest($1::uuid[], $2::int[], $3::timestamptz[]) AS t(id, version, updated_at) WHERE e.id = t.id",
    )
    .arg::<Array<SqlUuid>, _>(before.iter().map(|e| e.id.0).collect::<Vec<_>>())
    .arg::<Array<Integer>, _>(before.iter().map(|e| e.version).collect::<Vec<_>>())
    .arg::<Array<Timestamptz>, _>(before.iter().map(|e| e.updated_at).collect::<Vec<_>>())
    .build().execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct ExistingRow {
    #[diesel(sql_type = Text)]
    external_id: String,
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Bool)]
    deleted: bool,
}

/// An event that already holds an `external_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: EventId,
    pub deleted: bool,
}

/// The events (deleted ones too: the id stays taken) holding these external ids.
pub async fn existing(
    conn: &mut AsyncPgConnection,
    external_ids: Vec<String>,
) -> Result<BTreeMap<String, Existing>, ApiError> {
    if external_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<ExistingRow> = SqlBuilder::fixed(
        "SELECT external_id, id, deleted_at IS NOT NULL AS deleted FROM events WHERE external_id = ANY($1)",
    )
    .arg::<Array<Text>, _>(external_ids)
    .build().load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let existing = Existing {
                id: EventId(r.id),
                deleted: r.deleted,
            };
            (r.external_id, existing)
        })
        .collect())
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Bool)]
    deleted: bool,
}

/// The events (deleted ones too: an id is never reused) that have these ids.
pub async fn existing_ids(
    conn: &mut AsyncPgConnection,
    ids: Vec<Uuid>,
) -> Result<HashMap<EventId, Existing>, ApiError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<IdRow> = SqlBuilder::fixed(
        "SELECT id, deleted_at IS NOT NULL AS deleted FROM events WHERE id = ANY($1)",
    )
    .arg::<Array<SqlUuid>, _>(ids)
    .build()
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let id = EventId(r.id);
            (
                id,
                Existing {
                    id,
                    deleted: r.deleted,
                },
            )
        })
        .collect())
}

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

/// Turns off Postgres's JIT compilation for the rest of the import's
/// transaction. A batch's revision insert is estimated costly enough to be
/// compiled, which never pays back: each statement runs once per batch over
/// rows it has not seen (bench/README.md, "Design choices measured").
pub async fn without_jit(conn: &mut AsyncPgConnection) -> Result<(), ApiError> {
    Ok(super::sql::set_local(conn, "jit = off").await?)
}

/// The transaction's time: what `now()` writes into `created_at` and `updated_at`.
pub async fn transaction_time(conn: &mut AsyncPgConnection) -> Result<DateTime<Utc>, ApiError> {
    time(conn, "now()").await
}

/// The time this moment (`clock_timestamp()`), which revisions record.
async fn clock(conn: &mut AsyncPgConnection) -> Result<DateTime<Utc>, ApiError> {
    time(conn, "clock_timestamp()").await
}

async fn time(conn: &mut AsyncPgConnection, function: &str) -> Result<DateTime<Utc>, ApiError> {
    #[derive(QueryableByName)]
    struct Now {
        #[diesel(sql_type = Timestamptz)]
        now: DateTime<Utc>,
    }
    let rows: Vec<Now> = SqlBuilder::fixed(&format!("SELECT {function} AS now"))
        .build()
        .load(conn)
        .await?;
    rows.into_iter()
        .next()
        .map(|r| r.now)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("SELECT {function} returned no row")))
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
    SqlBuilder::fixed(
        "INSERT INTO actors (id, name) SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT (name_key) DO NOTHING",
    )
    .arg::<Array<SqlUuid>, _>(new_names.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .arg::<Array<Text>, _>(new_names)
    .build().execute(conn)
    .await?;
    let mut given: Vec<String> = names.clone();
    given.sort_unstable();
    given.dedup();
    let stored: Vec<ActorRow> = SqlBuilder::fixed(
        "SELECT t.given, a.name AS stored FROM unnest($1::text[]) AS t(given) JOIN actors a ON a.name_key = lower(t.given)",
    )
    .arg::<Array<Text>, _>(given)
    .build().load(conn)
    .await?;
    SqlBuilder::fixed(
        "INSERT INTO event_actors (event_id, position, actor_id, role) \
         SELECT t.event_id, t.position, a.id, t.role \
         FROM unnest($1::uuid[], $2::int2[], $3::text[], $4::text[]) AS t(event_id, position, name, role) \
         JOIN actors a ON a.name_key = lower(t.name)",
    )
    .arg::<Array<SqlUuid>, _>(event_ids)
    .arg::<Array<SmallInt>, _>(positions)
    .arg::<Array<Text>, _>(names)
    .arg::<Array<Nullable<Text>>, _>(roles)
    .build().execute(conn)
    .await?;
    Ok(stored.into_iter().map(|r| (r.given, r.stored)).collect())
}

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
    SqlBuilder::fixed(
        "INSERT INTO event_sources (event_id, position, source_id, via, quote, title, publisher, published_at) \
         SELECT t.event_id, t.position, s.id, ARRAY(SELECT jsonb_array_elements_text(t.via)), t.quote, \
             t.title, t.publisher, t.published_at \
         FROM unnest($1::uuid[], $2::int2[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::text[], $8::timestamptz[]) \
             AS t(event_id, position, url, via, quote, title, publisher, published_at) \
         JOIN sources s ON s.url = t.url",
    )
    .arg::<Array<SqlUuid>, _>(event_ids)
    .arg::<Array<SmallInt>, _>(positions)
    .arg::<Array<Text>, _>(urls)
    .arg::<Array<Jsonb>, _>(via)
    .arg::<Array<Nullable<Text>>, _>(quotes)
    .arg::<Array<Nullable<Text>>, _>(titles)
    .arg::<Array<Nullable<Text>>, _>(publishers)
    .arg::<Array<Nullable<Timestamptz>>, _>(published)
    .build().execute(conn)
    .await?;
    Ok(())
}

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
    SqlBuilder::fixed(
        "INSERT INTO sources (id, url, title, publisher, published_at) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
         ON CONFLICT (url) DO NOTHING",
    )
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
    SqlBuilder::fixed(
        "UPDATE sources s SET title = COALESCE(t.title, s.title), \
             publisher = COALESCE(t.publisher, s.publisher), \
             published_at = COALESCE(t.published_at, s.published_at), updated_at = now() \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS t(url, title, publisher, published_at) \
         WHERE s.url = t.url AND ((t.title IS NOT NULL AND t.title IS DISTINCT FROM s.title) \
             OR (t.publisher IS NOT NULL AND t.publisher IS DISTINCT FROM s.publisher) \
             OR (t.published_at IS NOT NULL AND t.published_at IS DISTINCT FROM s.published_at))",
    )
    .arg::<Array<Text>, _>(urls)
    .arg::<Array<Nullable<Text>>, _>(titles)
    .arg::<Array<Nullable<Text>>, _>(publishers)
    .arg::<Array<Nullable<Timestamptz>>, _>(published)
    .build()
    .execute(conn)
    .await?;
    Ok(())
}

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
        SqlBuilder::fixed(
            "DELETE FROM event_timelines et WHERE et.event_id = ANY($1) AND NOT EXISTS ( \
                 SELECT 1 FROM unnest($2::uuid[], $3::text[]) AS t(event_id, slug) JOIN timelines tl ON tl.slug = t.slug \
                 WHERE t.event_id = et.event_id AND tl.id = et.timeline_id)",
        )
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
    SqlBuilder::fixed(
        "INSERT INTO event_timelines (timeline_id, event_id) \
         SELECT tl.id, t.event_id FROM unnest($1::uuid[], $2::text[]) AS t(event_id, slug) \
         JOIN timelines tl ON tl.slug = t.slug ON CONFLICT DO NOTHING",
    )
    .arg::<Array<SqlUuid>, _>(event_ids)
    .arg::<Array<Text>, _>(slugs)
    .build()
    .execute(conn)
    .await?;
    Ok(())
}
