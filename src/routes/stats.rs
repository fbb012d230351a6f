//! Statistics over the events a filter matches: `/v1/stats/...`. They take
//! the list filters, but no paging (`sort`, `limit`, `cursor` are rejected).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::IntoParams;

use super::problems::NotAcceptable;
use crate::db;
use crate::error::ApiError;
use crate::filter::{Errors, EventFilter, FilterParams, HistoryParams, comma_list, param_names};
use crate::formats::{self, Format, FormatParams, OutputChoice, TABLE_FORMATS};
use crate::models::stats::{Bucket, CasualtyStats, Dimension, Histogram};
use crate::read_your_writes::ReadAt;
use crate::state::AppState;

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistogramParams {
    /// Bucket width in `tz`: `day` (default), `week` (ISO, from Monday), `month` or `year`.
    /// Buckets are whole calendar units, not clipped to the window: the first bucket's `start`
    /// is the start of the week (month, year) holding `from`, so it may lie before `from`
    /// (and the last bucket's `end` after `to`); its count holds only events in the window.
    #[param(value_type = Option<Bucket>, example = "day")]
    pub bucket: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CasualtyParams {
    /// What to group by besides casualty kind and status, comma-separated: `party`, `day`
    /// (of the event's start in `tz`), `type`; `kind` alone (the default) groups by kind and status only.
    #[param(value_type = Option<Vec<Dimension>>, style = Form, explode = false, example = json!(["party"]))]
    pub group_by: Option<String>,
}

/// Query parameters of a statistics endpoint: the filter, the output, and `P`.
#[derive(Debug, Deserialize)]
pub struct StatsQuery<P> {
    #[serde(flatten)]
    pub filter: FilterParams,
    #[serde(flatten)]
    pub history: HistoryParams,
    #[serde(flatten)]
    pub output: FormatParams,
    #[serde(flatten)]
    pub params: P,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, String>,
}

/// A parsed statistics request.
struct StatsRequest<T> {
    filter: EventFilter,
    tz: chrono_tz::Tz,
    output: OutputChoice,
    params: T,
}

impl<P: IntoParams> StatsQuery<P> {
    /// Parses everything, `params` with `parse_params`, reporting every bad parameter at once.
    fn parse<T>(
        &self,
        parse_params: impl FnOnce(&P, &mut Errors) -> T,
    ) -> Result<StatsRequest<T>, ApiError> {
        let mut errors = Errors::default();
        let accepted = [
            param_names::<FilterParams>(),
            param_names::<HistoryParams>(),
            param_names::<FormatParams>(),
            param_names::<P>(),
        ]
        .concat();
        errors.reject_unknown(&self.unknown, &accepted);
        let (mut filter, tz) = self.filter.parse(&mut errors);
        filter.as_of = self.history.parse(&mut errors);
        let output = self.output.parse(&mut errors, TABLE_FORMATS);
        let params = parse_params(&self.params, &mut errors);
        errors.finish()?;
        Ok(StatsRequest {
            filter,
            tz,
            output,
            params,
        })
    }
}

fn table_response<T: Serialize>(
    req: &HttpRequest,
    output: OutputChoice,
    body: &T,
    csv: impl FnOnce(&T, bool) -> Result<Vec<u8>, ApiError>,
    file_stem: &str,
) -> Result<HttpResponse, ApiError> {
    let format = output.negotiate(req, TABLE_FORMATS)?;
    let mut builder = HttpResponse::Ok();
    formats::read_headers(&mut builder);
    Ok(match format {
        Format::Csv => formats::csv_download(&mut builder, file_stem).body(csv(body, output.bom)?),
        _ => builder.json(body),
    })
}

/// Event counts per time bucket, by type.
///
/// Each matching event counts once, in the bucket (in `tz`) of its
/// `occurred_start`; an event that began before `from` but overlaps the
/// window counts in the first bucket, and a vague one stored after `to`
/// whose period begins by `to` (a month event stored on the 15th, with `to`
/// the 10th) counts in the last. The buckets run from `from` (else the
/// first matching event) to `to` (else the last), every one present, empty
/// ones with zeros, each with every type that occurs. At most 5,000 buckets.
#[utoipa::path(get, path = "/v1/stats/histogram", tag = "stats",
    params(ReadAt, FilterParams, HistoryParams, HistogramParams, FormatParams),
    responses(
        (status = 200, description = "Counts per bucket (JSON), or a table `label,start,end,count,<one column per type>` (CSV)",
            content((Histogram = "application/json"), (String = "text/csv", example = json!("label,start,end,count,armed_clash,casualties\r\n2022-01-05,2022-01-05T00:00:00+06:00,2022-01-06T00:00:00+06:00,0,0,0\r\n2022-01-06,2022-01-06T00:00:00+06:00,2022-01-07T00:00:00+06:00,3,1,2\r\n"))),
            headers(("Vary" = String, description = "`Accept`"),
                ("Access-Control-Allow-Origin" = String, description = "`*` without an `Origin` header; a cross-origin request gets its own origin echoed (with `Vary: Origin`), or `*` when `CHRONIK_CORS_ORIGINS=*`: a page on any origin may fetch it"))),
        (status = 400, description = "A parameter is invalid or unknown (`sort`, `limit` and `cursor` do not apply), `type` or `timeline` names no event type or timeline, or the range has more than 5,000 buckets"),
        NotAcceptable,
    ))]
