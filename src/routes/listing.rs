//! What the two event lists (`/v1/events`, `/v1/timelines/{slug}/events`)
//! share: their query parameters, and answering in the negotiated format,
//! paged or streamed whole.

use actix_web::dev::Payload;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{ToResponse, ToSchema};

use super::event_page_response;
use crate::auth::Caller;
use crate::conditional;
use crate::db;
use crate::error::ApiError;
use crate::filter::{
    CountMode, Errors, EventFilter, FilterParams, HistoryParams, PageParams, Paging, param_names,
};
use crate::formats::geojson::EventFeatureCollection;
use crate::formats::timelinejs::TimelineJsDocument;
use crate::formats::{self, EVENT_FORMATS, Format, FormatParams, stream, timelinejs};
use crate::models::event::{Event, EventPage, PageExtras, PageMeta, Unmatched};
use crate::models::timeline::Timeline;
use crate::models::values::TimelineSlug;
use crate::read_your_writes::ReadAt;
use crate::state::AppState;
use crate::telemetry::rows::Rows;

/// Query parameters of the event lists, as received.
#[derive(Debug, Default, Deserialize)]
pub struct EventQuery {
    #[serde(flatten)]
    pub filter: FilterParams,
    #[serde(flatten)]
    pub history: HistoryParams,
    #[serde(flatten)]
    pub page: PageParams,
    #[serde(flatten)]
    pub output: FormatParams,
    /// Everything else: rejected by name.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, String>,
}

/// The `application/json` bodies of an event list.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // Describes responses in the spec; never built.
pub enum EventListJson {
    /// A page of events (the default).
    Page(EventPage),
    /// With `format=timelinejs`: every matching event as a TimelineJS 3 document.
    TimelineJs(TimelineJsDocument),
}

