//! Statistics over the events a filter matches: counts per time bucket, and
//! casualty sums per group.

use chrono::{DateTime, Datelike, Days, FixedOffset, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use utoipa::ToSchema;

use super::event::{CasualtyKind, CasualtyStatus};
use crate::error::ApiError;
use crate::filter::start_of_day;

/// The most buckets one histogram may have.
pub const MAX_BUCKETS: usize = 5000;

/// The width of a histogram bucket, in the request's time zone. Weeks are ISO
/// weeks (Monday to Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    #[default]
    Day,
    Week,
    Month,
    Year,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
        }
    }

    /// The first day of the bucket holding `date` (as Postgres' `date_trunc`).
    pub fn start(self, date: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => date,
            Self::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Self::Month => date.with_day(1).unwrap_or(date),
            Self::Year => date.with_ordinal(1).unwrap_or(date),
        }
    }

    /// The first day of the next bucket.
    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Day => start.checked_add_days(Days::new(1)),
            Self::Week => start.checked_add_days(Days::new(7)),
            Self::Month => start.checked_add_months(Months::new(1)),
            Self::Year => start.checked_add_months(Months::new(12)),
        }
    }

    /// `2022-01-05`, `2022-W01`, `2022-01`, `2022`.
    fn label(self, start: NaiveDate) -> String {
        match self {
            Self::Day => start.format("%Y-%m-%d").to_string(),
            Self::Week => {
                let week = start.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Self::Month => start.format("%Y-%m").to_string(),
            Self::Year => start.format("%Y").to_string(),
        }
    }
}

impl std::str::FromStr for Bucket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            "year" => Ok(Self::Year),
            other => Err(format!("`{other}` is not one of: day, week, month, year")),
        }
    }
}

/// Event counts per time bucket, broken down by type. Every bucket of the
/// range is present, empty ones with zero counts, and every bucket lists
/// every type that occurs, so a chart needs no gap-filling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "bucket": "day",
    "tz": "Asia/Almaty",
    "types": ["armed_clash", "casualties"],
    "buckets": [
        {"label": "2022-01-05", "start": "2022-01-05T00:00:00+06:00", "end": "2022-01-06T00:00:00+06:00", "count": 0, "by_type": {"armed_clash": 0, "casualties": 0}},
        {"label": "2022-01-06", "start": "2022-01-06T00:00:00+06:00", "end": "2022-01-07T00:00:00+06:00", "count": 3, "by_type": {"armed_clash": 1, "casualties": 2}}
    ]
}))]
pub struct Histogram {
    pub bucket: Bucket,
    /// The time zone the buckets are days, weeks, months or years of.
    pub tz: String,
    /// The event types that occur, sorted: the keys of every `by_type`.
    pub types: Vec<String>,
    pub buckets: Vec<HistogramBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistogramBucket {
    /// `2022-01-05` (day), `2022-W01` (ISO week), `2022-01` (month), `2022` (year).
    pub label: String,
    /// First instant of the bucket, with the offset of `tz` at that instant.
    pub start: DateTime<FixedOffset>,
    /// First instant after the bucket (exclusive).
    pub end: DateTime<FixedOffset>,
    /// Events in the bucket.
    pub count: i64,
    /// Events in the bucket per type.
    pub by_type: BTreeMap<String, i64>,
}

/// Events of one type whose (clamped) start falls in the bucket starting on `bucket`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketCount {
    pub bucket: NaiveDate,
    pub event_type: String,
    pub count: i64,
}

impl Histogram {
    /// Fills the range `first..=last` (bucket starts; by default the buckets
    /// that have events) with the counts found.
    ///
    /// The counts are summed per bucket in one pass and each bucket then
    /// takes its own sums, so the work grows with buckets plus rows, not with
    /// their product (up to [`MAX_BUCKETS`] buckets times every row, on the
    /// worker thread). Rows may come in any order.
    pub fn build(
        bucket: Bucket,
        tz: chrono_tz::Tz,
        first: Option<NaiveDate>,
        last: Option<NaiveDate>,
        counts: &[BucketCount],
    ) -> Result<Self, ApiError> {
        let types: BTreeSet<&str> = counts.iter().map(|c| c.event_type.as_str()).collect();
        let first = first
            .into_iter()
            .chain(counts.iter().map(|c| c.bucket))
            .map(|d| bucket.start(d))
            .min();
        let last = last
            .into_iter()
            .chain(counts.iter().map(|c| c.bucket))
            .map(|d| bucket.start(d))
            .max();
        let starts = bucket_starts(bucket, first, last)?;
        let mut sums = sums_per_bucket(bucket, counts);
        let mut buckets = Vec::with_capacity(starts.len());
        for start in starts {
            let mut by_type: BTreeMap<String, i64> =
                types.iter().map(|t| ((*t).to_owned(), 0)).collect();
            for (event_type, count) in sums.remove(&start).unwrap_or_default() {
                *by_type.entry(event_type.to_owned()).or_default() += count;
            }
            let end = bucket.next(start).unwrap_or(start);
            buckets.push(HistogramBucket {
                label: bucket.label(start),
                start: local_midnight(start, tz)?,
                end: local_midnight(end, tz)?,
                count: by_type.values().sum(),
                by_type,
            });
        }
        Ok(Self {
            bucket,
            tz: tz.name().to_owned(),
            types: types.into_iter().map(str::to_owned).collect(),
            buckets,
        })
    }
}

