//! The event filter: parsed once from the query string, then used by every
//! endpoint that lists, exports or counts events.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::openapi::path::ParameterIn;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, FieldError};
use crate::models::event::EventStatus;
use crate::models::values::{
    ActorName, BBox, CountryCode, EventId, EventTypeSlug, ExternalId, SearchText, Tag,
    TimeZoneName, TimelineSlug,
};
use crate::query_schemas::{BoundingBox, DateOrDateTime, TagFilter};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// Which events a request is about: the query parameters shared by the event
/// lists, their exports and the statistics.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Start of the window, inclusive: a date written exactly `YYYY-MM-DD` (`2022-01-05`, start of that
    /// day in `tz`; `2022-1-5` is refused, and so is a day that does not exist, such as `2022-02-30`)
    /// or an RFC 3339 date-time.
    #[param(value_type = Option<DateOrDateTime>, example = "2022-01-05")]
    pub from: Option<String>,
    /// End of the window, inclusive: a date written exactly `YYYY-MM-DD` (`2022-01-07` covers that whole
    /// day in `tz`) or an RFC 3339 date-time.
    /// An event matches when `[the start of the period of its precision (in its time zone) that
    /// holds occurred_start, the end of the period that holds occurred_end or occurred_start]`
    /// overlaps `[from, to]`: an event of `precision: month` matches every window that overlaps
    /// its month.
    #[param(value_type = Option<DateOrDateTime>, example = "2022-01-07")]
    pub to: Option<String>,
    /// IANA time zone in which date-only `from`/`to` are read and statistics are bucketed (default UTC).
    #[param(value_type = Option<TimeZoneName>, example = "Asia/Almaty")]
    pub tz: Option<String>,
    /// Event types, comma-separated (any of them).
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<Vec<EventTypeSlug>>, style = Form, explode = false, example = json!(["casualties", "military_deployment"]))]
    pub types: Option<String>,
    /// ISO 3166-1 alpha-2 country codes, comma-separated (any of them).
    #[param(value_type = Option<Vec<CountryCode>>, style = Form, explode = false, example = json!(["KZ"]))]
    pub country: Option<String>,
    /// Actor name (case-insensitive exact match).
    #[param(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F]*[^\u0000-\u0020\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F]*$", example = "CSTO")]
    pub actor: Option<String>,
    /// Tags, comma-separated (events with any of them).
    #[param(value_type = Option<Vec<TagFilter>>, style = Form, explode = false, example = json!(["almaty"]))]
    pub tag: Option<String>,
    /// Timeline slug.
    #[param(value_type = Option<TimelineSlug>, example = "kazakhstan-2022-unrest")]
    pub timeline: Option<String>,
    /// The event's `external_id` (exact match), such as an ACLED `event_id_cnty`.
    #[param(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"^[^\u0000-\u001F\u007F]*[^\u0000-\u0020\u007F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F]*$", example = "KAZ9002")]
    pub external_id: Option<String>,
    /// Statuses, comma-separated: `reported`, `confirmed`, `disputed`, `retracted`.
    #[param(value_type = Option<Vec<EventStatus>>, style = Form, explode = false, example = json!(["reported", "confirmed"]))]
    pub status: Option<String>,
    /// Full-text search over title and summary, in web search syntax: all words must occur
    /// (stemmed in the event's language), `"a phrase"`, `-excluded`, `or`. At most 500 characters.
    #[param(value_type = Option<SearchText>, example = "almaty police")]
    pub q: Option<String>,
    /// Bounding box `min_lon,min_lat,max_lon,max_lat` (degrees, edges inclusive): only events whose
    /// coordinates lie inside. `min_lon > max_lon` means a box across the antimeridian.
    #[param(value_type = Option<BoundingBox>, style = Form, explode = false, example = json!([76.7, 43.1, 77.1, 43.4]))]
    pub bbox: Option<String>,
}

/// Reading history: the lists and statistics, not the change feed.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// Read the events as they were known at this instant (RFC 3339 date-time with offset): each
    /// event as of its latest revision whose `known_at` is not after it. Events first known later
    /// are absent, events deleted later are present, later corrections are not applied. Every
    /// other filter applies to those past values.
    #[param(value_type = Option<String>, format = DateTime, example = "2022-01-06T06:00:00Z")]
    pub as_of: Option<String>,
}