/// The matching events, in the negotiated format.
///
/// JSON and CSV hold one page (`Link: rel="next"` leads to the next);
/// NDJSON (one event per line), GeoJSON (the events with coordinates),
/// TimelineJS (`format=timelinejs`, served as `application/json`) and
/// `format=csv&stream=all` hold every matching event, streamed. An error
/// after streaming has begun closes the connection without the final chunk,
/// and so does a stream still running after `CHRONIK_EXPORT_MAX_DURATION`
/// (one hour unless configured).
#[derive(ToResponse)]
#[response(headers(
    ("ETag" = String, description = "JSON and paged CSV: a hash of the body. Whole-result formats (NDJSON, GeoJSON, TimelineJS, `stream=all`): a weak tag, `W/\"…\"`, of the request (path, query, negotiated format) and the store's version, which moves in the commit of every write; a matching `If-None-Match` gets `304` before the export runs, without taking an export slot"),
    ("Link" = String, description = "`<…&cursor=…>; rel=\"next\"` when another page follows (JSON and paged CSV)"),
    ("Vary" = String, description = "`Accept`: the format may be negotiated"),
    ("Access-Control-Allow-Origin" = String, description = "`*` without an `Origin` header; a cross-origin request gets its own origin echoed (with `Vary: Origin`), or `*` when `CHRONIK_CORS_ORIGINS=*`: a page on any origin may fetch the list (it takes no credentials)"),
    ("Content-Disposition" = String, description = "CSV: `attachment; filename=\"events.csv\"` (or the timeline slug)"),
))]
#[allow(dead_code, clippy::large_enum_variant)] // Describes responses in the spec; never built.
pub enum EventList {
    Json(#[content("application/json")] EventListJson),
    #[response(example = json!("id,external_id,title,summary,language,type,occurred_start,occurred_end,precision,timezone,location_name,admin1,country_code,lat,lon,status,tags,timelines,actors,sources,killed_confirmed_min,killed_confirmed_max,killed_claimed_min,killed_claimed_max,killed_disputed_min,killed_disputed_max,injured_confirmed_min,injured_confirmed_max,injured_claimed_min,injured_claimed_max,injured_disputed_min,injured_disputed_max,arrested_confirmed_min,arrested_confirmed_max,arrested_claimed_min,arrested_claimed_max,arrested_disputed_min,arrested_disputed_max,missing_confirmed_min,missing_confirmed_max,missing_claimed_min,missing_claimed_max,missing_disputed_min,missing_disputed_max,actors_json,casualties_json,sources_json,version,created_at,updated_at\r\n"))]
    Csv(#[content("text/csv")] String),
    /// One `Event` per line.
    Ndjson(#[content("application/x-ndjson")] Event),
    GeoJson(#[content("application/geo+json")] EventFeatureCollection),
}

/// On an empty page: which free-text filter values name nothing at all.
async fn unmatched(
    conn: &mut diesel_async::AsyncPgConnection,
    filter: &EventFilter,
) -> Result<Option<PageMeta>, ApiError> {
    let mut unmatched = Vec::new();
    if let Some(actor) = &filter.actor
        && !db::vocabulary::actor_exists(conn, actor.as_str()).await?
    {
        unmatched.push(Unmatched {
            field: "actor".into(),
            value: actor.to_string(),
            message: "no actor has this name (GET /v1/actors?q= finds names)".into(),
        });
    }
    if !filter.tags.is_empty() {
        let tags: Vec<String> = filter.tags.iter().map(ToString::to_string).collect();
        for tag in db::vocabulary::unused_tags(conn, &tags).await? {
            unmatched.push(Unmatched {
                field: "tag".into(),
                value: tag,
                message: "no event has this tag".into(),
            });
        }
    }
    Ok((!unmatched.is_empty()).then_some(PageMeta { unmatched }))
}

/// A list request, parsed and negotiated.
#[derive(Debug)]
pub struct ListRequest {
    pub filter: EventFilter,
    pub paging: Paging,
    pub format: Format,
    pub bom: bool,
    /// `count=`: add the total of matches to a JSON page.
    pub count: Option<CountMode>,
}

impl EventQuery {
    pub fn accepted() -> Vec<String> {
        [
            param_names::<FilterParams>(),
            param_names::<HistoryParams>(),
            param_names::<PageParams>(),
            param_names::<FormatParams>(),
        ]
        .concat()
    }

    pub fn parse(&self, req: &HttpRequest) -> Result<ListRequest, ApiError> {
        let mut errors = Errors::default();
        errors.reject_unknown(&self.unknown, &Self::accepted());
        let (mut filter, _) = self.filter.parse(&mut errors);
        filter.as_of = self.history.parse(&mut errors);
        let paging = self.page.parse(&mut errors, filter.q.is_some());
        let count = self
            .page
            .count
            .as_deref()
            .and_then(|c| errors.take("count", c.parse::<CountMode>()));
        let output = self.output.parse(&mut errors, EVENT_FORMATS);
        errors.finish()?;
        let format = output.negotiate(req, EVENT_FORMATS)?;
        if count.is_some() && (format != Format::Json || paging.stream_all) {
            return Err(ApiError::field(
                "count",
                "applies to JSON pages only: ask for the count with format=json",
            ));
        }
        if paging.stream_all && format == Format::Json {
            return Err(ApiError::field(
                "stream",
                "`stream=all` applies to CSV; JSON is paged (use format=ndjson for everything as JSON)",
            ));
        }
        let whole = format.is_whole_result() || paging.stream_all;
        // A map shows only what has a place on it.
        filter.located = format == Format::GeoJson;
        Ok(ListRequest {
            filter,
            paging: paging.into_paging(whole)?,
            format,
            bom: output.bom,
            count,
        })
    }
}

/// Answers a list request. `timeline` names the timeline a timeline's list is
/// about (its title opens a TimelineJS document); `file_stem` names CSV downloads.
///
/// A whole-result export is tagged with the store's version, read first so
/// that nothing it shows (the timeline's title included) is older than its
/// tag, and answers a matching `If-None-Match` with `304` before the export
/// runs or takes one of the export slots.
pub async fn respond(
    state: &AppState,
    req: &HttpRequest,
    request: ListRequest,
    timeline: Option<&TimelineSlug>,
    file_stem: &str,
    at: ReadAt,
) -> Result<HttpResponse, ApiError> {
    let tag = match request.paging {
        Paging::Whole(_) => Some(export_tag(state, req, &request).await?),
        Paging::Page(_) => None,
    };
    if let Some(tag) = tag.as_ref().filter(|tag| conditional::is_fresh(req, tag)) {
        return Ok(unchanged(tag.clone()));
    }
    // A page is one read, which a standby may serve; an export reads the
    // primary only (its slot is held there), the timeline's title included.
    let mut conn = match request.paging {
        Paging::Page(_) => state.reads.get(at.0).await?,
        Paging::Whole(_) => state.reads.primary().await?,
    };
    let title = match timeline {
        Some(slug) => Some(timelinejs::Slide::title(
            &find_timeline(&mut conn, slug).await?,
        )),
        None => None,
    };
    let encoder = formats::event_encoder(request.format, request.bom, title);
    let mut builder = HttpResponse::Ok();
    formats::read_headers(&mut builder);
    match (request.paging, encoder) {
        (Paging::Page(page), None) => {
            let found = db::events::list(&mut conn, &request.filter, &page).await?;
            let extras = PageExtras {
                meta: match found.events.is_empty() {
                    true => unmatched(&mut conn, &request.filter).await?,
                    false => None,
                },
                total: match request.count {
                    Some(mode) => Some(db::counts::count(&mut conn, &request.filter, mode).await?),
                    None => None,
                },
            };
            Rows::set(req, found.events.len());
            Ok(event_page_response(req, builder, found, &extras))
        }
        (Paging::Page(page), Some(encoder)) => {
            let found = db::events::list(&mut conn, &request.filter, &page).await?;
            csv_page(req, builder, found, encoder, file_stem)
        }
        (Paging::Whole(sort), Some(encoder)) => {
            drop(conn);
            content_headers(&mut builder, request.format, file_stem);
            if let Some(tag) = tag {
                builder.insert_header((header::ETAG, tag));
            }
            // Exports are capped per client: the caller the access middleware found.
            let client = Caller::from_request(req, &mut Payload::None).into_inner()?;
            let rows = Rows::of(req);
            stream::respond(state, &client, request.filter, sort, encoder, builder, rows).await
        }
        (Paging::Whole(_), None) => Err(ApiError::internal(anyhow::anyhow!(
            "JSON has no whole-result form"
        ))),
    }
}

/// The tag of an export: the store's version (one single-row read on a
/// request connection) and what was asked.
async fn export_tag(
    state: &AppState,
    req: &HttpRequest,
    request: &ListRequest,
) -> Result<HeaderValue, ApiError> {
    let mut conn = state.pool.get().await?;
    let store = db::store::current(&mut conn).await?;
    Ok(conditional::export_tag(
        &store,
        req,
        request.format,
        request.bom,
    ))
}

/// `304` with the headers the full response would have had that matter to a cache.
fn unchanged(tag: HeaderValue) -> HttpResponse {
    let mut builder = HttpResponse::NotModified();
    formats::read_headers(&mut builder).insert_header((header::ETAG, tag));
    builder.finish()
}

async fn find_timeline(
    conn: &mut diesel_async::AsyncPgConnection,
    slug: &TimelineSlug,
) -> Result<Timeline, ApiError> {
    db::timelines::find(conn, slug)
        .await?
        .ok_or_else(|| db::timelines::not_found(slug))
}

/// One page as CSV; as with JSON, `Link: rel="next"` leads to the next page.
fn csv_page(
    req: &HttpRequest,
    mut builder: actix_web::HttpResponseBuilder,
    found: db::events::Page,
    mut encoder: Box<dyn formats::EventEncoder>,
    file_stem: &str,
) -> Result<HttpResponse, ApiError> {
    Rows::set(req, found.events.len());
    let mut body = encoder.head();
    body.extend(encoder.events(&found.events)?);
    if let Some(next) = &found.next {
        super::link_next(&mut builder, req, &next.encode());
    }
    formats::csv_download(&mut builder, file_stem);
    Ok(builder.body(body))
}

fn content_headers(builder: &mut actix_web::HttpResponseBuilder, format: Format, file_stem: &str) {
    if format == Format::Csv {
        formats::csv_download(builder, file_stem);
    } else {
        builder.content_type(format.content_type());
    }
}

#[cfg(test)]
mod properties;
