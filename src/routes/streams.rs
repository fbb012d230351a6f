//! Live streams (`text/event-stream`) of the change feed, and the
//! short-lived tokens a browser's `EventSource` (which cannot send headers)
//! passes in the query string.

use actix_web::http::header::{self, HeaderName};
use actix_web::web;
use actix_web::{HttpRequest, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

use super::changes::{FeedParams, Start, feed_filter, reject_unknown};
use crate::auth::{AccessSettings, Caller};
use crate::db;
use crate::db::tokens::TokenSpec;
use crate::error::ApiError;
use crate::filter::{Errors, EventFilter, FilterParams, param_names};
use crate::live::stream::{StreamStart, sse};
use crate::models::change::FeedPosition;
use crate::models::token::Scope;
use crate::models::values::TimelineSlug;
use crate::state::AppState;

pub const EVENT_STREAM: &str = "text/event-stream";
/// The header a reconnecting `EventSource` sends by itself.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// How a stream is authorized when headers cannot be sent.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamAuthParams {
    /// A stream token from `POST /v1/stream-tokens`, for clients that cannot send
    /// `Authorization` (a browser's `EventSource`); only needed when reads are not public.
    /// Accepted on the stream endpoints only, and never written to the logs.
    #[param(example = "chronik_3q2mXb7cVt9Kp1rZ8sLw4yHn6dFg0aJeUi5oPs2QxZc")]
    pub access_token: Option<String>,
}

/// One message of a stream, as a client's SSE parser reads it (the schema
/// of each event of the `text/event-stream` body).
#[derive(ToSchema)]
#[allow(dead_code)] // Describes responses in the spec; never built.
pub struct StreamMessage {
    /// The change's feed cursor: resume after it (`Last-Event-ID`, `after`).
    #[schema(example = "8812-10443")]
    id: Option<String>,
    /// The change's `kind` (`created`, `updated`, `deleted`, `restored`, `left`), or `resume`.
    #[schema(example = "created")]
    event: Option<String>,
    /// The feed entry (a `Change`) as JSON, on one line.
    data: String,
}

/// Where a stream starts, and the name of what said so (`after`, `Last-Event-ID`).
type StartFrom = Option<(Start, &'static str)>;

/// Query parameters of a stream, as received.
#[derive(Debug, Default, Deserialize)]
pub struct StreamQuery {
    #[serde(flatten)]
    pub filter: FilterParams,
    #[serde(flatten)]
    pub feed: FeedParams,
    #[serde(flatten)]
    pub auth: StreamAuthParams,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, String>,
}

impl StreamQuery {
    /// The filter, and where to start with the parameter that said so.
    fn parse(&self, req: &HttpRequest) -> Result<(EventFilter, StartFrom), ApiError> {
        let mut errors = Errors::default();
        let accepted = [
            param_names::<FilterParams>(),
            param_names::<FeedParams>(),
            param_names::<StreamAuthParams>(),
        ]
        .concat();
        reject_unknown(&mut errors, &self.unknown, &accepted);
        let (filter, _) = self.filter.parse(&mut errors);
        let given = self.feed.after.is_some() || self.feed.since.is_some();
        let start = self.feed.parse(&mut errors);
        // A reconnecting browser sends where it got to; that wins over the URL's own `after`.
        let last_event_id = req
            .headers()
            .get(LAST_EVENT_ID)
            .map(|v| v.to_str().unwrap_or("").trim().to_owned())
            .filter(|v| !v.is_empty())
            .and_then(|v| errors.take("Last-Event-ID", v.parse::<FeedPosition>()));
        errors.finish()?;
        let start = match last_event_id {
            Some(position) => Some((Start::After(position), "Last-Event-ID")),
            None => given.then_some((start, "after")),
        };
        Ok((filter, start))
    }
}

/// Follow every change live, as server-sent events.
///
/// A `text/event-stream` of the change feed (`GET /v1/changes`), narrowed by the same
/// filters. Each change is one message:
///
/// ```text
/// id: 8812-10443
/// event: updated
/// data: {"cursor":"8812-10443","kind":"updated","event_id":"…","version":3,…,"event":{…}}
/// ```
///
/// `event` is the entry's `kind` (`created`, `updated`, `deleted`, `restored`, `left`);
/// `data` is the entry as the feed serves it, on one line. The stream opens with `retry:`
/// (how long a browser waits to reconnect) and sends a comment line (`: heartbeat`) when idle.
/// Without a start it carries what is committed from now on; with `after` or `since`, what came
/// after that first. A reconnecting client sends `Last-Event-ID` (browsers do so by
/// themselves), which wins over `after`, and receives exactly the changes it missed, then
/// live ones. A stream that falls too far behind (a slow client) is ended by the server
/// with a last message `event: resume` whose `id` and `data.after` say where to resume.
/// Every instance delivers every change, whichever instance wrote it.
#[utoipa::path(get, path = "/v1/events/stream", tag = "changes",
    params(FilterParams, FeedParams, StreamAuthParams,
        ("Last-Event-ID" = Option<String>, Header, nullable = false, pattern = r"^([0-9]{1,18}-[0-9]{1,18})?$", description = "The `id` of the last message received: resume after it. Empty is the same as not sent (the value of an `EventSource` that has received no `id` yet)", example = "8812-10443")),
    responses(
        (status = 200, description = "The stream (it does not end unless the client is too slow or the server stops)",
            content_type = "text/event-stream",
            body = StreamMessage,
            headers(("Cache-Control" = String, description = "`no-cache`")),
            example = json!("retry: 3000\n: changes after 8812-0\n\nid: 8812-10443\nevent: created\ndata: {\"cursor\":\"8812-10443\",\"kind\":\"created\",\"event_id\":\"01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01\",\"version\":1}\n\n: heartbeat\n\n")),
        (status = 400, description = "A query parameter or `Last-Event-ID` is invalid or unknown (or a cursor ahead of this store's feed: another store's), or `type` or `timeline` names nothing known"),
        (status = 429, description = "This client (its IP, or its token) has as many streams open as `CHRONIK_STREAM_LIMIT_PER_IP` / `CHRONIK_STREAM_LIMIT_PER_TOKEN` allow; `Retry-After` says when to try again"),
    ))]
