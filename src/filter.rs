//! The event filter: parsed once from the query string, then used by every
//! endpoint that lists events.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::error::{ApiError, FieldError};
use crate::models::event::EventStatus;
use crate::models::values::{
    ActorName, CountryCode, EventId, EventTypeSlug, Tag, TimeZoneName, TimelineSlug,
};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// Query parameters of the event list endpoints, as received.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Start of the window, inclusive: a date (`2022-01-05`, start of that day in `tz`) or an RFC 3339 date-time.
    #[param(example = "2022-01-05")]
    pub from: Option<String>,
    /// End of the window, inclusive: a date (`2022-01-07` covers that whole day in `tz`) or an RFC 3339 date-time.
    /// An event matches when `[occurred_start, occurred_end or occurred_start]` overlaps `[from, to]`.
    #[param(example = "2022-01-07")]
    pub to: Option<String>,
    /// IANA time zone in which date-only `from`/`to` are read (default UTC).
    #[param(example = "Asia/Almaty")]
    pub tz: Option<String>,
    /// Event types, comma-separated (any of them).
    #[serde(rename = "type")]
    #[param(rename = "type", example = "casualties,military_deployment")]
    pub types: Option<String>,
    /// ISO 3166-1 alpha-2 country codes, comma-separated (any of them).
    #[param(example = "KZ")]
    pub country: Option<String>,
    /// Actor name (case-insensitive exact match).
    #[param(example = "CSTO")]
    pub actor: Option<String>,
    /// Tags, comma-separated (events with any of them).
    #[param(example = "almaty")]
    pub tag: Option<String>,
    /// Timeline slug.
    #[param(example = "kazakhstan-2022-unrest")]
    pub timeline: Option<String>,
    /// Statuses, comma-separated: `reported`, `confirmed`, `disputed`, `retracted`.
    #[param(example = "reported,confirmed")]
    pub status: Option<String>,
    /// `asc` (default) or `desc`, by `occurred_start` then `id`.
    #[param(example = "asc")]
    pub sort: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(example = 50)]
    pub limit: Option<String>,
    /// Opaque cursor from `next_cursor` of the previous page.
    pub cursor: Option<String>,
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
    pub statuses: Vec<EventStatus>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

/// Which slice of the filtered, sorted events to return.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub sort: SortOrder,
    pub limit: i64,
    pub after: Option<Cursor>,
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
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn take<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|message| self.0.push(FieldError::new(field, message)))
            .ok()
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
}

fn comma_list(raw: Option<&str>) -> impl Iterator<Item = &str> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl EventQuery {
    pub fn parse(&self) -> Result<(EventFilter, PageRequest), ApiError> {
        let mut errors = Errors::default();
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
            errors
                .0
                .push(FieldError::new("from", "must not be after `to`"));
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
            statuses: errors.list("status", self.status.as_deref()),
        };
        let sort = match self.sort.as_deref() {
            None | Some("asc") => SortOrder::Asc,
            Some("desc") => SortOrder::Desc,
            Some(other) => {
                errors.0.push(FieldError::new(
                    "sort",
                    format!("`{other}` is not `asc` or `desc`"),
                ));
                SortOrder::Asc
            }
        };
        let limit = self
            .limit
            .as_deref()
            .and_then(|l| errors.take("limit", parse_limit(l)))
            .unwrap_or(DEFAULT_LIMIT);
        let after = self
            .cursor
            .as_deref()
            .and_then(|c| errors.take("cursor", Cursor::decode(c)));
        if let Some(cursor) = &after
            && cursor.sort != sort
        {
            errors.0.push(FieldError::new(
                "cursor",
                "the cursor belongs to the other sort order",
            ));
        }
        if errors.0.is_empty() {
            Ok((filter, PageRequest { sort, limit, after }))
        } else {
            Err(ApiError::BadRequest(errors.0))
        }
    }
}

pub fn parse_limit(raw: &str) -> Result<i64, String> {
    match raw.parse::<i64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {MAX_LIMIT}")),
    }
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
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        format!("`{raw}` is neither a date (YYYY-MM-DD) nor an RFC 3339 date-time with offset")
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

fn start_of_day(date: NaiveDate, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
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
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> EventQuery {
        let qs = serde_urlencoded::to_string(pairs).unwrap();
        serde_urlencoded::from_str(&qs).unwrap()
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
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("garbage!").is_err());
    }
}
