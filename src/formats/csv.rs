//! CSV (RFC 4180): UTF-8, a header row, CRLF line ends, fields quoted when
//! they contain a comma, a quote or a line break. One row per event, in the
//! fixed column order of [`COLUMNS`] (documented in the README), carrying
//! every writable field, so that an export re-imports without loss.

use chrono::{DateTime, SecondsFormat, Utc};
use std::borrow::Cow;

use super::EventEncoder;
use crate::error::{ApiError, FieldError};
use crate::import::read::{CsvColumns, Parsed, parse_event};
use crate::models::event::{Casualty, CasualtyKind, CasualtyStatus, Event, StoredEvent};
use crate::models::stats::{CasualtyStats, Dimension, Histogram};

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
    fn cell(self, event: &Event) -> Result<String, ApiError> {
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

/// Where a column's cells go when an event CSV is read back.
enum Target {
    /// A top-level field of the event's JSON, as text.
    Field(&'static str),
    /// A field of the event's `location`.
    Location(&'static str),
    /// A `;`-joined list of text.
    List(&'static str),
    /// A field whose exact value is JSON text.
    Json(&'static str),
    /// A `;`-joined list of one field (`name`, `url`) of a list of objects,
    /// read only when the exact `_json` column is missing.
    Plain(&'static str, &'static str),
    /// The event's id: kept on import (see `import::read::Parsed::id`).
    Id,
    /// Not read: the importing store assigns it (`version`, times), or it is
    /// derived from another column (the casualty sums).
    Ignored,
}

impl Column {
    fn target(self) -> Target {
        match self {
            Self::ExternalId => Target::Field("external_id"),
            Self::Title => Target::Field("title"),
            Self::Summary => Target::Field("summary"),
            Self::Language => Target::Field("language"),
            Self::Type => Target::Field("type"),
            Self::OccurredStart => Target::Field("occurred_start"),
            Self::OccurredEnd => Target::Field("occurred_end"),
            Self::Precision => Target::Field("precision"),
            Self::Timezone => Target::Field("timezone"),
            Self::Status => Target::Field("status"),
            Self::LocationName => Target::Location("name"),
            Self::Admin1 => Target::Location("admin1"),
            Self::CountryCode => Target::Location("country_code"),
            Self::Lat => Target::Location("lat"),
            Self::Lon => Target::Location("lon"),
            Self::Tags => Target::List("tags"),
            Self::Timelines => Target::List("timelines"),
            Self::ActorsJson => Target::Json("actors"),
            Self::CasualtiesJson => Target::Json("casualties"),
            Self::SourcesJson => Target::Json("sources"),
            Self::Actors => Target::Plain("actors", "name"),
            Self::Sources => Target::Plain("sources", "url"),
            Self::Id => Target::Id,
            Self::Casualties(..) | Self::Version | Self::CreatedAt | Self::UpdatedAt => {
                Target::Ignored
            }
        }
    }
}

/// The columns of an event CSV being read, in the order of its header. An
/// export re-imports as the events it was made from: every writable field
/// has a column (actors, sources and casualties exactly, as JSON).
pub struct EventColumns {
    columns: Vec<Column>,
    /// Without `actors_json` (`sources_json`), the plain `actors`
    /// (`sources`) list is read instead, as names (URLs) only.
    plain_actors: bool,
    plain_sources: bool,
}

impl CsvColumns for EventColumns {
    fn from_header(header: &::csv::StringRecord) -> Result<Self, FieldError> {
        if crate::import::acled::is_acled_header(header) {
            return Err(FieldError::new(
                "format",
                "this looks like an ACLED export (it has ACLED's columns, such as \
                 `event_id_cnty`): use format=acled (`POST /v1/import?format=acled`, \
                 `chronik import --format acled`)",
            ));
        }
        let mut columns = Vec::new();
        for name in header {
            let column = COLUMNS
                .iter()
                .copied()
                .find(|c| c.name() == name)
                .ok_or_else(|| {
                    FieldError::new(
                        name,
                        format!("unknown column `{name}`; the columns are those of the CSV export"),
                    )
                })?;
            if columns.contains(&column) {
                return Err(FieldError::new(
                    name,
                    format!("column `{name}` appears twice"),
                ));
            }
            columns.push(column);
        }
        Ok(Self {
            plain_actors: !columns.contains(&Column::ActorsJson),
            plain_sources: !columns.contains(&Column::SourcesJson),
            columns,
        })
    }

    fn parse(&self, row: &::csv::StringRecord) -> Result<Parsed, Vec<FieldError>> {
        let mut event = serde_json::Map::new();
        let mut location = serde_json::Map::new();
        let mut errors = Vec::new();
        let mut id = None;
        for (&column, cell) in self.columns.iter().zip(row.iter()) {
            if cell.is_empty() {
                continue;
            }
            if column == Column::Id {
                id = crate::import::read::parse_id(cell)
                    .map_err(|e| errors.push(e))
                    .ok();
            } else {
                self.read(column, cell, &mut event, &mut location, &mut errors);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if !location.is_empty() {
            event.insert("location".into(), location.into());
        }
        let input = parse_event(event.into()).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| FieldError::new(self.column_of(&e.field), e.message))
                .collect::<Vec<_>>()
        })?;
        Ok(Parsed {
            input,
            id,
            known_at: None,
        })
    }
}

impl EventColumns {
    fn read(
        &self,
        column: Column,
        cell: &str,
        event: &mut serde_json::Map<String, serde_json::Value>,
        location: &mut serde_json::Map<String, serde_json::Value>,
        errors: &mut Vec<FieldError>,
    ) {
        let list = |cell: &str| {
            cell.split(';')
                .map(serde_json::Value::from)
                .collect::<Vec<_>>()
        };
        match column.target() {
            Target::Field(key) => {
                event.insert(key.into(), cell.into());
            }
            Target::Location(key @ ("lat" | "lon")) => match cell.parse::<f64>() {
                Ok(degrees) => {
                    location.insert(key.into(), degrees.into());
                }
                Err(_) => errors.push(FieldError::new(
                    column.name(),
                    format!("`{cell}` is not a number"),
                )),
            },
            Target::Location(key) => {
                location.insert(key.into(), cell.into());
            }
            Target::List(key) => {
                event.insert(key.into(), list(cell).into());
            }
            Target::Json(key) => match serde_json::from_str::<serde_json::Value>(cell) {
                Ok(value) => {
                    event.insert(key.into(), value);
                }
                Err(e) => errors.push(FieldError::new(column.name(), format!("not JSON: {e}"))),
            },
            Target::Plain(key, field) => {
                let used = if key == "actors" {
                    self.plain_actors
                } else {
                    self.plain_sources
                };
                if used {
                    let items: Vec<_> = list(cell)
                        .into_iter()
                        .map(|v| serde_json::json!({ field: v }))
                        .collect();
                    event.insert(key.into(), items.into());
                }
            }
            Target::Id | Target::Ignored => {}
        }
    }

    /// The column an error about the JSON field `path` of the event is about.
    fn column_of(&self, path: &str) -> String {
        let (head, rest) = path
            .find(['.', '['])
            .map_or((path, ""), |i| (&path[..i], &path[i..]));
        let location_column =
            |rest: &str| match rest.trim_start_matches('.').split(['.', '[']).next() {
                Some("name") | None | Some("") => "location_name".to_owned(),
                Some(field) => field.to_owned(),
            };
        match head {
            "location" => location_column(rest),
            "actors" if !self.plain_actors => format!("actors_json{rest}"),
            "sources" if !self.plain_sources => format!("sources_json{rest}"),
            "casualties" => format!("casualties_json{rest}"),
            _ => path.to_owned(),
        }
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

fn optional<T: ToString>(value: Option<T>) -> String {
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

/// Writes `rows` as CSV records (no header handling of its own): the one
/// writer configuration every CSV of the API uses.
pub fn records<R, I>(rows: R) -> Result<Vec<u8>, ApiError>
where
    R: IntoIterator<Item = I>,
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for row in rows {
        writer.write_record(row).map_err(ApiError::internal)?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))
}

/// The UTF-8 byte order mark (`bom=true`).
pub const BOM: &[u8] = "\u{feff}".as_bytes();

/// Events as CSV rows.
pub struct EventCsv {
    bom: bool,
}

impl EventCsv {
    pub fn new(bom: bool) -> Self {
        Self { bom }
    }
}

impl EventEncoder for EventCsv {
    fn head(&mut self) -> Vec<u8> {
        let names: Vec<_> = COLUMNS.iter().map(|c| c.name()).collect();
        let mut out = if self.bom { BOM.to_vec() } else { Vec::new() };
        out.extend(records([names.iter().map(|n| n.as_bytes())]).unwrap_or_default());
        out
    }

    fn events(&mut self, events: &[StoredEvent]) -> Result<Vec<u8>, ApiError> {
        let rows = super::parse_stored(events)?
            .iter()
            .map(|event| COLUMNS.iter().map(|column| column.cell(event)).collect())
            .collect::<Result<Vec<Vec<String>>, ApiError>>()?;
        records(rows)
    }
}

/// A histogram as a table: `label,start,end,count`, then one column per type.
pub fn histogram(histogram: &Histogram, bom: bool) -> Result<Vec<u8>, ApiError> {
    let mut header = vec!["label", "start", "end", "count"];
    header.extend(histogram.types.iter().map(String::as_str));
    let rows = histogram.buckets.iter().map(|b| {
        let mut row = vec![
            b.label.clone(),
            b.start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            b.end.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            b.count.to_string(),
        ];
        row.extend(b.by_type.values().map(|n| n.to_string()));
        row
    });
    table(&header, rows, bom)
}

/// Casualty sums as a table: the `group_by` columns, then
/// `kind,status,min_sum,max_sum,figures,unbounded,events`.
pub fn casualties(stats: &CasualtyStats, bom: bool) -> Result<Vec<u8>, ApiError> {
    let dims: Vec<Dimension> = [Dimension::Day, Dimension::Type, Dimension::Party]
        .into_iter()
        .filter(|d| stats.group_by.contains(d))
        .collect();
    let mut header: Vec<&str> = dims
        .iter()
        .map(|d| match d {
            Dimension::Day => "day",
            Dimension::Type => "type",
            _ => "party",
        })
        .collect();
    header.extend([
        "kind",
        "status",
        "min_sum",
        "max_sum",
        "figures",
        "unbounded",
        "events",
    ]);
    let rows = stats.rows.iter().map(|r| {
        let mut row: Vec<String> = dims
            .iter()
            .map(|d| match d {
                Dimension::Day => optional(r.day),
                Dimension::Type => optional(r.event_type.as_ref()),
                _ => optional(r.party.as_ref()),
            })
            .collect();
        row.extend([
            r.kind.as_str().to_owned(),
            r.status.as_str().to_owned(),
            r.min_sum.to_string(),
            optional(r.max_sum),
            r.figures.to_string(),
            r.unbounded.to_string(),
            r.events.to_string(),
        ]);
        row
    });
    table(&header, rows, bom)
}

fn table(
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    bom: bool,
) -> Result<Vec<u8>, ApiError> {
    let mut out = if bom { BOM.to_vec() } else { Vec::new() };
    out.extend(records(
        [header.iter().map(|h| h.to_string()).collect()]
            .into_iter()
            .chain(rows),
    )?);
    Ok(out)
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
