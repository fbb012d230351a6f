//! The event CSV's columns, in their fixed (documented) order, and what
//! each holds: one definition that the export writer (`formats::csv`) and
//! the import reader (`import::csv`) share. Every writable field has a
//! column, so that an export re-imports without loss.

use chrono::{DateTime, SecondsFormat, Utc};
use std::borrow::Cow;

use crate::error::ApiError;
use crate::models::event::{Casualty, CasualtyKind, CasualtyStatus, Event};

/// One column of the event CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    ExternalId,
    Title,
    Summary,
    Language,
    Type,
    OccurredStart,
    OccurredEnd,
    Precision,
    Timezone,
    LocationName,
    Admin1,
    CountryCode,
    Lat,
    Lon,
    Status,
    /// Tags joined with `;` (tags cannot contain `;`).
    Tags,
    /// Timeline slugs joined with `;`.
    Timelines,
    /// Actor names joined with `;`, for reading; `actors_json` is exact.
    Actors,
    /// Source URLs joined with `;`, for reading; `sources_json` is exact.
    Sources,
    /// The sum of the event's figures of one kind and one status.
    Casualties(CasualtyKind, CasualtyStatus, SumOf),
    ActorsJson,
    CasualtiesJson,
    SourcesJson,
    Version,
    CreatedAt,
    UpdatedAt,
}

/// Which bound of the figures a casualty column sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SumOf {
    Min,
    Max,
}

use CasualtyKind::{Arrested, Injured, Killed, Missing};
use CasualtyStatus::{Claimed, Confirmed, Disputed};
use Column::Casualties as Sum;
use SumOf::{Max, Min};

/// The event CSV's columns, in order. The one place that defines them.
pub const COLUMNS: &[Column] = &[
    Column::Id,
    Column::ExternalId,
    Column::Title,
    Column::Summary,
    Column::Language,
    Column::Type,
    Column::OccurredStart,
    Column::OccurredEnd,
    Column::Precision,
    Column::Timezone,
    Column::LocationName,
    Column::Admin1,
    Column::CountryCode,
    Column::Lat,
    Column::Lon,
    Column::Status,
    Column::Tags,
    Column::Timelines,
    Column::Actors,
    Column::Sources,
    Sum(Killed, Confirmed, Min),
    Sum(Killed, Confirmed, Max),
    Sum(Killed, Claimed, Min),
    Sum(Killed, Claimed, Max),
    Sum(Killed, Disputed, Min),
    Sum(Killed, Disputed, Max),
    Sum(Injured, Confirmed, Min),
    Sum(Injured, Confirmed, Max),
    Sum(Injured, Claimed, Min),
    Sum(Injured, Claimed, Max),
    Sum(Injured, Disputed, Min),
    Sum(Injured, Disputed, Max),
    Sum(Arrested, Confirmed, Min),
    Sum(Arrested, Confirmed, Max),
    Sum(Arrested, Claimed, Min),
    Sum(Arrested, Claimed, Max),
    Sum(Arrested, Disputed, Min),
    Sum(Arrested, Disputed, Max),
    Sum(Missing, Confirmed, Min),
    Sum(Missing, Confirmed, Max),
    Sum(Missing, Claimed, Min),
    Sum(Missing, Claimed, Max),
    Sum(Missing, Disputed, Min),
    Sum(Missing, Disputed, Max),
    Column::ActorsJson,
    Column::CasualtiesJson,
    Column::SourcesJson,
    Column::Version,
    Column::CreatedAt,
    Column::UpdatedAt,
];

