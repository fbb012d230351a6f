//! All SQL for bulk writes of event rows: many events per statement
//! (`unnest` over one array per column), for imports. Their child rows are
//! written by `db::children`, which single writes share.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{
    Array, Bool, Double, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

use super::sql::SqlBuilder;
use crate::error::ApiError;
use crate::models::event::{Event, EventInput, ValidEventInput};
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

const LOCK_LIVE_SQL: &str =
    "SELECT id FROM events WHERE id = ANY($1) AND deleted_at IS NULL ORDER BY id FOR UPDATE";

/// Locks live events for the rest of the transaction (in id order, so that
/// concurrent importers queue rather than deadlock), so that no write comes
/// between reading them and replacing them. A missing one was deleted meanwhile.
pub async fn lock_live(conn: &mut AsyncPgConnection, ids: &[EventId]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let locked: Vec<Id> = SqlBuilder::fixed(LOCK_LIVE_SQL)
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

const KNOWN_AT_BOUNDS_SQL: &str = "SELECT DISTINCT ON (event_id) event_id AS id, known_at FROM event_revisions \
         WHERE event_id = ANY($1) ORDER BY event_id, version DESC";

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
    let rows: Vec<Latest> = SqlBuilder::fixed(KNOWN_AT_BOUNDS_SQL)
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

const RESTORE_VERSIONS_SQL: &str = "UPDATE events e SET version = t.version, updated_at = t.updated_at \
         FROM unnest($1::uuid[], $2::int[], $3::timestamptz[]) AS t(id, version, updated_at) WHERE e.id = t.id";

/// Puts version and `updated_at` back to what `before` had: for updates
/// that turned out to change nothing, which therefore get no revision.
pub async fn restore_versions(
    conn: &mut AsyncPgConnection,
    before: &[&Event],
) -> Result<(), ApiError> {
    if before.is_empty() {
        return Ok(());
    }
    SqlBuilder::fixed(RESTORE_VERSIONS_SQL)
        .arg::<Array<SqlUuid>, _>(before.iter().map(|e| e.id.0).collect::<Vec<_>>())
        .arg::<Array<Integer>, _>(before.iter().map(|e| e.version).collect::<Vec<_>>())
        .arg::<Array<Timestamptz>, _>(before.iter().map(|e| e.updated_at).collect::<Vec<_>>())
        .build()
        .execute(conn)
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

const EXISTING_SQL: &str = "SELECT external_id, id, deleted_at IS NOT NULL AS deleted FROM events WHERE external_id = ANY($1)";

/// The events (deleted ones too: the id stays taken) holding these external ids.
pub async fn existing(
    conn: &mut AsyncPgConnection,
    external_ids: Vec<String>,
) -> Result<BTreeMap<String, Existing>, ApiError> {
    if external_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let rows: Vec<ExistingRow> = SqlBuilder::fixed(EXISTING_SQL)
        .arg::<Array<Text>, _>(external_ids)
        .build()
        .load(conn)
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

const EXISTING_IDS_SQL: &str =
    "SELECT id, deleted_at IS NOT NULL AS deleted FROM events WHERE id = ANY($1)";

/// The events (deleted ones too: an id is never reused) that have these ids.
pub async fn existing_ids(
    conn: &mut AsyncPgConnection,
    ids: Vec<Uuid>,
) -> Result<HashMap<EventId, Existing>, ApiError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<IdRow> = SqlBuilder::fixed(EXISTING_IDS_SQL)
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
