//! The change feed: `GET /v1/changes`, every committed change in an order a
//! client resumes from, as JSON pages or NDJSON.

use actix_web::http::header::{self, HeaderName};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::IntoParams;

use super::problems::NotAcceptable;
use crate::db;
use crate::db::DbPool;
use crate::error::ApiError;
use crate::filter::{Errors, EventFilter, FilterParams, param_names, parse_instant};
use crate::formats::{self, Format, FormatParams};
use crate::models::change::{ChangePage, FeedPosition, NEXT_CURSOR_HEADER, page_json};
use crate::state::AppState;
use crate::telemetry::rows::Rows;

/// What the feed offers.
pub const FEED_FORMATS: &[Format] = &[Format::Json, Format::Ndjson];
pub const DEFAULT_FEED_LIMIT: i64 = 100;
pub const MAX_FEED_LIMIT: i64 = 1000;
/// Changes per statement while an NDJSON export of the feed is written.
const NDJSON_BATCH: i64 = 1000;

/// Where the feed after an NDJSON export resumes.
pub const NEXT_CURSOR: HeaderName = HeaderName::from_static(NEXT_CURSOR_HEADER);

/// Where a reader of the feed starts.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// A cursor from the feed (`next_cursor`, an entry's `cursor`, or a stream message's `id`):
    /// the changes after it. Without `after` and `since`, the feed from its beginning.
    #[param(example = "8812-10443", pattern = r"^[0-9]{1,18}-[0-9]{1,18}$")]
    pub after: Option<String>,
    /// For a first sync: the changes recorded at or after this instant (RFC 3339 date-time with
    /// offset), and possibly a few recorded shortly before it. Not with `after`.
    #[param(example = "2022-01-06T00:00:00Z", format = DateTime)]
    pub since: Option<String>,
}

/// The size and format of a feed page.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedPageParams {
    /// Changes per JSON page, 1 to 1000 (default 100). Not with NDJSON, which carries every
    /// settled change after the start.
    #[param(value_type = Option<i64>, example = 100, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `json` (default) or `ndjson`, overriding `Accept`.
    #[param(value_type = Option<String>, example = "ndjson")]
    pub format: Option<String>,
}

/// Query parameters of the feed, as received.
#[derive(Debug, Default, Deserialize)]
pub struct ChangesQuery {
    #[serde(flatten)]
    pub filter: FilterParams,
    #[serde(flatten)]
    pub feed: FeedParams,
    #[serde(flatten)]
    pub page: FeedPageParams,
    /// Everything else: rejected by name.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, String>,
}

/// Where a reader starts, as asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    After(FeedPosition),
    Since(DateTime<Utc>),
}

impl Start {
    /// The position the start names (`since` is looked up).
    pub async fn position(self, pool: &DbPool) -> Result<FeedPosition, ApiError> {
        match self {
            Self::After(position) => Ok(position),
            Self::Since(since) => {
                let mut conn = pool.get().await?;
                db::changes::position_since(&mut conn, since).await
            }
        }
    }
}

impl FeedParams {
    pub fn parse(&self, errors: &mut Errors) -> Start {
        let after = self
            .after
            .as_deref()
            .and_then(|a| errors.take("after", a.parse::<FeedPosition>()));
        let since = self
            .since
            .as_deref()
            .and_then(|s| errors.take("since", parse_instant(s)));
        match (after, since) {
            (Some(_), Some(_)) => {
                errors.push("since", "give `after` or `since`, not both");
                Start::After(FeedPosition::START)
            }
            (_, Some(since)) => Start::Since(since),
            (after, None) => Start::After(after.unwrap_or(FeedPosition::START)),
        }
    }
}

/// The filter of a feed request: `None` when it has none (every change).
pub fn feed_filter(filter: EventFilter) -> Option<EventFilter> {
    (filter != EventFilter::default()).then_some(filter)
}

/// A parsed feed request.
struct ChangesRequest {
    filter: Option<EventFilter>,
    start: Start,
    limit: i64,
    format: Format,
}

impl ChangesQuery {
    fn accepted() -> Vec<String> {
        [
            param_names::<FilterParams>(),
            param_names::<FeedParams>(),
            param_names::<FeedPageParams>(),
        ]
        .concat()
    }

    fn parse(&self, req: &HttpRequest) -> Result<ChangesRequest, ApiError> {
        let mut errors = Errors::default();
        reject_unknown(&mut errors, &self.unknown, &Self::accepted());
        let (filter, _) = self.filter.parse(&mut errors);
        let start = self.feed.parse(&mut errors);
        let limit = self
            .page
            .limit
            .as_deref()
            .and_then(|l| errors.take("limit", parse_feed_limit(l)));
        let output = FormatParams {
            format: self.page.format.clone(),
            bom: None,
        }
        .parse(&mut errors, FEED_FORMATS);
        errors.finish()?;
        let format = output.negotiate(req, FEED_FORMATS)?;
        if limit.is_some() && format == Format::Ndjson {
            return Err(ApiError::field(
                "limit",
                "NDJSON carries every settled change after the start; `limit` applies to JSON pages",
            ));
        }
        Ok(ChangesRequest {
            filter: feed_filter(filter),
            start,
            limit: limit.unwrap_or(DEFAULT_FEED_LIMIT),
            format,
        })
    }
}

