//! Single-event writes: each in one transaction that locks the row, writes
//! the event and its children, and appends its revision.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Integer, Jsonb, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel::{QueryableByName, result::Error as DieselError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::known_at::check_known_at;
use super::query::strings;
use super::rows::get;
use crate::db::batch::writable_columns;
use crate::db::sql::SqlBuilder;
use crate::error::{ApiError, FieldError};
use crate::models::event::{Event, EventInput, ValidEventInput};
use crate::models::revision::{ChangeKind, ChangeMeta};
use crate::models::values::EventId;
use crate::suggest::unknown_type;
use std::collections::BTreeSet;

/// The start of a new event's INSERT: its id, then [`bind_fields`], then the times.
const INSERT_EVENT: &str = concat!(
    "INSERT INTO events (id, ",
    writable_columns!(),
    ", created_at, updated_at) VALUES ("
);

/// The start of an event's UPDATE: [`bind_fields`], then version and time.
const UPDATE_EVENT: &str = concat!(
    "UPDATE events SET (",
    writable_columns!(),
    ", version, updated_at) = ("
);

/// Failure inside a write transaction. `Unchanged` rolls back a write that
/// turned out to change nothing, so it creates no revision.
enum TxError {
    Api(ApiError),
    Unchanged(Box<Event>),
}

impl From<DieselError> for TxError {
    fn from(err: DieselError) -> Self {
        Self::Api(err.into())
    }
}

impl From<ApiError> for TxError {
    fn from(err: ApiError) -> Self {
        Self::Api(err)
    }
}

fn finish(result: Result<Event, TxError>) -> Result<Event, ApiError> {
    match result {
        Ok(event) => Ok(event),
        Err(TxError::Unchanged(event)) => Ok(*event),
        Err(TxError::Api(err)) => Err(err),
    }
}

pub async fn create(
    conn: &mut AsyncPgConnection,
    input: ValidEventInput,
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    let result = conn
        .transaction::<_, TxError, _>(async move |conn| {
            generic_plans(conn).await?;
            check_references(conn, &input).await?;
            let id = EventId::new();
            let mut q = SqlBuilder::new(INSERT_EVENT);
            q.bind::<SqlUuid, _>(id.0).sql(", ");
            bind_fields(&mut q, &input)?;
            q.sql(", now(), now()) RETURNING created_at AS at");
            let created: Stamp = q.build().get_result(conn).await?;
            let shared = write_children(conn, id, &input, false).await?;
            // Built as an import builds it, without reading the row back:
            // that read aggregated actors, sources and timelines for an
            // event whose every value is known here (tests compare it with
            // the event as read).
            let event = shared.event(id, &input, 1, created.at, created.at);
            let all_fields = changed_fields(&serde_json::Value::Null, &event);
            append_revision(conn, &event, ChangeKind::Created, &all_fields, meta).await?;
            Ok(event)
        })
        .await;
    finish(result)
}

/// Replaces all writable fields. `expected_version` implements `If-Match`.
pub async fn replace(
    conn: &mut AsyncPgConnection,
    id: EventId,
    input: ValidEventInput,
    expected_version: Option<i32>,
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    update(conn, id, expected_version, meta, move |_| Ok(input)).await
}

/// Applies an RFC 7396 merge patch to the event's writable fields.
pub async fn patch(
    conn: &mut AsyncPgConnection,
    id: EventId,
    patch: serde_json::Value,
    expected_version: Option<i32>,
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    update(conn, id, expected_version, meta, move |current| {
        let mut merged = current.writable_json();
        json_patch::merge(&mut merged, &patch);
        crate::json::from_value_checked::<EventInput, _>(&merged, ValidEventInput::try_from)
    })
    .await
}