pub async fn stream_events(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let (filter, start) = query.parse(&req)?;
    state.vocabulary.check_history(&state.pool, &filter).await?;
    open(&state, &req, &caller, filter, start).await
}

/// Follow one timeline live, as server-sent events.
///
/// `GET /v1/events/stream?timeline={slug}`: the changes of the events on the timeline, and a
/// `left` message when one leaves it. Messages, reconnection and limits as there.
#[utoipa::path(get, path = "/v1/timelines/{slug}/stream", tag = "changes",
    params(("slug" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,99}$", description = "Timeline slug", example = "kazakhstan-2022-unrest"),
        FilterParams, FeedParams, StreamAuthParams,
        ("Last-Event-ID" = Option<String>, Header, nullable = false, pattern = r"^([0-9]{1,18}-[0-9]{1,18})?$", description = "The `id` of the last message received: resume after it. Empty is the same as not sent (the value of an `EventSource` that has received no `id` yet)", example = "8812-10443")),
    responses(
        (status = 200, description = "The stream", content_type = "text/event-stream", body = StreamMessage,
            headers(("Cache-Control" = String, description = "`no-cache`"))),
        (status = 400, description = "A query parameter or `Last-Event-ID` is invalid or unknown (`timeline` is given by the path)"),
        (status = 404, description = "No such timeline"),
        (status = 429, description = "This client has as many streams open as it may"),
    ))]
pub async fn stream_timeline(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let slug: TimelineSlug = super::parse_path("slug", &path)?;
    if query.filter.timeline.is_some() {
        return Err(ApiError::field(
            "timeline",
            "the timeline is given by the path",
        ));
    }
    let (mut filter, start) = query.parse(&req)?;
    state.vocabulary.check(&state.pool, &filter).await?;
    {
        let mut conn = state.pool.get().await?;
        db::timelines::find(&mut conn, &slug)
            .await?
            .ok_or_else(|| db::timelines::not_found(&slug))?;
    }
    filter.timeline = Some(slug);
    open(&state, &req, &caller, filter, start).await
}