/// Which slice of the matching events, in which order: the list endpoints only.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// `asc` (default) or `desc` by `occurred_start` then `id`; or `relevance` (only with `q`):
    /// best match first, then by `occurred_start` and `id`.
    #[param(value_type = Option<SortOrder>, example = "asc")]
    pub sort: Option<String>,
    /// Page size, 1 to 500 (default 50). Not with the formats that return the whole result.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500, example = 50)]
    pub limit: Option<String>,
    /// Opaque cursor from `next_cursor` (or the `Link: rel="next"` header) of the previous page,
    /// with the same `sort`.
    #[param(value_type = Option<String>, min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
    /// `all`: with `format=csv`, stream the whole result instead of one page.
    #[param(value_type = Option<StreamAll>, example = "all")]
    pub stream: Option<String>,
    /// JSON pages only: add `total`, the number of all matching events. `exact` counts them
    /// (as costly as reading every match once); `estimated` asks Postgres's planner (as cheap as
    /// planning the query, but off by as much as its statistics are).
    #[param(value_type = Option<CountModeName>, example = "exact")]
    pub count: Option<String>,
}

/// `stream=`'s one value, for the spec.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Describes a parameter in the spec; never built.
pub enum StreamAll {
    All,
}

/// `count=`'s values, for the spec.
#[derive(ToSchema)]
#[schema(as = CountMode, rename_all = "lowercase")]
#[allow(dead_code)] // Describes a parameter in the spec; never built.
pub enum CountModeName {
    Exact,
    Estimated,
}

/// How to count the matches of a list (`count=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMode {
    Exact,
    Estimated,
}

impl std::str::FromStr for CountMode {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "exact" => Ok(Self::Exact),
            "estimated" => Ok(Self::Estimated),
            other => Err(format!("`{other}` is not `exact` or `estimated`")),
        }
    }
}

/// Which events a request is about.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EventFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub types: Vec<EventTypeSlug>,
    pub countries: Vec<CountryCode>,
    pub actor: Option<ActorName>,
    pub tags: Vec<Tag>,
    pub timeline: Option<TimelineSlug>,
    pub external_id: Option<ExternalId>,
    pub statuses: Vec<EventStatus>,
    pub q: Option<SearchText>,
    pub bbox: Option<BBox>,
    /// Only events with coordinates (what a map can show).
    pub located: bool,
    /// Read history: the events as known at this instant, not as they are now.
    pub as_of: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
    /// Best full-text match first; needs `q`.
    Relevance,
}

/// Which slice of the filtered, sorted events to return.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub sort: SortOrder,
    pub limit: i64,
    pub after: Option<Cursor>,
}

/// What a list request asks for: one page, or every matching event.
#[derive(Debug, Clone, PartialEq)]
pub enum Paging {
    Page(PageRequest),
    Whole(SortOrder),
}

/// The paging parameters as given, before the output format decides whether they apply.
#[derive(Debug, Clone, PartialEq)]
pub struct PagingChoice {
    pub sort: SortOrder,
    pub limit: Option<i64>,
    pub after: Option<Cursor>,
    pub stream_all: bool,
}

/// Position after the last row of a page: keyset paging, never OFFSET.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "s")]
    pub occurred_start: DateTime<Utc>,
    #[serde(rename = "i")]
    pub id: EventId,
    #[serde(rename = "o")]
    pub sort: SortOrder,
    /// The row's full-text rank, when sorted by relevance.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub rank: Option<f32>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(s: &str) -> Result<Self, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "not a cursor returned by this API".to_owned())?;
        serde_json::from_slice(&bytes).map_err(|_| "not a cursor returned by this API".to_owned())
    }
}

/// Collects every problem with the query, so that a client sees them all at once.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub fn take<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.push(field, message)).ok()
    }

    fn list<T: std::str::FromStr<Err = String>>(
        &mut self,
        field: &str,
        raw: Option<&str>,
    ) -> Vec<T> {
        comma_list(raw)
            .filter_map(|item| self.take(field, item.parse()))
            .collect()
    }

    /// Names every parameter the endpoint does not know: a typo is an error,
    /// not a silently ignored filter.
    pub fn reject_unknown(&mut self, unknown: &BTreeMap<String, String>, accepted: &[String]) {
        for name in unknown.keys() {
            self.push(
                name,
                format!(
                    "unknown parameter `{name}`; this endpoint accepts: {}",
                    accepted.join(", ")
                ),
            );
        }
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest(self.0))
        }
    }
}

