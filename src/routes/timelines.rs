use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::listing::{self, EventList, EventQuery};
use super::problems::{
    ExportUnavailable, KnownAtOutOfOrder, MalformedJson, NoSuchTimeline, NotAcceptable,
    UnsupportedContentType,
};
use super::{JSON, MERGE_PATCH_JSON, WriteParams, parse_event_id, parse_path};
use crate::auth::Caller;
use crate::db;
use crate::error::ApiError;
use crate::filter::{FilterParams, HistoryParams, PageParams};
use crate::formats::FormatParams;
use crate::json::parse_body;
use crate::models::revision::ChangeMeta;
use crate::models::timeline::{NewTimeline, Timeline, TimelineList, TimelinePatch};
use crate::models::values::TimelineSlug;
use crate::read_your_writes::ReadAt;
use crate::state::AppState;
use crate::telemetry::rows::Rows;

fn slug(raw: &str) -> Result<TimelineSlug, ApiError> {
    parse_path("slug", raw)
}

/// List timelines.
#[utoipa::path(get, path = "/v1/timelines", tag = "timelines",
    params(ReadAt),
    responses((status = 200, description = "All timelines, by slug", body = TimelineList)))]
pub async fn list_timelines(
    state: web::Data<AppState>,
    at: ReadAt,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.reads.get(at.0).await?;
    let data = db::timelines::list(&mut conn).await?;
    Rows::set(&req, data.len());
    Ok(HttpResponse::Ok().json(TimelineList { data }))
}

/// Create a timeline.
#[utoipa::path(post, path = "/v1/timelines", tag = "timelines",
    request_body(content = NewTimeline, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Timeline, headers(("Location" = String, description = "`/v1/timelines/{slug}`"))),
        MalformedJson,
        (status = 409, description = "The slug is taken"),
        UnsupportedContentType,
        (status = 422, description = "Invalid field"),
    ))]
pub async fn create_timeline(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let new: NewTimeline = parse_body(&req, &body, &[JSON])?;
    let mut conn = state.pool.get().await?;
    let timeline = db::timelines::create(&mut conn, new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/timelines/{}", timeline.slug)))
        .json(timeline))
}

/// Get a timeline with its event statistics.
#[utoipa::path(get, path = "/v1/timelines/{slug}", tag = "timelines",
    params(ReadAt, ("slug" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,99}$", description = "Timeline slug", example = "kazakhstan-2022-unrest")),
    responses(
        (status = 200, description = "The timeline", body = Timeline),
        (status = 400, description = "Malformed slug"),
        NoSuchTimeline,
    ))]
pub async fn get_timeline(
    state: web::Data<AppState>,
    at: ReadAt,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug(&path)?;
    let mut conn = state.reads.get(at.0).await?;
    let timeline = db::timelines::find(&mut conn, &slug)
        .await?
        .ok_or_else(|| db::timelines::not_found(&slug))?;
    Ok(HttpResponse::Ok().json(timeline))
}

/// Change a timeline's title or description (JSON merge patch).
#[utoipa::path(patch, path = "/v1/timelines/{slug}", tag = "timelines",
    params(("slug" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,99}$", description = "Timeline slug")),
    request_body(content(
        (TimelinePatch = "application/merge-patch+json"),
        (TimelinePatch = "application/json"),
    )),
    responses(
        (status = 200, description = "The updated timeline", body = Timeline),
        (status = 400, description = "Malformed JSON or slug"),
        NoSuchTimeline,
        UnsupportedContentType,
        (status = 422, description = "Invalid field"),
    ))]
pub async fn patch_timeline(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let slug = slug(&path)?;
    let patch: TimelinePatch = parse_body(&req, &body, &[MERGE_PATCH_JSON, JSON])?;
    let mut conn = state.pool.get().await?;
    let timeline = db::timelines::update(&mut conn, &slug, patch).await?;
    Ok(HttpResponse::Ok().json(timeline))
}