/// Opens a stream for `caller`, counted against its caps.
async fn open(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    filter: EventFilter,
    start: StartFrom,
) -> Result<HttpResponse, ApiError> {
    let config = &state.live.config;
    let slot = state.live.admit(stream_keys(req, caller, config))?;
    let head = {
        let mut conn = state.pool.get().await?;
        db::changes::head(&mut conn).await?
    };
    let after = match start {
        Some((start, field)) => {
            let after = start.position(&state.pool).await?;
            db::changes::check_not_ahead(after, head, field)?;
            after
        }
        None => head,
    };
    let filter = feed_filter(filter);
    let group = state.live.group(filter.as_ref())?;
    let body = sse(StreamStart {
        pool: state.pool.clone(),
        filter,
        group,
        after,
        heartbeat: config.stream_heartbeat.0,
        retry_ms: config.stream_retry_ms,
        slot,
        closing: state.live.closing(),
    });
    let mut builder = HttpResponse::Ok();
    // As the lists: a page on any origin may follow the store.
    crate::formats::read_headers(&mut builder);
    Ok(builder
        .insert_header((header::CONTENT_TYPE, EVENT_STREAM))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Proxies such as nginx would otherwise buffer the stream.
        .insert_header((HeaderName::from_static("x-accel-buffering"), "no"))
        .streaming(body))
}

/// What a stream counts against: its client IP, and its token if it has one.
fn stream_keys(
    req: &HttpRequest,
    caller: &Caller,
    config: &crate::live::StreamConfig,
) -> Vec<(String, Option<usize>)> {
    let ip = match caller {
        Caller::Anonymous { ip } => Some(*ip),
        Caller::Token { .. } => req.app_data::<web::Data<AccessSettings>>().map(|settings| {
            settings
                .limits
                .ip_key(settings.proxies.client_ip(req.peer_addr(), req.headers()))
        }),
    };
    let mut keys = Vec::new();
    if let Some(ip) = ip {
        keys.push((format!("ip {ip}"), config.stream_limit_per_ip.0));
    }
    if let Some(id) = caller.token_id() {
        keys.push((format!("token {id}"), config.stream_limit_per_token.0));
    }
    keys
}

/// A stream token: a `read` token that expires soon, for `?access_token=`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"access_token": "chronik_3q2mXb7cVt9Kp1rZ8sLw4yHn6dFg0aJeUi5oPs2QxZc", "expires_at": "2022-01-06T09:17:31Z", "token_id": "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01"}))]
pub struct StreamToken {
    /// Pass as `?access_token=` to a stream URL.
    pub access_token: String,
    pub expires_at: chrono::DateTime<Utc>,
    /// The token's id (it is listed, and can be revoked, like any token).
    #[schema(value_type = String, format = Uuid)]
    pub token_id: String,
}

/// Create a stream token, for a browser's `EventSource`.
///
/// Only needed when reads are not public (`CHRONIK_PUBLIC_READS=false`): `EventSource`
/// cannot send `Authorization`, so a page asks its own backend (which holds a real token)
/// for a stream token and opens `/v1/events/stream?access_token=…`. The token has scope
/// `read`, expires after `CHRONIK_STREAM_TOKEN_TTL` (5 minutes unless configured), is
/// accepted in the query string of the stream endpoints only, and never appears in the logs.
/// A stream opened with it stays open after it expires; reconnecting needs a fresh one.
#[utoipa::path(post, path = "/v1/stream-tokens", tag = "changes",
    responses(
        (status = 201, description = "The stream token", body = StreamToken),
    ))]
pub async fn create_stream_token(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    // Routed for callers with a token only (`ANY_TOKEN`).
    let Some(parent) = caller.token_id() else {
        return Err(ApiError::MissingToken);
    };
    let ttl = state.live.config.stream_token_ttl.0.unwrap_or_default();
    let expires_at = Utc::now() + ttl;
    let mut conn = state.pool.get().await?;
    let created = db::tokens::create(
        &mut conn,
        TokenSpec {
            name: format!("stream token of {parent}"),
            scope: Scope::Read,
            expires_at: Some(expires_at),
            created_by: Some(parent),
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(StreamToken {
        access_token: created.secret,
        expires_at,
        token_id: created.token.id.to_string(),
    }))
}

/// Wraps every write route: once it has answered with success (and so
/// committed), the live streams of every instance are told.
pub async fn announce_writes(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<actix_web::body::BoxBody>,
) -> Result<actix_web::dev::ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let hub = req
        .app_data::<web::Data<AppState>>()
        .map(|state| std::sync::Arc::clone(&state.live));
    let res = next.call(req).await?;
    if res.status().is_success()
        && let Some(hub) = hub
    {
        hub.changed();
    }
    Ok(res)
}

#[cfg(test)]
mod properties;