/// The first day of every bucket from `first` to `last`, at most [`MAX_BUCKETS`].
fn bucket_starts(
    bucket: Bucket,
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
) -> Result<Vec<NaiveDate>, ApiError> {
    let mut starts = Vec::new();
    let mut day = first;
    while let (Some(current), Some(last)) = (day, last) {
        if current > last {
            break;
        }
        if starts.len() == MAX_BUCKETS {
            return Err(ApiError::field(
                "bucket",
                format!(
                    "the range has more than {MAX_BUCKETS} {}s; choose a larger bucket or narrow `from`/`to`",
                    bucket.as_str()
                ),
            ));
        }
        starts.push(current);
        day = bucket.next(current);
    }
    Ok(starts)
}

/// The rows grouped by their bucket's first day, in one pass.
fn sums_per_bucket(bucket: Bucket, counts: &[BucketCount]) -> HashMap<NaiveDate, Vec<(&str, i64)>> {
    let mut sums: HashMap<NaiveDate, Vec<(&str, i64)>> = HashMap::new();
    for c in counts {
        sums.entry(bucket.start(c.bucket))
            .or_default()
            .push((c.event_type.as_str(), c.count));
    }
    sums
}

fn local_midnight(date: NaiveDate, tz: chrono_tz::Tz) -> Result<DateTime<FixedOffset>, ApiError> {
    start_of_day(date, tz)
        .map(|t| t.with_timezone(&tz).fixed_offset())
        .map_err(|e| ApiError::field("tz", e))
}

/// What casualty figures can be grouped by, besides kind and status (which
/// always are: killed and injured, or claimed and confirmed figures, are
/// never added together).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    /// The day of the event's `occurred_start` in `tz`.
    Day,
    /// The event type.
    Type,
    /// Who the casualties were (`protesters`, `police`, ...).
    Party,
    /// The casualty kind (always a dimension; accepted for clarity).
    Kind,
}

impl std::str::FromStr for Dimension {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "day" => Ok(Self::Day),
            "type" => Ok(Self::Type),
            "party" => Ok(Self::Party),
            "kind" => Ok(Self::Kind),
            other => Err(format!("`{other}` is not one of: party, kind, day, type")),
        }
    }
}

/// Casualty figures summed per group, kind and status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "group_by": ["party"],
    "tz": "UTC",
    "rows": [
        {"party": "police", "kind": "killed", "status": "confirmed", "min_sum": 8, "max_sum": 8, "figures": 1, "unbounded": 0, "events": 1},
        {"party": "protesters", "kind": "killed", "status": "claimed", "min_sum": 24, "max_sum": null, "figures": 1, "unbounded": 1, "events": 1}
    ]
}))]
pub struct CasualtyStats {
    /// The dimensions asked for; `kind` and `status` always group as well.
    pub group_by: Vec<Dimension>,
    /// The time zone of `day`.
    pub tz: String,
    pub rows: Vec<CasualtyRow>,
}