/// Rewrites an event from its current state, under a row lock, so that
/// concurrent writers apply one after the other and no update is lost.
async fn update<F>(
    conn: &mut AsyncPgConnection,
    id: EventId,
    expected_version: Option<i32>,
    meta: &ChangeMeta,
    build: F,
) -> Result<Event, ApiError>
where
    F: FnOnce(&Event) -> Result<ValidEventInput, ApiError> + Send,
{
    let result = conn
        .transaction::<_, TxError, _>(async move |conn| {
            generic_plans(conn).await?;
            let before = lock_live(conn, id, expected_version).await?;
            let input = build(&before)?;
            check_references(conn, &input).await?;
            let mut q = SqlBuilder::new(UPDATE_EVENT);
            bind_fields(&mut q, &input)?;
            q.sql(", version + 1, now()) WHERE id = ")
                .bind::<SqlUuid, _>(id.0)
                .sql(" RETURNING updated_at AS at");
            let updated: Stamp = q.build().get_result(conn).await?;
            for table in ["event_actors", "event_sources"] {
                SqlBuilder::fixed(&format!("DELETE FROM {table} WHERE event_id = $1"))
                    .arg::<SqlUuid, _>(id.0)
                    .build()
                    .execute(conn)
                    .await?;
            }
            let shared = write_children(conn, id, &input, true).await?;
            // Built from the input, as a create builds it, without a read back.
            let after = shared.event(
                id,
                &input,
                before.version + 1,
                before.created_at,
                updated.at,
            );
            let fields = changed_fields(&before.writable_json(), &after);
            if fields.is_empty() {
                return Err(TxError::Unchanged(Box::new(before)));
            }
            append_revision(conn, &after, ChangeKind::Updated, &fields, meta).await?;
            Ok(after)
        })
        .await;
    finish(result)
}

/// Soft delete: the event disappears from reads; its history stays.
pub async fn delete(
    conn: &mut AsyncPgConnection,
    id: EventId,
    expected_version: Option<i32>,
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    let result = conn
        .transaction::<_, TxError, _>(async move |conn| {
            generic_plans(conn).await?;
            lock_live(conn, id, expected_version).await?;
            set_deleted(conn, id, true, meta).await
        })
        .await;
    finish(result)
}

const RECORD_CHANGE_SQL: &str =
    "UPDATE events SET version = version + 1, updated_at = now() WHERE id = $1";

/// Records a change made by another resource (timeline membership) as a new version.
pub async fn record_change(
    conn: &mut AsyncPgConnection,
    id: EventId,
    fields: &[&str],
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    SqlBuilder::fixed(RECORD_CHANGE_SQL)
        .arg::<SqlUuid, _>(id.0)
        .build()
        .execute(conn)
        .await?;
    let event = get(conn, id).await?;
    let fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    append_revision(conn, &event, ChangeKind::Updated, &fields, meta).await?;
    Ok(event)
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Integer)]
    version: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    deleted: bool,
}

const LOCK_SQL: &str =
    "SELECT version, deleted_at IS NOT NULL AS deleted FROM events WHERE id = $1 FOR UPDATE";

/// Locks the event row for the rest of the transaction; `None` if there is none.
async fn lock(conn: &mut AsyncPgConnection, id: EventId) -> Result<Option<Locked>, ApiError> {
    let locked: Vec<Locked> = SqlBuilder::fixed(LOCK_SQL)
        .arg::<SqlUuid, _>(id.0)
        .build()
        .load(conn)
        .await?;
    Ok(locked.into_iter().next())
}

/// `If-Match`: the write applies only to the version the client saw.
fn check_version(expected_version: Option<i32>, locked: &Locked) -> Result<(), ApiError> {
    match expected_version {
        Some(expected) if expected != locked.version => {
            Err(precondition_failed(expected, locked.version))
        }
        _ => Ok(()),
    }
}

/// Locks a live (not deleted) event row for the rest of the transaction and checks `If-Match`.
pub async fn lock_live(
    conn: &mut AsyncPgConnection,
    id: EventId,
    expected_version: Option<i32>,
) -> Result<Event, ApiError> {
    let locked = lock(conn, id)
        .await?
        .filter(|l| !l.deleted)
        .ok_or_else(|| not_found(id))?;
    check_version(expected_version, &locked)?;
    get(conn, id).await
}