/// Names every parameter the feed does not take; `as_of`, which the lists
/// take, with why: it reads the past, and the feed is the past, in order.
pub fn reject_unknown(
    errors: &mut Errors,
    unknown: &BTreeMap<String, String>,
    accepted: &[String],
) {
    let mut others = unknown.clone();
    if others.remove("as_of").is_some() {
        errors.push(
            "as_of",
            "the change feed has no `as_of`: every change is in it, with its `known_at`; start it with `since` or `after`",
        );
    }
    errors.reject_unknown(&others, accepted);
}

fn parse_feed_limit(raw: &str) -> Result<i64, String> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_FEED_LIMIT).contains(n))
        .ok_or_else(|| format!("`{raw}` is not a whole number from 1 to {MAX_FEED_LIMIT}"))
}

/// The change feed: every committed change, oldest first.
///
/// One entry per revision of an event (`created`, `updated`, `deleted`, `restored`; a change
/// of the timelines an event is on is an `updated` with `changed_fields: ["timelines"]`), each
/// with its `cursor`. Pass `next_cursor` as `after` to read on: a client that has caught up
/// (`has_more: false`) asks again later with it. No change is ever skipped, even when
/// transactions commit out of order: a change is served once every transaction that began
/// writing before it has ended (a long import holds the feed back until it commits). The
/// filters of `GET /v1/events` narrow the feed; an event that stops matching them appears
/// once more, as `left`, so that a filtered copy drops it. A deletion is a tombstone
/// (`event: null`, with `event_id` and `external_id`).
///
/// NDJSON (`Accept: application/x-ndjson` or `format=ndjson`) carries every settled change
/// after the start, one entry per line; `Chronik-Next-Cursor` says where to resume after it.
#[utoipa::path(get, path = "/v1/changes", tag = "changes",
    params(FilterParams, FeedParams, FeedPageParams),
    responses(
        (status = 200, description = "The changes after the start",
            headers(
                ("Link" = String, description = "JSON: `<…&after=…>; rel=\"next\"` when `has_more`"),
                ("Chronik-Next-Cursor" = String, description = "NDJSON: where to resume once the body is read whole (the same as a JSON page's `next_cursor` after the last change)"),
                ("Vary" = String, description = "`Accept`"),
            ),
            content(
                (ChangePage = "application/json"),
                (crate::models::change::Change = "application/x-ndjson"),
            )),
        (status = 400, description = "A query parameter is invalid or unknown (`after` not a feed cursor, or ahead of this store's feed; `as_of` given; `after` with `since`), or `type` or `timeline` names nothing known"),
        NotAcceptable,
    ))]
pub async fn list_changes(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<ChangesQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse(&req)?;
    if let Some(filter) = &request.filter {
        state.vocabulary.check_history(&state.pool, filter).await?;
    }
    let after = request.start.position(&state.pool).await?;
    let mut builder = HttpResponse::Ok();
    formats::read_headers(&mut builder);
    match request.format {
        Format::Ndjson => ndjson(&state, builder, request.filter, after, Rows::of(&req)).await,
        _ => {
            let mut conn = state.pool.get().await?;
            let page = db::changes::read(
                &mut conn,
                request.filter.as_ref(),
                after,
                request.limit,
                None,
            )
            .await?;
            if page.has_more {
                super::link_next_by(&mut builder, &req, "after", &page.next.to_string());
            }
            Rows::set(&req, page.entries.len());
            let body =
                page_json(&page.entries, page.next, page.has_more).map_err(ApiError::internal)?;
            Ok(builder.content_type(formats::JSON).body(body))
        }
    }
}

/// Every settled change after `after`, read in batches up to the feed's
/// head when the request came, one JSON object per line. An error after the
/// first line closes the connection without the final chunk.
async fn ndjson(
    state: &AppState,
    mut builder: actix_web::HttpResponseBuilder,
    filter: Option<EventFilter>,
    after: FeedPosition,
    rows: Rows,
) -> Result<HttpResponse, ApiError> {
    let head = {
        let mut conn = state.pool.get().await?;
        db::changes::head(&mut conn).await?
    };
    db::changes::check_not_ahead(after, head, "after")?;
    let pool = state.pool.clone();
    let batches = futures_util::stream::try_unfold(Some(after), move |from| {
        let pool = pool.clone();
        let filter = filter.clone();
        let rows = rows.clone();
        async move {
            let Some(from) = from else {
                return Ok::<_, ApiError>(None);
            };
            let mut conn = pool.get().await?;
            let page = db::changes::read(
                &mut conn,
                filter.as_ref(),
                from,
                NDJSON_BATCH,
                Some(head.xid),
            )
            .await?;
            let mut out = Vec::new();
            for entry in &page.entries {
                entry.write_json(&mut out).map_err(ApiError::internal)?;
                out.push(b'\n');
            }
            rows.add(page.entries.len());
            let next = page.has_more.then_some(page.next);
            Ok(Some((Bytes::from(out), next)))
        }
    });
    builder
        .insert_header((NEXT_CURSOR, after.max(head).to_string()))
        .insert_header((header::CONTENT_TYPE, formats::NDJSON));
    Ok(builder.streaming(batches))
}

#[cfg(test)]
mod properties;
