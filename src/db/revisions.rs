//! The append-only history: every write to an event, whether through the
//! API or an import, appends its revisions through [`append`], so that both
//! record exactly the same rows.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::events::ChangeKind;
use crate::error::ApiError;
use crate::models::event::Event;

/// One revision to append: the event as just written (read back from the
/// store), what kind of change it was, and which fields it changed.
pub struct NewRevision<'a> {
    pub event: &'a Event,
    pub kind: ChangeKind,
    pub changed_fields: Vec<String>,
    /// When the information became public; `None` is now.
    pub known_at: Option<DateTime<Utc>>,
}

/// Appends the events' current states to their histories in one statement.
/// The filterable columns are copied from the rows just written.
pub async fn append(
    conn: &mut AsyncPgConnection,
    revisions: &[NewRevision<'_>],
    author: Option<&str>,
) -> Result<(), ApiError> {
    if revisions.is_empty() {
        return Ok(());
    }
    let snapshots = revisions
        .iter()
        .map(|r| serde_json::to_value(r.event))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    diesel::sql_query(
        "INSERT INTO event_revisions (event_id, version, kind, recorded_at, known_at, author, changed_fields, snapshot, \
             deleted, occurred_start, occurred_until, event_type, country_code, status, tags, actor_keys, timeline_slugs) \
         SELECT e.id, e.version, r.kind, now(), COALESCE(r.known_at, now()), $6, \
             ARRAY(SELECT jsonb_array_elements_text(r.changed_fields)), r.snapshot, e.deleted_at IS NOT NULL, \
             e.occurred_start, e.occurred_until, e.event_type, e.country_code, e.status, e.tags, \
             ARRAY(SELECT a.name_key FROM event_actors ea JOIN actors a ON a.id = ea.actor_id WHERE ea.event_id = e.id), \
             ARRAY(SELECT t.slug FROM event_timelines et JOIN timelines t ON t.id = et.timeline_id WHERE et.event_id = e.id) \
         FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[], $5::timestamptz[]) \
             AS r(id, kind, changed_fields, snapshot, known_at) \
         JOIN events e ON e.id = r.id",
    )
    .bind::<Array<SqlUuid>, _>(revisions.iter().map(|r| r.event.id.0).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(revisions.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>())
    .bind::<Array<Jsonb>, _>(
        revisions
            .iter()
            .map(|r| serde_json::Value::from(r.changed_fields.clone()))
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Jsonb>, _>(snapshots)
    .bind::<Array<Nullable<Timestamptz>>, _>(revisions.iter().map(|r| r.known_at).collect::<Vec<_>>())
    .bind::<Nullable<Text>, _>(author)
    .execute(conn)
    .await?;
    Ok(())
}
