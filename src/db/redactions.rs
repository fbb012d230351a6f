//! All SQL of redactions: erasing a deleted event's content from its
//! history, the event row and the catalogue, in one transaction, and the
//! record of it in `event_redactions`.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::sql::SqlBuilder;
use crate::error::ApiError;
use crate::models::redaction::{Reason, Redaction};
use crate::models::values::EventId;

/// What stays of an event once redacted: its id, type, dates, status,
/// version and timestamps (so that every revision is still a valid event);
/// everything that names, describes, places or cites goes.
const REDACTED: &str = r#"{"external_id": null, "title": "[redacted]", "summary": null, "language": null,
    "timezone": null, "location": null, "actors": [], "casualties": [], "sources": [], "tags": [],
    "timelines": []}"#;

/// The title a redacted event keeps.
pub const REDACTED_TITLE: &str = "[redacted]";

#[derive(QueryableByName)]
struct RedactionRow {
    #[diesel(sql_type = Timestamptz)]
    redacted_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Text>)]
    redacted_by: Option<String>,
    #[diesel(sql_type = Text)]
    reason: String,
    #[diesel(sql_type = Integer)]
    revisions: i32,
}

impl From<RedactionRow> for Redaction {
    fn from(row: RedactionRow) -> Self {
        Self {
            redacted_at: row.redacted_at,
            redacted_by: row.redacted_by,
            reason: row.reason,
            revisions: row.revisions,
        }
    }
}

#[derive(QueryableByName)]
struct Deleted {
    #[diesel(sql_type = Bool)]
    deleted: bool,
}

/// Redacts the deleted event `id`: every revision's content, the event row,
/// its actor, source and timeline links, catalogue entries no other event
/// cites, and stored idempotent responses that carry it.
pub async fn redact(
    conn: &mut AsyncPgConnection,
    id: EventId,
    reason: &Reason,
    author: Option<&str>,
) -> Result<Redaction, ApiError> {
    conn.transaction::<_, ApiError, _>(async move |conn| {
        check_redactable(conn, id).await?;
        let redaction = record(conn, id, reason, author).await?;
        erase_history(conn, id).await?;
        erase_current(conn, id).await?;
        Ok(redaction)
    })
    .await
}

/// Locks the event; only a deleted one that is not yet redacted qualifies.
async fn check_redactable(conn: &mut AsyncPgConnection, id: EventId) -> Result<(), ApiError> {
    let rows: Vec<Deleted> = SqlBuilder::fixed(
        "SELECT deleted_at IS NOT NULL AS deleted FROM events WHERE id = $1 FOR UPDATE",
    )
    .arg::<SqlUuid, _>(id.0)
    .build()
    .load(conn)
    .await?;
    match rows.into_iter().next().map(|row| row.deleted) {
        None => Err(ApiError::NotFound(format!("no event with id {id}"))),
        Some(false) => Err(ApiError::Conflict(format!(
            "event {id} is not deleted; delete it first (DELETE /v1/events/{id}), then redact its history"
        ))),
        Some(_) if find(conn, id).await?.is_some() => Err(ApiError::Conflict(format!(
            "event {id} is already redacted"
        ))),
        Some(_) => Ok(()),
    }
}

async fn record(
    conn: &mut AsyncPgConnection,
    id: EventId,
    reason: &Reason,
    author: Option<&str>,
) -> Result<Redaction, ApiError> {
    let rows: Vec<RedactionRow> = SqlBuilder::fixed(
        "INSERT INTO event_redactions (event_id, redacted_by, reason, revisions) \
         SELECT $1, $2, $3, count(*) FROM event_revisions WHERE event_id = $4 \
         RETURNING redacted_at, redacted_by, reason, revisions",
    )
    .arg::<SqlUuid, _>(id.0)
    .arg::<Nullable<Text>, _>(author.map(str::to_owned))
    .arg::<Text, _>(reason.as_str().to_owned())
    .arg::<SqlUuid, _>(id.0)
    .build()
    .load(conn)
    .await?;
    rows.into_iter()
        .next()
        .map(Redaction::from)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the redaction was not recorded")))
}