/// The names of the query parameters a parameter struct documents.
pub fn param_names<P: IntoParams>() -> Vec<String> {
    P::into_params(|| Some(ParameterIn::Query))
        .into_iter()
        .map(|p| p.name)
        .collect()
}

pub fn comma_list(raw: Option<&str>) -> impl Iterator<Item = &str> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl FilterParams {
    /// The filter, and the time zone the request reads dates in.
    pub fn parse(&self, errors: &mut Errors) -> (EventFilter, chrono_tz::Tz) {
        let tz = self
            .tz
            .as_deref()
            .and_then(|tz| errors.take("tz", tz.parse::<TimeZoneName>()))
            .map(|tz| tz.tz())
            .unwrap_or(chrono_tz::UTC);
        let from = self
            .from
            .as_deref()
            .and_then(|v| errors.take("from", parse_bound(v, tz, Bound::Start)));
        let to = self
            .to
            .as_deref()
            .and_then(|v| errors.take("to", parse_bound(v, tz, Bound::End)));
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            errors.push("from", "must not be after `to`");
        }
        let filter = EventFilter {
            from,
            to,
            types: errors.list("type", self.types.as_deref()),
            countries: errors.list("country", self.country.as_deref()),
            actor: self
                .actor
                .as_deref()
                .and_then(|a| errors.take("actor", a.parse())),
            tags: errors.list("tag", self.tag.as_deref()),
            timeline: self
                .timeline
                .as_deref()
                .and_then(|t| errors.take("timeline", t.parse())),
            external_id: self
                .external_id
                .as_deref()
                .and_then(|x| errors.take("external_id", x.parse())),
            statuses: errors.list("status", self.status.as_deref()),
            q: self.q.as_deref().and_then(|q| errors.take("q", q.parse())),
            bbox: self
                .bbox
                .as_deref()
                .and_then(|b| errors.take("bbox", b.parse())),
            located: false,
            as_of: None,
        };
        (filter, tz)
    }
}

impl HistoryParams {
    pub fn parse(&self, errors: &mut Errors) -> Option<DateTime<Utc>> {
        self.as_of
            .as_deref()
            .and_then(|t| errors.take("as_of", parse_instant(t)))
    }
}

impl PageParams {
    /// `searching`: whether the filter has `q` (which `sort=relevance` needs).
    pub fn parse(&self, errors: &mut Errors, searching: bool) -> PagingChoice {
        let sort = match self.sort.as_deref() {
            None | Some("asc") => SortOrder::Asc,
            Some("desc") => SortOrder::Desc,
            Some("relevance") if searching => SortOrder::Relevance,
            Some("relevance") => {
                errors.push("sort", "`relevance` needs a search text in `q`");
                SortOrder::Asc
            }
            Some(other) => {
                errors.push(
                    "sort",
                    format!("`{other}` is not `asc`, `desc` or `relevance`"),
                );
                SortOrder::Asc
            }
        };
        let limit = self
            .limit
            .as_deref()
            .and_then(|l| errors.take("limit", parse_limit(l)));
        let after = self
            .cursor
            .as_deref()
            .and_then(|c| errors.take("cursor", Cursor::decode(c)));
        if let Some(cursor) = &after
            && (cursor.sort != sort || (sort == SortOrder::Relevance) != cursor.rank.is_some())
        {
            errors.push("cursor", "the cursor belongs to another sort order");
        }
        let stream_all = match self.stream.as_deref() {
            None => false,
            Some("all") => true,
            Some(other) => {
                errors.push("stream", format!("`{other}` is not `all`"));
                false
            }
        };
        PagingChoice {
            sort,
            limit,
            after,
            stream_all,
        }
    }
}

