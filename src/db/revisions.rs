//! All SQL that reads an event's history (`event_revisions`). Writes to it
//! happen only in `events.rs`, in the transaction of the change they record.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{
    Array, BigInt, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::events::parse_stored;
use crate::error::ApiError;
use crate::models::event::Event;
use crate::models::revision::{Revision, RevisionDetail};
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
    #[diesel(sql_type = Jsonb)]
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
    let rows: Vec<RevisionRow> = diesel::sql_query(format!(
        "SELECT {REVISION_COLUMNS} FROM event_revisions WHERE event_id = $1 AND version > $2 \
         ORDER BY version LIMIT $3"
    ))
    .bind::<SqlUuid, _>(id.0)
    .bind::<Integer, _>(after)
    .bind::<BigInt, _>(limit)
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
    let rows: Vec<DetailRow> = diesel::sql_query(format!(
        "SELECT {REVISION_COLUMNS}, snapshot FROM event_revisions WHERE event_id = $1 AND version = $2"
    ))
    .bind::<SqlUuid, _>(id.0)
    .bind::<Integer, _>(version)
    .load(conn)
    .await?;
    rows.into_iter()
        .next()
        .map(|row| {
            Ok(RevisionDetail {
                revision: row.revision.into_revision()?,
                event: snapshot(row.snapshot)?,
            })
        })
        .transpose()
}

#[derive(QueryableByName)]
struct AsOfRow {
    #[diesel(sql_type = Jsonb)]
    snapshot: serde_json::Value,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    deleted: bool,
}

/// The event as it was known at `as_of`: `None` if it was not known yet, or
/// deleted by then.
pub async fn find_as_of(
    conn: &mut AsyncPgConnection,
    id: EventId,
    as_of: DateTime<Utc>,
) -> Result<Option<Event>, ApiError> {
    let rows: Vec<AsOfRow> = diesel::sql_query(
        "SELECT snapshot, deleted FROM event_revisions WHERE event_id = $1 AND known_at <= $2 \
         ORDER BY version DESC LIMIT 1",
    )
    .bind::<SqlUuid, _>(id.0)
    .bind::<Timestamptz, _>(as_of)
    .load(conn)
    .await?;
    match rows.into_iter().next() {
        Some(row) if !row.deleted => Ok(Some(snapshot(row.snapshot)?)),
        _ => Ok(None),
    }
}