/// Rewrites every revision (the one exception the history's append-only
/// trigger makes) and marks each deleted, so no `as_of` read finds any.
async fn erase_history(conn: &mut AsyncPgConnection, id: EventId) -> Result<(), ApiError> {
    SqlBuilder::fixed("SELECT set_config('chronik.redacting', $1, true)")
        .arg::<Text, _>(id.to_string())
        .build()
        .execute(conn)
        .await?;
    SqlBuilder::fixed(
        "UPDATE event_revisions SET snapshot = (snapshot::jsonb || $1::jsonb)::json, deleted = true, \
             country_code = NULL, tags = '{}', actor_keys = '{}', timeline_slugs = '{}', \
             lat = NULL, lon = NULL, search = NULL \
         WHERE event_id = $2",
    )
    .arg::<Text, _>(REDACTED)
    .arg::<SqlUuid, _>(id.0)
    .build()
    .execute(conn)
    .await?;
    Ok(())
}

/// Empties the event row and its links, and drops what only it cited.
async fn erase_current(conn: &mut AsyncPgConnection, id: EventId) -> Result<(), ApiError> {
    SqlBuilder::fixed(
        "UPDATE events SET external_id = NULL, title = $1, summary = NULL, language = NULL, \
             timezone = NULL, location_name = NULL, admin1 = NULL, country_code = NULL, lat = NULL, \
             lon = NULL, casualties = '[]', tags = '{}' \
         WHERE id = $2",
    )
    .arg::<Text, _>(REDACTED_TITLE)
    .arg::<SqlUuid, _>(id.0)
    .build()
    .execute(conn)
    .await?;
    // Each CTE's delete is not visible to its outer statement: that asks for other events' links.
    let unlink_and_drop_orphans = [
        "WITH gone AS (DELETE FROM event_actors WHERE event_id = $1 RETURNING actor_id) \
         DELETE FROM actors a USING gone WHERE a.id = gone.actor_id \
             AND NOT EXISTS (SELECT 1 FROM event_actors x WHERE x.actor_id = a.id AND x.event_id <> $2)",
        "WITH gone AS (DELETE FROM event_sources WHERE event_id = $1 RETURNING source_id) \
         DELETE FROM sources s USING gone WHERE s.id = gone.source_id \
             AND NOT EXISTS (SELECT 1 FROM event_sources x WHERE x.source_id = s.id AND x.event_id <> $2)",
    ];
    for sql in unlink_and_drop_orphans {
        SqlBuilder::fixed(sql)
            .arg::<SqlUuid, _>(id.0)
            .arg::<SqlUuid, _>(id.0)
            .build()
            .execute(conn)
            .await?;
    }
    let unlink = [
        "DELETE FROM event_timelines WHERE event_id = $1",
        // A replayable response to the event's creation would hand its content out again.
        "DELETE FROM idempotency_keys WHERE position(convert_to($1::uuid::text, 'UTF8') IN body) > 0",
    ];
    for sql in unlink {
        SqlBuilder::fixed(sql)
            .arg::<SqlUuid, _>(id.0)
            .build()
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// The redaction of event `id`, if its history was redacted.
pub async fn find(
    conn: &mut AsyncPgConnection,
    id: EventId,
) -> Result<Option<Redaction>, ApiError> {
    let rows: Vec<RedactionRow> = SqlBuilder::fixed(
        "SELECT redacted_at, redacted_by, reason, revisions FROM event_redactions WHERE event_id = $1",
    )
    .arg::<SqlUuid, _>(id.0)
    .build()
    .load(conn)
    .await?;
    Ok(rows.into_iter().next().map(Redaction::from))
}
