//! Redaction of an event's history, for legal takedowns (admins only).

use actix_web::{HttpRequest, HttpResponse, web};

use super::problems::{NoSuchEvent, UnsupportedContentType};
use super::{JSON, parse_event_id};
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::json::parse_body;
use crate::models::redaction::{Redaction, RedactionInput};
use crate::state::AppState;

/// Redact a deleted event's history.
///
/// Deleted events stay readable through their revisions and `as_of`: that
/// is what makes the history honest. For a legal takedown, an admin can erase
/// them. Every revision keeps its metadata (version, kind, `known_at`,
/// `recorded_at`, author, changed field names), but its event is emptied to
/// its id, type, dates, status and timestamps (title `[redacted]`), and no
/// `as_of` read finds the event at any instant. The event row, its actor,
/// source and timeline links, actors and sources no other event cites, and
/// stored `Idempotency-Key` responses that carry it are erased with it. The
/// redaction itself (who, when, why) is kept and shown with the revisions. It
/// cannot be undone, and the event can no longer be restored.
#[utoipa::path(post, path = "/v1/events/{id}/redaction", tag = "history",
    params(("id" = uuid::Uuid, Path, description = "Event id (UUID) of a deleted event", example = "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01")),
    request_body(content = RedactionInput, content_type = "application/json"),
    responses(
        (status = 201, description = "The history is redacted", body = Redaction),
        (status = 400, description = "Malformed id or JSON"),
        NoSuchEvent,
        (status = 409, description = "The event is not deleted (delete it first), or is already redacted"),
        UnsupportedContentType,
        (status = 422, description = "`reason` is missing, empty, longer than 1000 characters or holds control characters, or the body has another field (`errors[].field` names it)"),
    ))]
pub async fn redact_event(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let input: RedactionInput = parse_body(&req, &body, &[JSON])?;
    let reason = input.reason()?;
    let author = caller.token_id().map(|id| id.to_string());
    let mut conn = state.pool.get().await?;
    let redaction = db::redactions::redact(&mut conn, id, &reason, author.as_deref()).await?;
    Ok(HttpResponse::Created().json(redaction))
}
