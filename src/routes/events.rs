use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::listing::{self, EventList, EventQuery};
use super::problems::{
    ExportUnavailable, IfMatchRequired, KnownAtOutOfOrder, NoSuchEvent, NotAcceptable,
    UnsupportedContentType, VersionMismatch,
};
use super::{
    JSON, MERGE_PATCH_JSON, WriteParams, event_response, expected_version, parse_event_id,
    stored_event_response,
};
use crate::auth::Caller;
use crate::db;
use crate::db::revisions::AsOf;
use crate::error::ApiError;
use crate::filter::{FilterParams, HistoryParams, PageParams, parse_instant};
use crate::formats::FormatParams;
use crate::json::{from_value_checked, parse_body, parse_json};
use crate::models::event::{Event, EventInput, ValidEventInput};
use crate::models::values::ExternalId;
use crate::read_your_writes::ReadAt;
use crate::state::AppState;
use serde::Deserialize;
use utoipa::IntoParams;

/// List events, filtered; paged, or exported whole.
///
/// Filters combine with AND; comma lists within one parameter with OR.
/// The format is `?format=` if given, else negotiated from `Accept`:
/// JSON (default) and CSV are paged by keyset cursor (follow `next_cursor` or
/// the `Link: rel="next"` header until there is none, and every matching event
/// comes exactly once); NDJSON, GeoJSON, TimelineJS and `format=csv&stream=all`
/// carry every matching event, streamed from one consistent snapshot.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(ReadAt, FilterParams, HistoryParams, PageParams, FormatParams),
    responses(
        (status = 200, response = EventList),
        (status = 400, description = "A query parameter is invalid or unknown, or `type` or `timeline` names no event type or timeline (`errors[].field` names the parameter; the message lists the known types and the closest one)"),
        NotAcceptable,
        ExportUnavailable,
    ))]
pub async fn list_events(
    state: web::Data<AppState>,
    at: ReadAt,
    req: HttpRequest,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse(&req)?;
    state.vocabulary.check(&state.pool, &request.filter).await?;
    listing::respond(&state, &req, request, None, "events", at).await
}

/// Record a new event.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    params(WriteParams),
    request_body(content = EventInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Stored; the body is the stored event", body = Event,
            headers(("Location" = String, description = "`/v1/events/{id}`"), ("ETag" = String, description = "The version, e.g. `\"1\"`"))),
        (status = 400, description = "The body is not valid JSON, or `known_at` is not a date-time"),
        (status = 409, description = "`external_id` is taken"),
        (status = 413, description = "The body is larger than `CHRONIK_MAX_BODY_BYTES` (1 MiB by default); the detail states the limit in bytes"),
        UnsupportedContentType,
        (status = 422, description = "A field is missing, unknown or invalid (or `known_at` is in the future); `errors` names each"),
    ))]
pub async fn create_event(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    params: web::Query<WriteParams>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let meta = params.change_meta(&caller)?;
    let input = event_body(&state, &req, &body).await?;
    let mut conn = state.pool.get().await?;
    let event = db::events::create(&mut conn, input, &meta).await?;
    let mut builder = HttpResponse::Created();
    builder.insert_header((header::LOCATION, format!("/v1/events/{}", event.id)));
    Ok(event_response(builder, &event))
}

/// The event a create or replace body holds. Every error comes in one 422:
/// wrong types, failed checks, and an event type or timelines that do not
/// exist (which the store checks again when it writes).
async fn event_body(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<ValidEventInput, ApiError> {
    let value = parse_json(req, body, &[JSON])?;
    match from_value_checked::<EventInput, _>(&value, ValidEventInput::try_from) {
        Err(ApiError::Validation(mut errors)) => {
            let unknown = state
                .vocabulary
                .unknown_references(&state.pool, &value, &errors)
                .await?;
            errors.extend(unknown);
            Err(ApiError::Validation(errors))
        }
        parsed => parsed,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventReadParams {
    /// The event as it was known at this instant (RFC 3339 with offset): the snapshot of its latest
    /// revision whose `known_at` is not after it. `404` if it was not known yet, or deleted by then.
    #[param(value_type = Option<String>, format = DateTime, example = "2022-01-06T06:00:00Z")]
    pub as_of: Option<String>,
}

/// Get one event, as it is now or as it was known at an instant.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    params(ReadAt, ("id" = uuid::Uuid, Path, description = "Event id (UUID)", example = "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01"),
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag seen before, e.g. `\"3\"`: `304` while the event is still at that version"),
        EventReadParams),
    responses(
        (status = 200, description = "The event", body = Event, headers(("ETag" = String, description = "The version, e.g. `\"3\"`"))),
        (status = 304, description = "`If-None-Match` names the current version"),
        (status = 400, description = "The id is not a UUID, or `as_of` is not a date-time"),
        (status = 404, description = "No such event, or it was deleted (with `as_of`: not known yet, or deleted by then)"),
    ))]