impl Column {
    pub fn name(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::Id => "id",
            Self::ExternalId => "external_id",
            Self::Title => "title",
            Self::Summary => "summary",
            Self::Language => "language",
            Self::Type => "type",
            Self::OccurredStart => "occurred_start",
            Self::OccurredEnd => "occurred_end",
            Self::Precision => "precision",
            Self::Timezone => "timezone",
            Self::LocationName => "location_name",
            Self::Admin1 => "admin1",
            Self::CountryCode => "country_code",
            Self::Lat => "lat",
            Self::Lon => "lon",
            Self::Status => "status",
            Self::Tags => "tags",
            Self::Timelines => "timelines",
            Self::Actors => "actors",
            Self::Sources => "sources",
            Self::Casualties(kind, status, bound) => {
                let bound = match bound {
                    SumOf::Min => "min",
                    SumOf::Max => "max",
                };
                return Cow::Owned(format!("{}_{}_{bound}", kind.as_str(), status.as_str()));
            }
            Self::ActorsJson => "actors_json",
            Self::CasualtiesJson => "casualties_json",
            Self::SourcesJson => "sources_json",
            Self::Version => "version",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
        })
    }

    /// The cell of `event` in this column; empty for an absent value.
    pub fn cell(self, event: &Event) -> Result<String, ApiError> {
        let location = event.location.as_ref();
        Ok(match self {
            Self::Id => event.id.to_string(),
            Self::ExternalId => optional(event.external_id.as_ref()),
            Self::Title => event.title.clone(),
            Self::Summary => optional(event.summary.as_ref()),
            Self::Language => optional(event.language.as_ref()),
            Self::Type => event.event_type.to_string(),
            Self::OccurredStart => timestamp(event.occurred_start),
            Self::OccurredEnd => event.occurred_end.map(timestamp).unwrap_or_default(),
            Self::Precision => event.precision.as_str().to_owned(),
            Self::Timezone => optional(event.timezone.as_ref()),
            Self::LocationName => optional(location.map(|l| &l.name)),
            Self::Admin1 => optional(location.and_then(|l| l.admin1.as_ref())),
            Self::CountryCode => optional(location.map(|l| &l.country_code)),
            Self::Lat => optional(location.and_then(|l| l.lat)),
            Self::Lon => optional(location.and_then(|l| l.lon)),
            Self::Status => event.status.as_str().to_owned(),
            Self::Tags => event.tags.join(";"),
            Self::Timelines => joined(event.timelines.iter()),
            Self::Actors => joined(event.actors.iter().map(|a| &a.name)),
            Self::Sources => joined(event.sources.iter().map(|s| &s.url)),
            Self::Casualties(kind, status, bound) => {
                let sum = CasualtySum::of(&event.casualties, kind, status);
                match bound {
                    SumOf::Min => optional(sum.map(|s| s.min)),
                    SumOf::Max => optional(sum.and_then(|s| s.max)),
                }
            }
            Self::ActorsJson => json(&event.actors)?,
            Self::CasualtiesJson => json(&event.casualties)?,
            Self::SourcesJson => json(&event.sources)?,
            Self::Version => event.version.to_string(),
            Self::CreatedAt => timestamp(event.created_at),
            Self::UpdatedAt => timestamp(event.updated_at),
        })
    }
}

/// The sum of an event's figures of one kind and status. Figures of
/// different statuses are never added together. `max` is `None` (unbounded)
/// when any figure has no upper bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CasualtySum {
    pub min: i64,
    pub max: Option<i64>,
}

impl CasualtySum {
    /// `None` when the event has no figure of that kind and status.
    pub fn of(
        figures: &[Casualty],
        kind: CasualtyKind,
        status: CasualtyStatus,
    ) -> Option<CasualtySum> {
        figures
            .iter()
            .filter(|c| c.kind == kind && c.status == status)
            .fold(None, |sum: Option<CasualtySum>, c| {
                let sum = sum.unwrap_or(CasualtySum {
                    min: 0,
                    max: Some(0),
                });
                Some(CasualtySum {
                    min: sum.min.saturating_add(c.min),
                    max: sum.max.zip(c.max).map(|(a, b)| a.saturating_add(b)),
                })
            })
    }
}

pub fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn joined<T: ToString>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(";")
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(ApiError::internal)
}

/// RFC 3339 in UTC, with fractional seconds only when there are any.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(kind: CasualtyKind, min: i64, max: Option<i64>, status: CasualtyStatus) -> Casualty {
        Casualty {
            kind,
            party: "police".into(),
            min,
            max,
            status,
        }
    }

    #[test]
    fn column_names_are_unique_and_casualty_columns_are_named_by_kind_status_bound() {
        let names: Vec<_> = COLUMNS.iter().map(|c| c.name()).collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(names.contains(&Cow::Borrowed("killed_claimed_max")));
        assert_eq!(
            names
                .iter()
                .filter(|n| n.ends_with("_min") || n.ends_with("_max"))
                .count(),
            4 * 3 * 2
        );
    }

    #[test]
    fn sums_keep_statuses_apart_and_unbounded_max_stays_unbounded() {
        let figures = [
            figure(Killed, 8, Some(8), Confirmed),
            figure(Killed, 2, Some(3), Confirmed),
            figure(Killed, 24, None, Claimed),
            figure(Injured, 1, Some(1), Claimed),
        ];
        assert_eq!(
            CasualtySum::of(&figures, Killed, Confirmed),
            Some(CasualtySum {
                min: 10,
                max: Some(11)
            })
        );
        assert_eq!(
            CasualtySum::of(&figures, Killed, Claimed),
            Some(CasualtySum { min: 24, max: None })
        );
        assert_eq!(CasualtySum::of(&figures, Killed, Disputed), None);
        assert_eq!(CasualtySum::of(&[], Missing, Claimed), None);
    }
}
