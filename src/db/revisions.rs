//! All SQL of an event's history (`event_revisions`). It is written only
//! through [`append`], in the transaction of the change it records: by
//! single writes (`events.rs`) with one revision, by imports with a batch,
//! so that both record exactly the same rows.

use super::sql::SqlBuilder;
use chrono::{DateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::sql_types::{Array, Json, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::stored::parse_stored;
use crate::error::ApiError;
use crate::models::event::{Event, StoredEvent};
use crate::models::revision::{ChangeKind, Revision, RevisionDetail};
use crate::models::values::EventId;
use crate::schema::event_revisions;

#[derive(Queryable, Selectable)]
#[diesel(table_name = event_revisions, check_for_backend(Pg))]
struct RevisionRow {
    version: i32,
    kind: String,
    known_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    author: Option<String>,
    /// The column's type allows NULL elements; none is ever written.
    changed_fields: Vec<Option<String>>,
}

impl RevisionRow {
    fn into_revision(self) -> Result<Revision, ApiError> {
        Ok(Revision {
            version: self.version,
            kind: parse_stored(self.kind)?,
            known_at: self.known_at,
            recorded_at: self.recorded_at,
            author: self.author,
            changed_fields: self
                .changed_fields
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("a stored changed field is NULL"))
                })?,
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = event_revisions, check_for_backend(Pg))]
struct DetailRow {
    #[diesel(embed)]
    revision: RevisionRow,
    snapshot: serde_json::Value,
}

fn snapshot(value: serde_json::Value) -> Result<Event, ApiError> {
    serde_json::from_value(value).map_err(ApiError::internal)
}

/// Up to `limit` revisions of the event after version `after`, oldest first.
/// Deleted events keep their history, so this finds them too.
pub async fn list(
    conn: &mut AsyncPgConnection,
    id: EventId,
    after: i32,
    limit: i64,
) -> Result<Vec<Revision>, ApiError> {
    let rows: Vec<RevisionRow> = event_revisions::table
        .filter(event_revisions::event_id.eq(id.0))
        .filter(event_revisions::version.gt(after))
        .order(event_revisions::version)
        .limit(limit)
        .select(RevisionRow::as_select())
        .load(conn)
        .await?;
    rows.into_iter().map(RevisionRow::into_revision).collect()
}

/// Whether the event ever existed (it has a first revision).
pub async fn exists(conn: &mut AsyncPgConnection, id: EventId) -> Result<bool, ApiError> {
    Ok(get(conn, id, 1).await?.is_some())
}

/// One revision with its snapshot.
pub async fn get(
    conn: &mut AsyncPgConnection,
    id: EventId,
    version: i32,
) -> Result<Option<RevisionDetail>, ApiError> {
    let rows: Vec<DetailRow> = event_revisions::table
        .find((id.0, version))
        .select(DetailRow::as_select())
        .load(conn)
        .await?;
    rows.into_iter()
        .next()
        .map(|row| {
            Ok(RevisionDetail {
                revision: row.revision.into_revision()?,
                event: snapshot(row.snapshot)?,
                redaction: None,
            })
        })
        .transpose()
}

/// A revision's snapshot read as a [`StoredEvent`] (whose `FromSql` lives
/// with the event reads).
#[derive(FromSqlRow)]
struct Snapshot(StoredEvent);

impl FromSql<Json, Pg> for Snapshot {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        StoredEvent::from_sql(bytes).map(Self)
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = event_revisions, check_for_backend(Pg))]
struct AsOfRow {
    version: i32,
    snapshot: Snapshot,
    deleted: bool,
}

/// What the history says of an event at an instant.
pub enum AsOf {
    /// Its version and snapshot then.
    Known(i32, StoredEvent),
    /// Its latest revision known by then deleted it.
    Deleted,
    /// Nothing about it was known yet; it became known at this instant.
    NotYetKnown(DateTime<Utc>),
    /// It has no history at all: there is no such event.
    Never,
}

/// The event as it was known at `as_of`: its latest revision known by then.
pub async fn find_as_of(
    conn: &mut AsyncPgConnection,
    id: EventId,
    as_of: DateTime<Utc>,
) -> Result<AsOf, ApiError> {
    let rows: Vec<AsOfRow> = event_revisions::table
        .filter(event_revisions::event_id.eq(id.0))
        .filter(event_revisions::known_at.le(as_of))
        .order(event_revisions::version.desc())
        .limit(1)
        .select(AsOfRow::as_select())
        .load(conn)
        .await?;
    if let Some(row) = rows.into_iter().next() {
        return Ok(if row.deleted {
            AsOf::Deleted
        } else {
            AsOf::Known(row.version, row.snapshot.0)
        });
    }
    let first: Option<DateTime<Utc>> = event_revisions::table
        .filter(event_revisions::event_id.eq(id.0))
        .select(diesel::dsl::min(event_revisions::known_at))
        .first(conn)
        .await?;
    Ok(first.map_or(AsOf::Never, AsOf::NotYetKnown))
}