/// Brings a deleted event back, as a new revision; its history goes on.
pub async fn restore(
    conn: &mut AsyncPgConnection,
    id: EventId,
    expected_version: Option<i32>,
    meta: &ChangeMeta,
) -> Result<Event, ApiError> {
    let result = conn
        .transaction::<_, TxError, _>(async move |conn| {
            generic_plans(conn).await?;
            let locked = lock(conn, id).await?.ok_or_else(|| not_found(id))?;
            if !locked.deleted {
                return Err(ApiError::Conflict(format!(
                    "event {id} is not deleted; only a deleted event can be restored"
                ))
                .into());
            }
            if crate::db::redactions::find(conn, id).await?.is_some() {
                return Err(ApiError::Conflict(format!(
                    "event {id} was redacted: its content is gone, so it cannot be restored"
                ))
                .into());
            }
            check_version(expected_version, &locked)?;
            set_deleted(conn, id, false, meta).await
        })
        .await;
    finish(result)
}

const SET_DELETED_SQL: &str = "UPDATE events SET deleted_at = CASE WHEN $1 THEN now() END, version = version + 1, \
         updated_at = now() WHERE id = $2";

/// Deletes (soft) or restores the locked event, as a new version with its revision.
async fn set_deleted(
    conn: &mut AsyncPgConnection,
    id: EventId,
    deleted: bool,
    meta: &ChangeMeta,
) -> Result<Event, TxError> {
    SqlBuilder::fixed(SET_DELETED_SQL)
        .arg::<diesel::sql_types::Bool, _>(deleted)
        .arg::<SqlUuid, _>(id.0)
        .build()
        .execute(conn)
        .await?;
    let event = get(conn, id).await?;
    let kind = if deleted {
        ChangeKind::Deleted
    } else {
        ChangeKind::Restored
    };
    append_revision(conn, &event, kind, &[], meta).await?;
    Ok(event)
}

/// Lets the rest of a single-event write transaction reuse each prepared
/// statement's generic plan. Postgres otherwise plans some of them anew for
/// every execution: `auto_explain` showed the `event_sources` and
/// `event_revisions` inserts custom-planned on every POST, because their
/// `unnest($n)` of a one-element array looks cheaper planned for the values
/// (1 row) than generic (10), so the generic plan never wins. These
/// statements touch rows by key, which the generic plan does just as well.
/// Imports keep planning: their statements carry thousands of rows each, and
/// a generic plan for them is far slower (bench/README.md, "Design choices
/// measured").
async fn generic_plans(conn: &mut AsyncPgConnection) -> Result<(), DieselError> {
    crate::db::sql::set_local(conn, "plan_cache_mode = force_generic_plan").await
}

pub fn not_found(id: EventId) -> ApiError {
    ApiError::NotFound(format!("no event with id {id}"))
}

fn precondition_failed(expected: i32, current: i32) -> ApiError {
    ApiError::PreconditionFailed {
        detail: format!("If-Match names version {expected}, but the event is at version {current}"),
        current_version: current,
    }
}

