use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::JSON;
use super::problems::{MalformedJson, UnsupportedContentType};
use crate::db;
use crate::error::ApiError;
use crate::json::parse_body;
use crate::models::event_type::{EventType, EventTypeList, NewEventType};
use crate::read_your_writes::ReadAt;
use crate::state::AppState;
use crate::telemetry::rows::Rows;

/// List the event-type vocabulary.
#[utoipa::path(get, path = "/v1/event-types", tag = "event-types",
    params(ReadAt),
    responses((status = 200, description = "All event types, by slug", body = EventTypeList)))]
pub async fn list_event_types(
    state: web::Data<AppState>,
    at: ReadAt,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.reads.get(at.0).await?;
    let data = db::event_types::list(&mut conn).await?;
    Rows::set(&req, data.len());
    Ok(HttpResponse::Ok().json(EventTypeList { data }))
}

/// Add an event type.
#[utoipa::path(post, path = "/v1/event-types", tag = "event-types",
    request_body(content = NewEventType, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = EventType, headers(("Location" = String, description = "`/v1/event-types`"))),
        MalformedJson,
        (status = 409, description = "The slug exists"),
        UnsupportedContentType,
        (status = 422, description = "Invalid slug or label"),
    ))]
pub async fn create_event_type(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let new: NewEventType = parse_body(&req, &body, &[JSON])?;
    let mut conn = state.pool.get().await?;
    let created = db::event_types::create(&mut conn, new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, "/v1/event-types"))
        .json(created))
}