impl PagingChoice {
    /// `whole`: the chosen output returns every matching event, so a page size
    /// or position makes no sense and is rejected rather than ignored.
    pub fn into_paging(self, whole: bool) -> Result<Paging, ApiError> {
        if !whole {
            return Ok(Paging::Page(PageRequest {
                sort: self.sort,
                limit: self.limit.unwrap_or(DEFAULT_LIMIT),
                after: self.after,
            }));
        }
        let mut errors = Errors::default();
        let why = "does not apply: this output is the whole result; narrow it with filters instead";
        if self.limit.is_some() {
            errors.push("limit", why);
        }
        if self.after.is_some() {
            errors.push("cursor", why);
        }
        errors.finish().map(|()| Paging::Whole(self.sort))
    }
}

pub fn parse_limit(raw: &str) -> Result<i64, String> {
    match raw.parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX_LIMIT}")),
    }
}

/// An instant: an RFC 3339 date-time with an offset.
pub fn parse_instant(raw: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{raw}` is not an RFC 3339 date-time with offset"))
}

#[derive(Clone, Copy)]
enum Bound {
    Start,
    End,
}

/// A date-only bound covers the whole day in `tz`; a date-time must carry its offset.
fn parse_bound(raw: &str, tz: chrono_tz::Tz, bound: Bound) -> Result<DateTime<Utc>, String> {
    if let Ok(datetime) = DateTime::parse_from_rfc3339(raw) {
        return Ok(datetime.with_timezone(&Utc));
    }
    // A date-time whose date part names a day that does not exist.
    if raw.len() > 10
        && let Some(Err(message)) = raw.get(..10).and_then(parse_date)
    {
        return Err(message);
    }
    let date = parse_date(raw).unwrap_or_else(|| {
        Err(format!(
            "`{raw}` is neither a date (YYYY-MM-DD) nor an RFC 3339 date-time with offset"
        ))
    })?;
    match bound {
        Bound::Start => start_of_day(date, tz),
        // Inclusive end of the day: the last microsecond (Postgres' resolution) before the next day.
        Bound::End => date
            .succ_opt()
            .ok_or_else(|| format!("`{raw}` is out of range"))
            .and_then(|next| start_of_day(next, tz))
            .map(|next| next - chrono::Duration::microseconds(1)),
    }
}

/// A date written exactly `YYYY-MM-DD`; `None` when `raw` does not have that shape,
/// an error when it has the shape but names a day that does not exist.
fn parse_date(raw: &str) -> Option<Result<NaiveDate, String>> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    let number = |range: std::ops::Range<usize>| raw.get(range).and_then(|s| s.parse().ok());
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return None;
    };
    Some(
        NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(|| {
            match NaiveDate::from_ymd_opt(year as i32, month, 1) {
                None => format!("`{raw}` has the right format (YYYY-MM-DD) but there is no month {month:02}"),
                Some(first) => {
                    let days = first
                        .checked_add_months(chrono::Months::new(1))
                        .map_or(31, |next| next.signed_duration_since(first).num_days());
                    format!(
                        "`{raw}` has the right format (YYYY-MM-DD) but that day does not exist: {year:04}-{month:02} has {days} days"
                    )
                }
            }
        }),
    )
}

/// The first instant of `date` in `tz`.
pub fn start_of_day(date: NaiveDate, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    // Where a DST change skips midnight, the day starts at the first instant that exists.
    (0..=3)
        .find_map(|hour| {
            let time = NaiveTime::from_hms_opt(hour, 0, 0)?;
            tz.from_local_datetime(&date.and_time(time)).earliest()
        })
        .map(|local| local.with_timezone(&Utc))
        .ok_or_else(|| format!("{date} has no midnight in {tz}"))
}

#[cfg(test)]
pub(crate) mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Query {
        #[serde(flatten)]
        filter: FilterParams,
        #[serde(flatten)]
        page: PageParams,
    }

    impl Query {
        fn parse(&self) -> Result<(EventFilter, PagingChoice), ApiError> {
            let mut errors = Errors::default();
            let (filter, _) = self.filter.parse(&mut errors);
            let paging = self.page.parse(&mut errors, filter.q.is_some());
            errors.finish().map(|()| (filter, paging))
        }
    }

    fn query(pairs: &[(&str, &str)]) -> Query {
        let qs = serde_urlencoded::to_string(pairs).unwrap();
        serde_urlencoded::from_str(&qs).unwrap()
    }

    #[test]
    fn a_day_that_does_not_exist_is_named_as_such() {
        let err = query(&[("from", "2022-02-30")]).parse().unwrap_err();
        let text = format!("{err:?}");
        assert!(
            text.contains("that day does not exist: 2022-02 has 28 days"),
            "{text}"
        );
        let err = query(&[("to", "2022-13-01")]).parse().unwrap_err();
        let text = format!("{err:?}");
        assert!(text.contains("there is no month 13"), "{text}");
        let err = query(&[("from", "2022-02-30T00:00:00Z")])
            .parse()
            .unwrap_err();
        let text = format!("{err:?}");
        assert!(text.contains("that day does not exist"), "{text}");
        let (filter, _) = query(&[("from", "2024-02-29")]).parse().unwrap();
        assert!(filter.from.is_some());
    }

    #[test]
    fn dates_must_be_written_yyyy_mm_dd_exactly() {
        for raw in [
            "2022-1-5",
            "2022-01-5",
            "+2022-01-05",
            "22-01-05",
            "2022/01/05",
        ] {
            let err = query(&[("from", raw)]).parse().unwrap_err();
            let text = format!("{err:?}");
            assert!(
                text.contains("neither a date (YYYY-MM-DD)"),
                "{raw}: {text}"
            );
        }
    }

    #[test]
    fn date_only_to_covers_the_whole_day_in_utc() {
        let (filter, _) = query(&[("from", "2022-01-05"), ("to", "2022-01-07")])
            .parse()
            .unwrap();
        assert_eq!(
            filter.from.unwrap().to_rfc3339(),
            "2022-01-05T00:00:00+00:00"
        );
        assert_eq!(
            filter.to.unwrap().to_rfc3339(),
            "2022-01-07T23:59:59.999999+00:00"
        );
    }

    #[test]
    fn date_only_bounds_follow_tz() {
        let (filter, _) = query(&[
            ("from", "2022-01-06"),
            ("to", "2022-01-06"),
            ("tz", "Asia/Almaty"),
        ])
        .parse()
        .unwrap();
        assert_eq!(
            filter.from.unwrap().to_rfc3339(),
            "2022-01-05T18:00:00+00:00"
        );
        assert_eq!(
            filter.to.unwrap().to_rfc3339(),
            "2022-01-06T17:59:59.999999+00:00"
        );
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let err = query(&[
            ("from", "yesterday"),
            ("limit", "0"),
            ("type", "Bad Type"),
            ("tz", "Nowhere"),
        ])
        .parse()
        .unwrap_err();
        let ApiError::BadRequest(errors) = err else {
            panic!("expected 400")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["tz", "from", "type", "limit"]);
    }

    #[test]
    fn cursor_round_trips() {
        let cursor = Cursor {
            occurred_start: Utc::now(),
            id: EventId::new(),
            sort: SortOrder::Desc,
            rank: None,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("garbage!").is_err());
        let ranked = Cursor {
            sort: SortOrder::Relevance,
            rank: Some(0.1 + 0.2),
            ..cursor
        };
        assert_eq!(Cursor::decode(&ranked.encode()).unwrap(), ranked);
    }

    #[test]
    fn relevance_needs_q_and_whole_outputs_reject_paging() {
        let err = query(&[("sort", "relevance")]).parse().unwrap_err();
        assert!(err.to_string().starts_with("sort:"), "{err}");
        let (_, paging) = query(&[("sort", "relevance"), ("q", "almaty")])
            .parse()
            .unwrap();
        assert_eq!(paging.sort, SortOrder::Relevance);
        let (_, paging) = query(&[("limit", "5")]).parse().unwrap();
        assert!(paging.clone().into_paging(false).is_ok());
        assert!(paging.into_paging(true).is_err());
    }

    #[test]
    fn param_names_come_from_the_documented_parameters() {
        let names = param_names::<FilterParams>();
        assert!(names.contains(&"type".to_owned()) && names.contains(&"bbox".to_owned()));
        assert_eq!(
            param_names::<PageParams>(),
            ["sort", "limit", "cursor", "stream", "count"]
        );
    }
}