/// The event type and timelines an input names must exist.
async fn check_references(
    conn: &mut AsyncPgConnection,
    input: &EventInput,
) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let types: BTreeSet<String> = crate::db::event_types::slugs(conn)
        .await?
        .into_iter()
        .collect();
    if !types.contains(input.event_type.as_str()) {
        errors.push(FieldError::new(
            "type",
            unknown_type(input.event_type.as_str(), &types),
        ));
    }
    if !input.timelines.is_empty() {
        let known = crate::db::timelines::existing_slugs(conn, &strings(&input.timelines)).await?;
        for (i, slug) in input.timelines.iter().enumerate() {
            if !known.iter().any(|k| k == slug.as_str()) {
                errors.push(FieldError::new(
                    format!("timelines[{i}]"),
                    format!("no timeline with slug `{slug}`"),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Binds the writable columns in the order the INSERT and UPDATE statements list them.
fn bind_fields(q: &mut SqlBuilder, input: &EventInput) -> Result<(), ApiError> {
    let casualties = serde_json::to_value(&input.casualties).map_err(ApiError::internal)?;
    let location = input.location.as_ref();
    q.bind::<Text, _>(input.title.to_string())
        .sql(", ")
        .bind::<Nullable<Text>, _>(input.summary.clone())
        .sql(", ")
        .bind::<Nullable<Text>, _>(input.language.as_ref().map(ToString::to_string))
        .sql(", ")
        .bind::<Text, _>(input.event_type.to_string())
        .sql(", ")
        .bind::<Timestamptz, _>(input.occurred_start)
        .sql(", ")
        .bind::<Nullable<Timestamptz>, _>(input.occurred_end)
        .sql(", ")
        .bind::<Text, _>(input.precision.as_str())
        .sql(", ")
        .bind::<Nullable<Text>, _>(input.timezone.as_ref().map(ToString::to_string))
        .sql(", ")
        .bind::<Nullable<Text>, _>(location.map(|l| l.name.clone()))
        .sql(", ")
        .bind::<Nullable<Text>, _>(location.and_then(|l| l.admin1.clone()))
        .sql(", ")
        .bind::<Nullable<Text>, _>(location.map(|l| l.country_code.to_string()))
        .sql(", ")
        .bind::<Nullable<diesel::sql_types::Double>, _>(location.and_then(|l| l.lat))
        .sql(", ")
        .bind::<Nullable<diesel::sql_types::Double>, _>(location.and_then(|l| l.lon))
        .sql(", ")
        .bind::<Jsonb, _>(casualties)
        .sql(", ")
        .bind::<Text, _>(input.status.as_str())
        .sql(", ")
        .bind::<Array<Text>, _>(strings(&input.tags))
        .sql(", ")
        .bind::<Nullable<Text>, _>(input.external_id.as_ref().map(ToString::to_string));
    Ok(())
}

/// Inserts actors, sources and timeline memberships of a new or (`replaced`)
/// rewritten event, through the same statements as imports.
async fn write_children(
    conn: &mut AsyncPgConnection,
    id: EventId,
    input: &ValidEventInput,
    replaced: bool,
) -> Result<crate::db::children::Shared, ApiError> {
    let replaced = if replaced { vec![id] } else { Vec::new() };
    crate::db::children::write_children(conn, &[(id, input)], &replaced).await
}

/// What a write's INSERT or UPDATE returns: the transaction's time, as
/// stored in `created_at` or `updated_at`.
#[derive(QueryableByName)]
struct Stamp {
    #[diesel(sql_type = Timestamptz)]
    at: DateTime<Utc>,
}

/// Top-level keys whose value differs between `before` (writable JSON, or
/// `Null` for a new event) and `after`.
pub fn changed_fields(before: &serde_json::Value, after: &Event) -> Vec<String> {
    let after = after.writable_json();
    let Some(after) = after.as_object() else {
        return Vec::new();
    };
    after
        .iter()
        .filter(|(key, value)| before.get(key.as_str()) != Some(value))
        .map(|(key, _)| key.clone())
        .collect()
}

/// Appends the event's current state to its append-only history, through
/// the same statement as imports.
async fn append_revision(
    conn: &mut AsyncPgConnection,
    event: &Event,
    kind: ChangeKind,
    changed_fields: &[String],
    meta: &ChangeMeta,
) -> Result<(), ApiError> {
    if let Some(known_at) = meta.known_at {
        check_known_at(conn, event.id, known_at).await?;
    }
    let revision = crate::db::revisions::NewRevision {
        event,
        kind,
        changed_fields: changed_fields.to_vec(),
        known_at: meta.known_at,
    };
    crate::db::revisions::append(conn, &[revision], meta.author.as_deref()).await
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396_examples() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            json_patch::merge(&mut target, &patch);
            assert_eq!(target, expected);
        }
    }
}