pub async fn get_event(
    state: web::Data<AppState>,
    at: ReadAt,
    path: web::Path<String>,
    query: web::Query<EventReadParams>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let as_of = query
        .as_of
        .as_deref()
        .map(parse_instant)
        .transpose()
        .map_err(|e| ApiError::field("as_of", e))?;
    let mut conn = state.reads.get(at.0).await?;
    let (version, event) = match as_of {
        None => db::events::find(&mut conn, id)
            .await?
            .ok_or_else(|| db::events::not_found(id))?,
        Some(as_of) => match db::revisions::find_as_of(&mut conn, id, as_of).await? {
            AsOf::Known(version, event) => (version, event),
            AsOf::Deleted => {
                return Err(ApiError::NotFound(format!(
                    "event {id} was deleted by {}, as known then",
                    as_of.to_rfc3339()
                )));
            }
            AsOf::NotYetKnown(first) => {
                return Err(ApiError::NotFound(format!(
                    "event {id} was not known yet at {}: its first revision is known at {}",
                    as_of.to_rfc3339(),
                    first.to_rfc3339()
                )));
            }
            AsOf::Never => return Err(db::events::not_found(id)),
        },
    };
    Ok(stored_event_response(HttpResponse::Ok(), version, event))
}

/// Get the live event with this `external_id`.
///
/// For an id from another system, such as ACLED's `event_id_cnty`
/// (`KAZ9002`): the same answer as `GET /v1/events/{id}`, with
/// `Content-Location` naming that URL. `GET /v1/events?external_id=` filters
/// lists (and `as_of` reads) the same way.
#[utoipa::path(get, path = "/v1/events/by-external-id/{external_id}", tag = "events",
    params(ReadAt, ("external_id" = String, Path, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F]*[^\u0000-\u0020\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F]*$", description = "The event's `external_id` (1 to 200 characters, not blank, percent-encoded)", example = "KAZ9002")),
    responses(
        (status = 200, description = "The event", body = Event, headers(
            ("ETag" = String, description = "The version, e.g. `\"3\"`"),
            ("Content-Location" = String, description = "`/v1/events/{id}`: the event's own URL"),
        )),
        (status = 304, description = "`If-None-Match` names the current version"),
        (status = 400, description = "The external id is empty or longer than 200 characters"),
        (status = 404, description = "No live event has this external id"),
    ))]
pub async fn get_event_by_external_id(
    state: web::Data<AppState>,
    at: ReadAt,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let external_id: ExternalId = super::parse_path("external_id", &path)?;
    let mut conn = state.reads.get(at.0).await?;
    let not_found =
        || ApiError::NotFound(format!("no live event has the external id `{external_id}`"));
    let (id, _) = db::events::find_by_external_id(&mut conn, &external_id)
        .await?
        .ok_or_else(not_found)?;
    // Deleted (or re-keyed) between the two reads: as if never found.
    let (version, event) = db::events::find(&mut conn, id)
        .await?
        .ok_or_else(not_found)?;
    let mut builder = HttpResponse::Ok();
    builder.insert_header((header::CONTENT_LOCATION, format!("/v1/events/{id}")));
    Ok(stored_event_response(builder, version, event))
}

