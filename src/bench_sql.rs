//! `chronik bench-sql TARGET`: the statement Chronik sends to Postgres for a
//! read request, with its bind values, so that the benchmark (`bench/run`)
//! can run the very same SQL through `pgbench` as its reference. The request
//! goes through the same parsing and query building as the HTTP handlers;
//! nothing here writes SQL of its own.

use actix_web::test::TestRequest;
use diesel::QueryableByName;
use diesel::sql_types::{Array, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use crate::db::sql::SqlBuilder;
use crate::db::{changes, events};
use crate::filter::Paging;
use crate::models::change::FeedPosition;
use crate::routes::changes::{DEFAULT_FEED_LIMIT, MAX_FEED_LIMIT};
use crate::routes::listing::EventQuery;
use crate::routes::parse_event_id;

/// A statement as Chronik sends it for one request.
#[derive(Debug, Serialize)]
pub struct Statement {
    /// The SQL text, with `$1`, `$2`, … placeholders.
    pub sql: String,
    /// The bind values in text form (`null` for SQL NULL), in placeholder order.
    pub params: Vec<Option<String>>,
    /// `true`: Chronik prepares the statement once per connection and reuses
    /// it; `false`: it plans the statement for each execution's values.
    pub cached: bool,
}

#[derive(QueryableByName)]
struct Binds {
    #[diesel(sql_type = Array<Nullable<Text>>)]
    binds: Vec<Option<String>>,
}

/// The statement for `target`, a path with its query string such as
/// `/v1/events?from=2020-01-01&to=2020-01-30&limit=100`. Supports the event
/// lists (`/v1/events`, `/v1/timelines/{slug}/events`; for whole exports
/// such as `format=ndjson`, the statement their cursor reads),
/// `/v1/events/{id}` and unfiltered JSON pages of the change feed
/// (`/v1/changes?after=…&limit=…`).
pub async fn capture(conn: &mut AsyncPgConnection, target: &str) -> anyhow::Result<Statement> {
    let mut q = SqlBuilder::capture();
    build(&mut q, target)?;
    let captured = q
        .into_captured()
        .ok_or_else(|| anyhow::anyhow!("the builder recorded no statement"))?;
    let rows: Vec<Binds> = captured.binds.load(conn).await?;
    let params = rows.into_iter().next().map(|r| r.binds).unwrap_or_default();
    Ok(Statement {
        sql: captured.sql,
        params,
        cached: captured.cached,
    })
}

fn build(q: &mut SqlBuilder, target: &str) -> anyhow::Result<()> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let timeline = match segments.as_slice() {
        ["v1", "events"] => None,
        ["v1", "timelines", slug, "events"] => Some(
            slug.parse()
                .map_err(|e: String| anyhow::anyhow!("timeline: {e}"))?,
        ),
        ["v1", "events", id] => {
            let id = parse_event_id(id).map_err(|e| anyhow::anyhow!("{e}"))?;
            events::push_find(q, id);
            return Ok(());
        }
        ["v1", "changes"] => return build_feed_page(q, query),
        _ => anyhow::bail!(
            "bench-sql supports /v1/events, /v1/events/{{id}}, /v1/timelines/{{slug}}/events and /v1/changes, not {path}"
        ),
    };
    // The same deserialization as `web::Query`, then the handlers' own parsing.
    let params: EventQuery = serde_urlencoded::from_str(query)?;
    let req = TestRequest::with_uri(target).to_http_request();
    let mut request = params.parse(&req).map_err(|e| anyhow::anyhow!("{e}"))?;
    if timeline.is_some() {
        request.filter.timeline = timeline;
    }
    match request.paging {
        Paging::Page(page) => events::push_list(q, &request.filter, &page),
        // An export declares a cursor over this statement and fetches from it.
        Paging::Whole(sort) => events::push_select(q, &request.filter, sort, None),
    }
    Ok(())
}

/// The query string of a feed page that bench-sql captures: where it starts
/// and how many changes it holds. Filters, `since` and NDJSON are not
/// supported (refused as unknown parameters).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedPageTarget {
    after: Option<String>,
    limit: Option<String>,
}

/// The statement of an unfiltered JSON page of the feed, as
/// `db::changes::read` sends it: `limit + 1` revisions after `after`, the
/// one beyond the page telling that more follow.
fn build_feed_page(q: &mut SqlBuilder, query: &str) -> anyhow::Result<()> {
    let target: FeedPageTarget = serde_urlencoded::from_str(query).map_err(|e| {
        anyhow::anyhow!("bench-sql captures feed pages by `after` and `limit` only: {e}")
    })?;
    let after = match target.after.as_deref() {
        Some(raw) => raw
            .parse::<FeedPosition>()
            .map_err(|e| anyhow::anyhow!("after: {e}"))?,
        None => FeedPosition::START,
    };
    let limit = match target.limit.as_deref() {
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_FEED_LIMIT).contains(n))
            .ok_or_else(|| {
                anyhow::anyhow!("limit: `{raw}` is not a whole number from 1 to {MAX_FEED_LIMIT}")
            })?,
        None => DEFAULT_FEED_LIMIT,
    };
    changes::push_page(q, None, after, None, limit + 1);
    Ok(())
}
