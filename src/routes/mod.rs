//! HTTP handlers: parse the request, call the store, shape the response.

pub mod actors;
pub mod changes;
pub mod event_types;
pub mod events;
pub mod health;
pub mod import;
pub mod listing;
pub mod metrics;
pub mod problems;
pub mod redactions;
pub mod revisions;
pub mod stats;
pub mod streams;
pub mod table;
pub mod timelines;
pub mod tokens;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::db::events::Page;
use crate::error::ApiError;
use crate::filter::parse_instant;
use crate::models::event::{Event, PageExtras, StoredEvent, write_event_page};
use crate::models::revision::ChangeMeta;
use crate::models::values::EventId;
use crate::state::AppState;

pub const JSON: &str = "application/json";
pub const MERGE_PATCH_JSON: &str = "application/merge-patch+json";

pub fn parse_event_id(raw: &str) -> Result<EventId, ApiError> {
    raw.parse().map_err(|e: String| ApiError::field("id", e))
}

pub fn parse_path<T: std::str::FromStr<Err = String>>(
    field: &str,
    raw: &str,
) -> Result<T, ApiError> {
    raw.parse().map_err(|e: String| ApiError::field(field, e))
}

/// The version an `If-Match` header asks for (`"3"`), or `None` without one.
/// `*` matches any existing event.
pub fn if_match(req: &HttpRequest) -> Result<Option<i32>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = value.to_str().unwrap_or("").trim();
    if raw == "*" {
        return Ok(None);
    }
    raw.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .and_then(|s| s.parse::<i32>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::field(
                "If-Match",
                "must be an ETag such as \"3\" (the event's version) or *",
            )
        })
}

/// `If-Match`, which the server may require (`CHRONIK_REQUIRE_IF_MATCH`) on
/// every change to an existing event, so that no edit is made blind.
pub fn expected_version(req: &HttpRequest, state: &AppState) -> Result<Option<i32>, ApiError> {
    match if_match(req)? {
        None if state.require_if_match && !req.headers().contains_key(header::IF_MATCH) => {
            Err(ApiError::PreconditionRequired)
        }
        expected => Ok(expected),
    }
}

/// Query parameters of every change to an event.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WriteParams {
    /// When the information this change records became public, RFC 3339 with offset (for example
    /// the time a live article was updated, when backfilling a story). Not in the future, and not
    /// before the event's previous revision's `known_at`. Default: now. `as_of` reads by it.
    #[param(value_type = Option<String>, format = DateTime, example = "2022-01-06T09:30:00Z")]
    pub known_at: Option<String>,
}

impl WriteParams {
    /// The change's metadata: this `known_at`, and the caller as its author.
    pub fn change_meta(&self, caller: &Caller) -> Result<ChangeMeta, ApiError> {
        Ok(ChangeMeta {
            known_at: self
                .known_at
                .as_deref()
                .map(parse_instant)
                .transpose()
                .map_err(|e| ApiError::field("known_at", e))?,
            ..caller.change_meta()
        })
    }
}

pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// A single event with its version as `ETag`.
pub fn event_response(mut builder: actix_web::HttpResponseBuilder, event: &Event) -> HttpResponse {
    builder
        .insert_header((header::ETAG, etag(event.version)))
        .json(event)
}

/// A stored event, as is, with its version as `ETag`.
pub fn stored_event_response(
    mut builder: actix_web::HttpResponseBuilder,
    version: i32,
    event: StoredEvent,
) -> HttpResponse {
    builder
        .insert_header((header::ETAG, etag(version)))
        .content_type(JSON)
        .body(event.into_json())
}

/// A page of events (an `EventPage`), with `next_cursor` and a
/// `Link: rel="next"` header.
pub fn event_page_response(
    req: &HttpRequest,
    mut builder: actix_web::HttpResponseBuilder,
    page: Page,
    extras: &PageExtras,
) -> HttpResponse {
    let next_cursor = page.next.map(|next| next.encode());
    if let Some(cursor) = &next_cursor {
        link_next(&mut builder, req, cursor);
    }
    builder.content_type(JSON).body(write_event_page(
        &page.events,
        next_cursor.as_deref(),
        extras,
    ))
}

pub fn page_response<T: Serialize>(
    req: &HttpRequest,
    body: &T,
    next_cursor: Option<&str>,
) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    if let Some(cursor) = next_cursor {
        link_next(&mut builder, req, cursor);
    }
    builder.json(body)
}

/// `Link: <this request with cursor=…>; rel="next"`.
pub fn link_next(builder: &mut actix_web::HttpResponseBuilder, req: &HttpRequest, cursor: &str) {
    link_next_by(builder, req, "cursor", cursor);
}

/// `Link: <this request with param=…>; rel="next"`.
pub fn link_next_by(
    builder: &mut actix_web::HttpResponseBuilder,
    req: &HttpRequest,
    param: &str,
    cursor: &str,
) {
    builder.insert_header((
        header::LINK,
        format!("<{}>; rel=\"next\"", next_link(req, param, cursor)),
    ));
}

/// The request's own path and query with `param` replaced: a relative
/// reference that resolves correctly behind any proxy that keeps the path.
fn next_link(req: &HttpRequest, param: &str, cursor: &str) -> String {
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    pairs.retain(|(key, _)| key != param);
    pairs.push((param.into(), cursor.into()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("{}?{}", req.path(), query)
}