pub async fn histogram(
    state: web::Data<AppState>,
    at: ReadAt,
    req: HttpRequest,
    query: web::Query<StatsQuery<HistogramParams>>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse(|p, errors| {
        p.bucket
            .as_deref()
            .and_then(|b| errors.take("bucket", b.parse::<Bucket>()))
            .unwrap_or_default()
    })?;
    let bucket = request.params;
    state.vocabulary.check(&state.pool, &request.filter).await?;
    let mut conn = state.reads.get(at.0).await?;
    let counts = db::stats::bucket_counts(&mut conn, &request.filter, bucket, request.tz).await?;
    let local_day = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&request.tz).date_naive();
    let histogram = Histogram::build(
        bucket,
        request.tz,
        request.filter.from.map(local_day),
        request.filter.to.map(local_day),
        &counts,
    )?;
    table_response(
        &req,
        request.output,
        &histogram,
        formats::csv::histogram,
        "histogram",
    )
}

/// Casualty figures summed per group.
///
/// Figures are always kept apart by kind and by status: claimed, confirmed
/// and disputed numbers are never added together. `max_sum` is `null` when
/// any figure in the group has no upper bound (`unbounded` counts those).
#[utoipa::path(get, path = "/v1/stats/casualties", tag = "stats",
    params(ReadAt, FilterParams, HistoryParams, CasualtyParams, FormatParams),
    responses(
        (status = 200, description = "Sums per group (JSON), or a table: the `group_by` columns (in the order day, type, party), then `kind,status,min_sum,max_sum,figures,unbounded,events` (CSV; an empty `max_sum` is unbounded)",
            content((CasualtyStats = "application/json"), (String = "text/csv", example = json!("party,kind,status,min_sum,max_sum,figures,unbounded,events\r\npolice,killed,confirmed,8,8,1,0,1\r\nprotesters,killed,claimed,24,,1,1,1\r\n"))),
            headers(("Vary" = String, description = "`Accept`"),
                ("Access-Control-Allow-Origin" = String, description = "`*` without an `Origin` header; a cross-origin request gets its own origin echoed (with `Vary: Origin`), or `*` when `CHRONIK_CORS_ORIGINS=*`: a page on any origin may fetch it"))),
        (status = 400, description = "A parameter is invalid or unknown (`sort`, `limit` and `cursor` do not apply), or `type` or `timeline` names no event type or timeline"),
        NotAcceptable,
    ))]
pub async fn casualties(
    state: web::Data<AppState>,
    at: ReadAt,
    req: HttpRequest,
    query: web::Query<StatsQuery<CasualtyParams>>,
) -> Result<HttpResponse, ApiError> {
    let request = query.parse(|p, errors| {
        let mut group_by: Vec<Dimension> = comma_list(p.group_by.as_deref())
            .filter_map(|d| errors.take("group_by", d.parse()))
            .filter(|d| *d != Dimension::Kind)
            .collect();
        group_by.sort();
        group_by.dedup();
        group_by
    })?;
    state.vocabulary.check(&state.pool, &request.filter).await?;
    let mut conn = state.reads.get(at.0).await?;
    let rows =
        db::stats::casualty_sums(&mut conn, &request.filter, &request.params, request.tz).await?;
    let stats = CasualtyStats {
        group_by: request.params,
        tz: request.tz.name().to_owned(),
        rows,
    };
    table_response(
        &req,
        request.output,
        &stats,
        formats::csv::casualties,
        "casualties",
    )
}