/// Change some fields of an event (JSON merge patch, RFC 7396).
///
/// Keys absent from the patch stay as they are; `null` clears a field (lists
/// become empty); arrays are replaced whole. With `If-Match: "<version>"` the
/// change applies only if nobody changed the event since that version.
#[utoipa::path(patch, path = "/v1/events/{id}", tag = "events",
    params(
        ("id" = uuid::Uuid, Path, description = "Event id (UUID)"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(\*|"[0-9]{1,9}")$"#, description = "Apply only to this version, e.g. `\"3\"`"),
        WriteParams,
    ),
    request_body(description = "A merge patch of the writable fields (the schema EventPatch, derived from EventInput)",
        content(
            (serde_json::Value = "application/merge-patch+json",
                example = json!({"casualties": [{"kind": "killed", "party": "protesters", "min": 26, "max": 26, "status": "confirmed"}], "status": "confirmed"})),
            (serde_json::Value = "application/json"),
        )),
    responses(
        (status = 200, description = "The updated event (unchanged, same version, if the patch changed nothing)", body = Event,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed JSON or If-Match"),
        NoSuchEvent,
        VersionMismatch,
        IfMatchRequired,
        UnsupportedContentType,
        (status = 409, description = "`external_id` belongs to another event"),
        (status = 422, description = "The patched event is invalid"),
    ))]
pub async fn patch_event(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<WriteParams>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let expected = expected_version(&req, &state)?;
    let meta = params.change_meta(&caller)?;
    let patch: serde_json::Value = parse_body(&req, &body, &[MERGE_PATCH_JSON, JSON])?;
    let mut conn = state.pool.get().await?;
    let event = db::events::patch(&mut conn, id, patch, expected, &meta).await?;
    Ok(event_response(HttpResponse::Ok(), &event))
}

/// Replace an event's writable fields.
///
/// Fields absent from the body take their defaults, as on creation.
#[utoipa::path(put, path = "/v1/events/{id}", tag = "events",
    params(
        ("id" = uuid::Uuid, Path, description = "Event id (UUID)"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(\*|"[0-9]{1,9}")$"#, description = "Apply only to this version, e.g. `\"3\"`"),
        WriteParams,
    ),
    request_body(content = EventInput, content_type = "application/json"),
    responses(
        (status = 200, description = "The replaced event", body = Event, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed JSON or If-Match"),
        NoSuchEvent,
        (status = 409, description = "`external_id` belongs to another event"),
        VersionMismatch,
        IfMatchRequired,
        UnsupportedContentType,
        (status = 422, description = "The event is invalid"),
    ))]
pub async fn replace_event(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<WriteParams>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let expected = expected_version(&req, &state)?;
    let meta = params.change_meta(&caller)?;
    let input = event_body(&state, &req, &body).await?;
    let mut conn = state.pool.get().await?;
    let event = db::events::replace(&mut conn, id, input, expected, &meta).await?;
    Ok(event_response(HttpResponse::Ok(), &event))
}

/// Delete an event (soft: it disappears from reads, its history is kept).
#[utoipa::path(delete, path = "/v1/events/{id}", tag = "events",
    params(
        ("id" = uuid::Uuid, Path, description = "Event id (UUID)"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(\*|"[0-9]{1,9}")$"#, description = "Delete only this version, e.g. `\"3\"`"),
        WriteParams,
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id or If-Match"),
        (status = 404, description = "No such event, or already deleted"),
        VersionMismatch,
        KnownAtOutOfOrder,
        IfMatchRequired,
    ))]
pub async fn delete_event(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<WriteParams>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let expected = expected_version(&req, &state)?;
    let meta = params.change_meta(&caller)?;
    let mut conn = state.pool.get().await?;
    db::events::delete(&mut conn, id, expected, &meta).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Bring back a deleted event.
///
/// The event returns as it was when deleted, at a new version (a revision of
/// kind `restored`); `as_of` reads before the deletion, during it and after
/// the restore each see what was known then.
#[utoipa::path(post, path = "/v1/events/{id}/restore", tag = "events",
    params(
        ("id" = uuid::Uuid, Path, description = "Event id (UUID)"),
        ("If-Match" = Option<String>, Header, nullable = false, pattern = r#"^(\*|"[0-9]{1,9}")$"#, description = "Restore only if the deleted event is at this version, e.g. `\"4\"`"),
        WriteParams,
    ),
    responses(
        (status = 200, description = "The restored event", body = Event, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed id, If-Match or known_at"),
        NoSuchEvent,
        (status = 409, description = "The event is not deleted, or its history was redacted"),
        VersionMismatch,
        KnownAtOutOfOrder,
        IfMatchRequired,
    ))]
pub async fn restore_event(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    params: web::Query<WriteParams>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let expected = expected_version(&req, &state)?;
    let meta = params.change_meta(&caller)?;
    let mut conn = state.pool.get().await?;
    let event = db::events::restore(&mut conn, id, expected, &meta).await?;
    Ok(event_response(HttpResponse::Ok(), &event))
}