/// The figures of one group. A figure `{min, max}` adds `min` to `min_sum`
/// and `max` to `max_sum`; one figure without an upper bound (`max: null`,
/// "at least 24") makes the group's `max_sum` `null` (unbounded), and
/// `unbounded` counts such figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CasualtyRow {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<NaiveDate>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    pub kind: CasualtyKind,
    pub status: CasualtyStatus,
    /// Sum of the figures' lower bounds.
    pub min_sum: i64,
    /// Sum of the upper bounds; `null` when any figure has none.
    pub max_sum: Option<i64>,
    /// Figures summed.
    pub figures: i64,
    /// Figures without an upper bound.
    pub unbounded: i64,
    /// Events the figures come from.
    pub events: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn count(day: &str, event_type: &str, count: i64) -> BucketCount {
        BucketCount {
            bucket: date(day),
            event_type: event_type.into(),
            count,
        }
    }

    #[test]
    fn buckets_truncate_like_postgres() {
        assert_eq!(Bucket::Week.start(date("2022-01-06")), date("2022-01-03"));
        assert_eq!(Bucket::Month.start(date("2022-01-06")), date("2022-01-01"));
        assert_eq!(Bucket::Year.start(date("2022-03-06")), date("2022-01-01"));
        assert_eq!(Bucket::Week.label(date("2022-01-03")), "2022-W01");
        assert_eq!(Bucket::Week.label(date("2021-01-01")), "2020-W53");
    }

    #[test]
    fn empty_buckets_are_filled_with_every_type() {
        let counts = [
            count("2022-01-04", "riot", 2),
            count("2022-01-06", "protest", 1),
        ];
        let h = Histogram::build(Bucket::Day, chrono_tz::UTC, None, None, &counts).unwrap();
        assert_eq!(h.types, ["protest", "riot"]);
        let labels: Vec<_> = h.buckets.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["2022-01-04", "2022-01-05", "2022-01-06"]);
        assert_eq!(h.buckets[1].count, 0);
        assert_eq!(h.buckets[1].by_type["riot"], 0);
        assert_eq!(h.buckets[0].by_type["riot"], 2);
    }

    #[test]
    fn unordered_rows_fill_their_buckets_with_gaps_and_both_ends() {
        // Week buckets: rows on any day of a week add up in that week; the
        // range given is wider than the rows, so the ends are empty buckets.
        let counts = [
            count("2022-01-19", "riot", 4),
            count("2022-01-03", "protest", 1),
            count("2022-01-21", "protest", 2),
            count("2022-01-05", "protest", 3),
            count("2022-01-04", "riot", 5),
            count("2022-01-17", "riot", 6),
        ];
        let h = Histogram::build(
            Bucket::Week,
            chrono_tz::UTC,
            Some(date("2021-12-29")),
            Some(date("2022-01-25")),
            &counts,
        )
        .unwrap();
        let labels: Vec<_> = h.buckets.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            ["2021-W52", "2022-W01", "2022-W02", "2022-W03", "2022-W04"]
        );
        let by = |t: &str| -> Vec<i64> { h.buckets.iter().map(|b| b.by_type[t]).collect() };
        assert_eq!(by("protest"), [0, 4, 0, 2, 0]);
        assert_eq!(by("riot"), [0, 5, 0, 10, 0]);
        let totals: Vec<i64> = h.buckets.iter().map(|b| b.count).collect();
        assert_eq!(totals, [0, 9, 0, 12, 0]);
        assert_eq!(totals.iter().sum::<i64>(), 21, "every row counted once");
    }

    #[test]
    fn rows_at_the_first_and_last_bucket_of_their_own_range_are_kept() {
        let counts = [
            count("2022-03-01", "protest", 2),
            count("2022-01-31", "riot", 1),
        ];
        let h = Histogram::build(Bucket::Month, chrono_tz::UTC, None, None, &counts).unwrap();
        let labels: Vec<_> = h.buckets.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["2022-01", "2022-02", "2022-03"]);
        let totals: Vec<i64> = h.buckets.iter().map(|b| b.count).collect();
        assert_eq!(totals, [1, 0, 2]);
        assert_eq!(h.buckets[2].by_type["riot"], 0);
    }

    #[test]
    fn bucket_bounds_carry_the_zone_offset_across_dst() {
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let h = Histogram::build(
            Bucket::Day,
            berlin,
            Some(date("2022-03-26")),
            Some(date("2022-03-27")),
            &[],
        )
        .unwrap();
        assert_eq!(h.buckets[0].start.to_rfc3339(), "2022-03-26T00:00:00+01:00");
        assert_eq!(h.buckets[1].start.to_rfc3339(), "2022-03-27T00:00:00+01:00");
        assert_eq!(h.buckets[1].end.to_rfc3339(), "2022-03-28T00:00:00+02:00");
    }

    #[test]
    fn too_many_buckets_are_refused() {
        let err = Histogram::build(
            Bucket::Day,
            chrono_tz::UTC,
            Some(date("1900-01-01")),
            Some(date("2100-01-01")),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("bucket:"), "{err}");
        assert!(
            Histogram::build(
                Bucket::Year,
                chrono_tz::UTC,
                Some(date("1900-01-01")),
                Some(date("2100-01-01")),
                &[]
            )
            .is_ok()
        );
    }
}
