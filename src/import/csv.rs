//! Reading the event CSV that `GET /v1/events?format=csv` writes: each
//! column goes back to the field it was written from.

use super::record::{CsvColumns, Parsed, parse_event, parse_id};
use crate::error::FieldError;
use crate::formats::columns::{COLUMNS, Column};

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
    /// The event's id: kept on import (see `import::record::Parsed::id`).
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
        if super::acled::is_acled_header(header) {
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
                id = parse_id(cell).map_err(|e| errors.push(e)).ok();
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