/// Delete a timeline. Its events stay; each loses the timeline from its `timelines` (a new version).
#[utoipa::path(delete, path = "/v1/timelines/{slug}", tag = "timelines",
    params(("slug" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,99}$", description = "Timeline slug")),
    responses(
        (status = 204, description = "Deleted"),
        NoSuchTimeline,
    ))]
pub async fn delete_timeline(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug(&path)?;
    let mut conn = state.pool.get().await?;
    db::memberships::delete_timeline(&mut conn, &slug, &caller.change_meta()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List a timeline's events (same filters, paging and formats as `/v1/events`).
///
/// With `format=timelinejs` the document opens with the timeline's title and
/// description, ready for `new TL.Timeline(element, url)`.
#[utoipa::path(get, path = "/v1/timelines/{slug}/events", tag = "timelines",
    params(("slug" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,99}$", description = "Timeline slug", example = "kazakhstan-2022-unrest"),
        ReadAt, FilterParams, HistoryParams, PageParams, FormatParams),
    responses(
        (status = 200, response = EventList),
        (status = 400, description = "A query parameter is invalid or unknown, or `type` names no event type (the message lists the known ones)"),
        NoSuchTimeline,
        NotAcceptable,
        ExportUnavailable,
    ))]
pub async fn list_timeline_events(
    state: web::Data<AppState>,
    at: ReadAt,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<EventQuery>,
) -> Result<HttpResponse, ApiError> {
    let slug = slug(&path)?;
    if query.filter.timeline.is_some() {
        return Err(ApiError::field(
            "timeline",
            "the timeline is given by the path",
        ));
    }
    let mut request = query.parse(&req)?;
    state.vocabulary.check(&state.pool, &request.filter).await?;
    request.filter.timeline = Some(slug.clone());
    // `respond` looks the timeline up (a 404 if there is none), after reading
    // an export's tag: its title is part of a TimelineJS document.
    listing::respond(&state, &req, request, Some(&slug), slug.as_str(), at).await
}

/// Add an event to a timeline (idempotent).
#[utoipa::path(put, path = "/v1/timelines/{slug}/events/{id}", tag = "timelines",
    params(("slug" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,99}$", description = "Timeline slug"), ("id" = uuid::Uuid, Path, description = "Event id (UUID)"), WriteParams),
    responses(
        (status = 204, description = "The event is on the timeline (a new event version if it was not before)"),
        (status = 400, description = "Malformed slug, id or known_at"),
        KnownAtOutOfOrder,
        (status = 404, description = "No such timeline or event"),
    ))]
pub async fn add_timeline_event(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    params: web::Query<WriteParams>,
) -> Result<HttpResponse, ApiError> {
    set_membership(state, params.change_meta(&caller)?, path, true).await
}

/// Remove an event from a timeline (idempotent; the event itself stays).
#[utoipa::path(delete, path = "/v1/timelines/{slug}/events/{id}", tag = "timelines",
    params(("slug" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,99}$", description = "Timeline slug"), ("id" = uuid::Uuid, Path, description = "Event id (UUID)"), WriteParams),
    responses(
        (status = 204, description = "The event is not on the timeline (a new event version if it was before)"),
        (status = 400, description = "Malformed slug, id or known_at"),
        KnownAtOutOfOrder,
        (status = 404, description = "No such timeline or event"),
    ))]
pub async fn remove_timeline_event(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    params: web::Query<WriteParams>,
) -> Result<HttpResponse, ApiError> {
    set_membership(state, params.change_meta(&caller)?, path, false).await
}

async fn set_membership(
    state: web::Data<AppState>,
    meta: ChangeMeta,
    path: web::Path<(String, String)>,
    member: bool,
) -> Result<HttpResponse, ApiError> {
    let (raw_slug, raw_id) = path.into_inner();
    let slug = slug(&raw_slug)?;
    let id = parse_event_id(&raw_id)?;
    let mut conn = state.pool.get().await?;
    db::memberships::set_membership(&mut conn, &slug, id, member, &meta).await?;
    Ok(HttpResponse::NoContent().finish())
}
