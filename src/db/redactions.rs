//! All SQL of redactions: erasing a deleted event's content from its
//! history, the event row and the catalogue, in one transaction, and the
//! record of it in `event_redactions`.

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::sql::SqlBuilder;
use crate::error::ApiError;
use crate::models::redaction::{Reason, Redaction};
use crate::models::values::EventId;
use crate::schema::{event_redactions, event_revisions, event_timelines, events};

/// What stays of an event once redacted: its id, type, dates, status,
/// version and timestamps (so that every revision is still a valid event);
/// everything that names, describes, places or cites goes.
const REDACTED: &str = r#"{"external_id": null, "title": "[redacted]", "summary": null, "language": null,
    "timezone": null, "location": null, "actors": [], "casualties": [], "sources": [], "tags": [],
    "timelines": []}"#;

/// The title a redacted event keeps.
pub const REDACTED_TITLE: &str = "[redacted]";

#[derive(Queryable, Selectable)]
#[diesel(table_name = event_redactions, check_for_backend(diesel::pg::Pg))]
struct RedactionRow {
    redacted_at: DateTime<Utc>,
    redacted_by: Option<String>,
    reason: String,
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
    let deleted: Option<bool> = events::table
        .find(id.0)
        .select(events::deleted_at.is_not_null())
        .for_update()
        .first(conn)
        .await
        .optional()?;
    match deleted {
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
    // The revisions are counted in the same statement that records them.
    let counted = event_revisions::table
        .filter(event_revisions::event_id.eq(id.0))
        .select((
            id.0.into_sql::<SqlUuid>(),
            author.into_sql::<Nullable<Text>>(),
            reason.as_str().into_sql::<Text>(),
            count_star().fallible_cast::<Integer>(),
        ));
    let rows: Vec<RedactionRow> = diesel::insert_into(event_redactions::table)
        .values(counted)
        .into_columns((
            event_redactions::event_id,
            event_redactions::redacted_by,
            event_redactions::reason,
            event_redactions::revisions,
        ))
        .returning(RedactionRow::as_returning())
        .load(conn)
        .await?;
    rows.into_iter()
        .next()
        .map(Redaction::from)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the redaction was not recorded")))
}

const ERASE_HISTORY_SQL: &str = "UPDATE event_revisions SET snapshot = (snapshot::jsonb || $1::jsonb)::json, deleted = true, \
             country_code = NULL, tags = '{}', actor_keys = '{}', timeline_slugs = '{}', \
             lat = NULL, lon = NULL, search = NULL \
         WHERE event_id = $2";

/// Rewrites every revision (the one exception the history's append-only
/// trigger makes) and marks each deleted, so no `as_of` read finds any.
async fn erase_history(conn: &mut AsyncPgConnection, id: EventId) -> Result<(), ApiError> {
    // Hand-built: a setting set by a function call, and a JSON merge done by
    // Postgres (`||` on jsonb) that diesel's DSL has no operator for on `json`.
    SqlBuilder::fixed("SELECT set_config('chronik.redacting', $1, true)")
        .arg::<Text, _>(id.to_string())
        .build()
        .execute(conn)
        .await?;
    SqlBuilder::fixed(ERASE_HISTORY_SQL)
        .arg::<Text, _>(REDACTED)
        .arg::<SqlUuid, _>(id.0)
        .build()
        .execute(conn)
        .await?;
    Ok(())
}

const ERASE_CURRENT_SQL: &str =
    "DELETE FROM idempotency_keys WHERE position(convert_to($1::uuid::text, 'UTF8') IN body) > 0";

/// Empties the event row and its links, and drops what only it cited.
async fn erase_current(conn: &mut AsyncPgConnection, id: EventId) -> Result<(), ApiError> {
    diesel::update(events::table.find(id.0))
        .set((
            events::external_id.eq(None::<String>),
            events::title.eq(REDACTED_TITLE),
            events::summary.eq(None::<String>),
            events::language.eq(None::<String>),
            events::timezone.eq(None::<String>),
            events::location_name.eq(None::<String>),
            events::admin1.eq(None::<String>),
            events::country_code.eq(None::<String>),
            events::lat.eq(None::<f64>),
            events::lon.eq(None::<f64>),
            events::casualties.eq(serde_json::json!([])),
            events::tags.eq(Vec::<Option<String>>::new()),
        ))
        .execute(conn)
        .await?;
    // Hand-built: a data-modifying CTE, which diesel's DSL cannot express.
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
    diesel::delete(event_timelines::table.filter(event_timelines::event_id.eq(id.0)))
        .execute(conn)
        .await?;
    // A replayable response to the event's creation would hand its content
    // out again. Hand-built: a byte search with functions the DSL does not know.
    SqlBuilder::fixed(ERASE_CURRENT_SQL)
        .arg::<SqlUuid, _>(id.0)
        .build()
        .execute(conn)
        .await?;
    Ok(())
}

/// The redaction of event `id`, if its history was redacted.
pub async fn find(
    conn: &mut AsyncPgConnection,
    id: EventId,
) -> Result<Option<Redaction>, ApiError> {
    Ok(event_redactions::table
        .find(id.0)
        .select(RedactionRow::as_select())
        .first::<RedactionRow>(conn)
        .await
        .optional()?
        .map(Redaction::from))
}
