use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::listing::{self, EventList, EventQuery};
use super::{JSON, MERGE_PATCH_JSON, event_response, if_match, parse_event_id};
use crate::app::AppState;
use crate::auth::Caller;
use crate::db;
use crate::error::{ApiError, Problem};
use crate::filter::{FilterParams, PageParams};
use crate::formats::FormatParams;
use crate::json::parse_body;
use crate::models::event::{Event, EventInput};

/// List events, filtered; paged, or exported whole.
///
/// Filters combine with AND; comma lists within one parameter with OR.
/// The format is `?format=` if given, else negotiated from `Accept`:
/// JSON (default) and CSV are paged by keyset cursor (follow `next_cursor` or
/// the `Link: rel="next"` header until there is none, and every matching event
/// comes exactly once); NDJSON, GeoJSON, TimelineJS and `format=csv&stream=all`
/// carry every matching event, streamed from one consistent snapshot.
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(FilterParams, PageParams, FormatParams),
    responses(
        (status = 200, response = EventList),
        (status = 400, description = "A query parameter is invalid or unknown", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "Accept names no supported media type; the problem lists the supported ones", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unreachable, or too many exports are running", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse(&req)?;
    listing::respond(&state, &req, request, None, "events").await
}

/// Record a new event.
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = EventInput, content_type = "application/json"),
    responses(
        (status = 201, description = "Stored; the body is the stored event", body = Event,
            headers(("Location" = String, description = "`/v1/events/{id}`"), ("ETag" = String, description = "The version, e.g. `\"1\"`"))),
        (status = 400, description = "The body is not valid JSON", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`external_id` is taken", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Content-Type is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing, unknown or invalid; `errors` names each", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_event(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let input: EventInput = parse_body(&req, &body, &[JSON])?;
    input.check().map_err(ApiError::Validation)?;
    let mut conn = state.pool.get().await?;
    let event = db::events::create(&mut conn, input, &caller.change_meta()).await?;
    let mut builder = HttpResponse::Created();
    builder.insert_header((header::LOCATION, format!("/v1/events/{}", event.id)));
    Ok(event_response(builder, &event))
}

/// Get one event.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "Event id (UUID)", example = "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01")),
    responses(
        (status = 200, description = "The event", body = Event, headers(("ETag" = String, description = "The version, e.g. `\"3\"`"))),
        (status = 400, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event, or it was deleted", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_event(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let mut conn = state.pool.get().await?;
    let event = db::events::find(&mut conn, id, false)
        .await?
        .ok_or_else(|| db::events::not_found(id))?;
    Ok(event_response(HttpResponse::Ok(), &event))
}

/// Change some fields of an event (JSON merge patch, RFC 7396).
///
/// Keys absent from the patch stay as they are; `null` clears a field (lists
/// become empty); arrays are replaced whole. With `If-Match: "<version>"` the
/// change applies only if nobody changed the event since that version.
#[utoipa::path(patch, path = "/v1/events/{id}", tag = "events",
    params(
        ("id" = String, Path, description = "Event id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "Apply only to this version, e.g. `\"3\"`"),
    ),
    request_body(description = "A merge patch of the writable fields (see EventInput)",
        content(
            (serde_json::Value = "application/merge-patch+json",
                example = json!({"casualties": [{"kind": "killed", "party": "protesters", "min": 26, "max": 26, "status": "confirmed"}], "status": "confirmed"})),
            (serde_json::Value = "application/json"),
        )),
    responses(
        (status = 200, description = "The updated event (unchanged, same version, if the patch changed nothing)", body = Event,
            headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names an old version; `current_version` says which is current", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Unsupported Content-Type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The patched event is invalid", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn patch_event(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let expected = if_match(&req)?;
    let patch: serde_json::Value = parse_body(&req, &body, &[MERGE_PATCH_JSON, JSON])?;
    if !patch.is_object() {
        return Err(ApiError::invalid(
            "body",
            "a merge patch must be a JSON object",
        ));
    }
    let mut conn = state.pool.get().await?;
    let event = db::events::patch(&mut conn, id, patch, expected, &caller.change_meta()).await?;
    Ok(event_response(HttpResponse::Ok(), &event))
}

/// Replace an event's writable fields.
///
/// Fields absent from the body take their defaults, as on creation.
#[utoipa::path(put, path = "/v1/events/{id}", tag = "events",
    params(
        ("id" = String, Path, description = "Event id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "Apply only to this version, e.g. `\"3\"`"),
    ),
    request_body(content = EventInput, content_type = "application/json"),
    responses(
        (status = 200, description = "The replaced event", body = Event, headers(("ETag" = String, description = "The new version"))),
        (status = 400, description = "Malformed JSON or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`external_id` belongs to another event", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names an old version", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Unsupported Content-Type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The event is invalid", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn replace_event(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let expected = if_match(&req)?;
    let input: EventInput = parse_body(&req, &body, &[JSON])?;
    input.check().map_err(ApiError::Validation)?;
    let mut conn = state.pool.get().await?;
    let event = db::events::replace(&mut conn, id, input, expected, &caller.change_meta()).await?;
    Ok(event_response(HttpResponse::Ok(), &event))
}

/// Delete an event (soft: it disappears from reads, its history is kept).
#[utoipa::path(delete, path = "/v1/events/{id}", tag = "events",
    params(
        ("id" = String, Path, description = "Event id (UUID)"),
        ("If-Match" = Option<String>, Header, description = "Delete only this version, e.g. `\"3\"`"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id or If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such event, or already deleted", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names an old version", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_event(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let expected = if_match(&req)?;
    let mut conn = state.pool.get().await?;
    db::events::delete(&mut conn, id, expected, &caller.change_meta()).await?;
    Ok(HttpResponse::NoContent().finish())
}
