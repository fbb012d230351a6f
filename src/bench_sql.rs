//! `chronik bench-sql TARGET`: the statement Chronik sends to Postgres for a
//! read request, with its bind values, so that the benchmark (`bench/run`)
//! can run the very same SQL through `pgbench` as its reference. The request
//! goes through the same parsing and query building as the HTTP handlers;
//! nothing here writes SQL of its own.

use actix_web::test::TestRequest;
use diesel::QueryableByName;
use diesel::sql_types::{Array, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Serialize;

use crate::db::events;
use crate::db::sql::SqlBuilder;
use crate::filter::Paging;
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
/// such as `format=ndjson`, the statement their cursor reads) and
/// `/v1/events/{id}`.
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
        _ => anyhow::bail!(
            "bench-sql supports /v1/events, /v1/events/{{id}} and /v1/timelines/{{slug}}/events, not {path}"
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