/// One revision to append: the event as just written, what kind of change
/// it was, and which fields it changed.
pub struct NewRevision<'a> {
    pub event: &'a Event,
    pub kind: ChangeKind,
    pub changed_fields: Vec<String>,
    /// When the information became public, checked by the caller; `None`
    /// is now (but never before the previous revision's).
    pub known_at: Option<DateTime<Utc>>,
}

const APPEND_SQL: &str = "INSERT INTO event_revisions (event_id, version, kind, recorded_at, known_at, author, changed_fields, snapshot, \
             deleted, occurred_start, occurred_from, occurred_until, event_type, country_code, status, tags, actor_keys, timeline_slugs, \
             lat, lon, search_config, search) \
         SELECT e.id, e.version, r.kind, clock.now, COALESCE(r.known_at, GREATEST(clock.now, \
                 (SELECT p.known_at FROM event_revisions p WHERE p.event_id = e.id ORDER BY p.version DESC LIMIT 1))), \
             $1, ARRAY(SELECT jsonb_array_elements_text(r.changed_fields)), r.snapshot, e.deleted_at IS NOT NULL, \
             e.occurred_start, e.occurred_from, e.occurred_until, e.event_type, e.country_code, e.status, e.tags, \
             ARRAY(SELECT lower(a ->> 'name') FROM json_array_elements(r.snapshot -> 'actors') a), \
             ARRAY(SELECT json_array_elements_text(r.snapshot -> 'timelines')), \
             e.lat, e.lon, e.search_config, e.search \
         FROM unnest($2::uuid[], $3::text[], $4::jsonb[], $5::text[]::json[], $6::timestamptz[]) \
             AS r(id, kind, changed_fields, snapshot, known_at) \
         JOIN events e ON e.id = r.id, LATERAL (SELECT clock_timestamp() AS now) clock";

/// Appends the events' current states to their histories, one statement
/// for all. The filterable and searchable columns are copied from the rows
/// just written (which hold what the snapshot holds); the actors' and
/// timelines' keys are read off the snapshot (which lists the actors by
/// their stored names, so `lower` gives their `name_key`) rather than joined
/// per row from `actors` and `timelines`, which dominated an import's
/// revision insert (bench/README.md, "Design choices measured").
pub async fn append(
    conn: &mut AsyncPgConnection,
    revisions: &[NewRevision<'_>],
    author: Option<&str>,
) -> Result<(), ApiError> {
    if revisions.is_empty() {
        return Ok(());
    }
    // Each snapshot is stored as the text `Event` serializes to (keys in its
    // field order, as a write's response has them), sent as text and checked
    // by Postgres's `json` input: no `serde_json::Value` in between.
    let snapshots = revisions
        .iter()
        .map(|r| serde_json::to_string(r.event))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    // The clock is read at the insert, after the row lock was taken, rather
    // than at the start of the transaction (`now()`): so a writer that began
    // earlier but waited for the lock still records a later time than the
    // writer it waited for, and the default `known_at` never goes backwards.
    // It is read once per row, so that the default `known_at` equals `recorded_at`.
    // Hand-built: one INSERT … SELECT over unnest()ed arrays for the whole batch.
    SqlBuilder::fixed(APPEND_SQL)
        .arg::<Nullable<Text>, _>(author.map(str::to_owned))
        .arg::<Array<SqlUuid>, _>(revisions.iter().map(|r| r.event.id.0).collect::<Vec<_>>())
        .arg::<Array<Text>, _>(
            revisions
                .iter()
                .map(|r| r.kind.as_str())
                .collect::<Vec<_>>(),
        )
        .arg::<Array<Jsonb>, _>(
            revisions
                .iter()
                .map(|r| serde_json::Value::from(r.changed_fields.clone()))
                .collect::<Vec<_>>(),
        )
        .arg::<Array<Text>, _>(snapshots)
        .arg::<Array<Nullable<Timestamptz>>, _>(
            revisions.iter().map(|r| r.known_at).collect::<Vec<_>>(),
        )
        .build()
        .execute(conn)
        .await?;
    Ok(())
}
