//! All SQL of an event's history (`event_revisions`). It is written only
//! through [`append`], in the transaction of the change it records: by
//! single writes (`events.rs`) with one revision, by imports with a batch,
//! so that both record exactly the same rows.

use super::sql::SqlBuilder;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{
    Array, BigInt, Integer, Json, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::stored::parse_stored;
use crate::error::ApiError;
use crate::models::event::{Event, StoredEvent};
use crate::models::revision::{ChangeKind, Revision, RevisionDetail};
use crate::models::values::EventId;

#[derive(QueryableByName)]
struct RevisionRow {
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Timestamptz)]
    known_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    recorded_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    author: Option<String>,
    #[diesel(sql_type = Array<Text>)]
    changed_fields: Vec<String>,
}

impl RevisionRow {
    fn into_revision(self) -> Result<Revision, ApiError> {
        Ok(Revision {
            version: self.version,
            kind: parse_stored(self.kind)?,
            known_at: self.known_at,
            recorded_at: self.recorded_at,
            author: self.author,
            changed_fields: self.changed_fields,
        })
    }
}

#[derive(QueryableByName)]
struct DetailRow {
    #[diesel(embed)]
    revision: RevisionRow,
    #[diesel(sql_type = Json)]
    snapshot: serde_json::Value,
}

const REVISION_COLUMNS: &str = "version, kind, known_at, recorded_at, author, changed_fields";

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
    let rows: Vec<RevisionRow> = SqlBuilder::fixed(&format!(
        "SELECT {REVISION_COLUMNS} FROM event_revisions WHERE event_id = $1 AND version > $2 \
         ORDER BY version LIMIT $3"
    ))
    .arg::<SqlUuid, _>(id.0)
    .arg::<Integer, _>(after)
    .arg::<BigInt, _>(limit)
    .build()
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
    let rows: Vec<DetailRow> = SqlBuilder::fixed(&format!(
        "SELECT {REVISION_COLUMNS}, snapshot FROM event_revisions WHERE event_id = $1 AND version = $2"
    ))
    .arg::<SqlUuid, _>(id.0)
    .arg::<Integer, _>(version)
    .build().load(conn)
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

#[derive(QueryableByName)]
struct AsOfRow {
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = Json)]
    snapshot: StoredEvent,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    deleted: bool,
}

/// The event as it was known at `as_of`, with its version then: `None` if it
/// was not known yet, or deleted by then.
pub async fn find_as_of(
    conn: &mut AsyncPgConnection,
    id: EventId,
    as_of: DateTime<Utc>,
) -> Result<Option<(i32, StoredEvent)>, ApiError> {
    let rows: Vec<AsOfRow> = SqlBuilder::fixed(
        "SELECT version, snapshot, deleted FROM event_revisions WHERE event_id = $1 AND known_at <= $2 \
         ORDER BY version DESC LIMIT 1",
    )
    .arg::<SqlUuid, _>(id.0)
    .arg::<Timestamptz, _>(as_of)
    .build().load(conn)
    .await?;
    match rows.into_iter().next() {
        Some(row) if !row.deleted => Ok(Some((row.version, row.snapshot))),
        _ => Ok(None),
    }
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

/// Appends the events' current states to their histories, one statement
/// for all. The filterable and searchable columns are copied from the rows
/// just written (which hold what the snapshot holds); the actors' and
/// timelines' keys are read off the snapshot (which lists the actors by
/// their stored names, so `lower` gives their `name_key`) rather than joined
/// per row from `actors` and `timelines`: those joins took 40% of an
/// import's revision insert (measured, bench/README.md).
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
    SqlBuilder::fixed(
        "INSERT INTO event_revisions (event_id, version, kind, recorded_at, known_at, author, changed_fields, snapshot, \
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
         JOIN events e ON e.id = r.id, LATERAL (SELECT clock_timestamp() AS now) clock",
    )
    .arg::<Nullable<Text>, _>(author.map(str::to_owned))
    .arg::<Array<SqlUuid>, _>(revisions.iter().map(|r| r.event.id.0).collect::<Vec<_>>())
    .arg::<Array<Text>, _>(revisions.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>())
    .arg::<Array<Jsonb>, _>(
        revisions
            .iter()
            .map(|r| serde_json::Value::from(r.changed_fields.clone()))
            .collect::<Vec<_>>(),
    )
    .arg::<Array<Text>, _>(snapshots)
    .arg::<Array<Nullable<Timestamptz>>, _>(revisions.iter().map(|r| r.known_at).collect::<Vec<_>>())
    .build().execute(conn)
    .await?;
    Ok(())
}
