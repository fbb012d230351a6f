//! ACLED's CSV export (the Armed Conflict Location & Event Data Project),
//! mapped onto Chronik's fields as the "ACLED mapping" table of docs/import.md
//! documents, so that a researcher can serve an ACLED extract as it is.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;

use super::countries;
use super::record::{CsvColumns, Parsed, parse_event};
use crate::error::FieldError;

/// Columns an ACLED row must have; the others are optional.
const REQUIRED: &[&str] = &[
    "event_id_cnty",
    "event_date",
    "event_type",
    "sub_event_type",
    "actor1",
    "country",
    "iso",
    "location",
];

/// ACLED `sub_event_type` → Chronik event type. Grouped by ACLED `event_type`.
pub const TYPES: &[(&str, &str)] = &[
    // Battles
    ("Armed clash", "armed_clash"),
    ("Government regains territory", "armed_clash"),
    ("Non-state actor overtakes territory", "armed_clash"),
    // Explosions/Remote violence
    ("Chemical weapon", "armed_clash"),
    ("Air/drone strike", "armed_clash"),
    ("Suicide bomb", "armed_clash"),
    ("Shelling/artillery/missile attack", "armed_clash"),
    ("Remote explosive/landmine/IED", "armed_clash"),
    ("Grenade", "armed_clash"),
    // Violence against civilians
    ("Sexual violence", "casualties"),
    ("Attack", "casualties"),
    ("Abduction/forced disappearance", "casualties"),
    // Protests
    ("Peaceful protest", "protest"),
    ("Protest with intervention", "protest"),
    ("Excessive force against protesters", "protest"),
    // Riots
    ("Violent demonstration", "riot"),
    ("Mob violence", "riot"),
    // Strategic developments
    ("Agreement", "diplomatic_action"),
    ("Arrests", "arrest"),
    ("Change to group/activity", "official_statement"),
    ("Disrupted weapons use", "military_deployment"),
    ("Headquarters or base established", "military_deployment"),
    ("Looting/property destruction", "looting"),
    ("Non-violent transfer of territory", "military_deployment"),
    ("Other", "official_statement"),
];

/// ACLED's numeric actor categories (`inter1`, `inter2`); newer exports write the names.
const INTER: &[(&str, &str)] = &[
    ("1", "State forces"),
    ("2", "Rebel groups"),
    ("3", "Political militias"),
    ("4", "Identity militias"),
    ("5", "Rioters"),
    ("6", "Protesters"),
    ("7", "Civilians"),
    ("8", "External/Other forces"),
];

/// Whether a CSV header is ACLED's: it has ACLED's id and date columns,
/// which no Chronik export has. Told apart so that an ACLED file sent as
/// Chronik's CSV is named for what it is, not by its first unknown column.
pub fn is_acled_header(header: &csv::StringRecord) -> bool {
    let has = |name: &str| header.iter().any(|h| h.trim().eq_ignore_ascii_case(name));
    has("event_id_cnty") && has("event_date")
}

/// The one source record every ACLED event cites; ACLED's own sources
/// (names, not URLs) are what it relays (`via`).
const ACLED_URL: &str = "https://acleddata.com/";

/// An ACLED header: where each column is.
pub struct AcledColumns {
    index: HashMap<String, usize>,
}

impl CsvColumns for AcledColumns {
    fn from_header(header: &csv::StringRecord) -> Result<Self, FieldError> {
        let index: HashMap<String, usize> = header
            .iter()
            .enumerate()
            .map(|(i, name)| (name.trim().to_ascii_lowercase(), i))
            .collect();
        let missing: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|c| !index.contains_key(*c))
            .collect();
        match missing.first() {
            None => Ok(Self { index }),
            Some(first) => Err(FieldError::new(
                *first,
                format!(
                    "not an ACLED export: missing column(s) {}",
                    missing.join(", ")
                ),
            )),
        }
    }

    fn parse(&self, row: &csv::StringRecord) -> Result<Parsed, Vec<FieldError>> {
        let row = Row { columns: self, row };
        let mut errors = Vec::new();
        let when = row.when().map_err(|e| errors.push(e)).ok();
        let event_type = row.event_type().map_err(|e| errors.push(e)).ok();
        let location = row.location().map_err(|e| errors.push(e)).ok();
        let casualties = row.casualties().map_err(|e| errors.push(e)).ok();
        let known_at = row.known_at().map_err(|e| errors.push(e)).ok().flatten();
        let (Some(when), Some(event_type), Some(location), Some(casualties)) =
            (when, event_type, location, casualties)
        else {
            return Err(errors);
        };
        let mut event = json!({
            "external_id": row.get("event_id_cnty"),
            "title": row.title(),
            "summary": row.optional("notes"),
            "language": "en",
            "type": event_type,
            "occurred_start": when.start.to_rfc3339(),
            "occurred_end": when.end.map(|e| e.to_rfc3339()),
            "precision": when.precision,
            "location": location,
            "actors": row.actors(),
            "casualties": casualties,
            "sources": row.sources(),
            "tags": row.tags(),
        });
        if row.get("event_id_cnty").is_empty()
            && let Some(map) = event.as_object_mut()
        {
            map.remove("external_id");
        }
        let input = parse_event(event)?;
        Ok(Parsed {
            input,
            id: None,
            known_at,
        })
    }
}

struct Row<'a> {
    columns: &'a AcledColumns,
    row: &'a csv::StringRecord,
}

/// When an ACLED event happened, as Chronik states it.
struct When {
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
    precision: &'static str,
}

impl Row<'_> {
    fn get(&self, column: &str) -> &str {
        self.columns
            .index
            .get(column)
            .and_then(|&i| self.row.get(i))
            .map_or("", str::trim)
    }

    fn optional(&self, column: &str) -> Option<&str> {
        Some(self.get(column)).filter(|v| !v.is_empty())
    }

    /// `event_date` is a day; `time_precision` 2 means "some day of that
    /// week" (ACLED records the middle day), 3 "some day of that month".
    fn when(&self) -> Result<When, FieldError> {
        let raw = self.get("event_date");
        let date = ["%Y-%m-%d", "%d %B %Y", "%d-%B-%Y", "%d/%m/%Y"]
            .iter()
            .find_map(|format| NaiveDate::parse_from_str(raw, format).ok())
            .ok_or_else(|| {
                FieldError::new(
                    "event_date",
                    format!("`{raw}` is not a date such as 2022-01-05"),
                )
            })?;
        let day = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let invalid = || FieldError::new("event_date", format!("`{raw}` is out of range"));
        match self.get("time_precision") {
            "" | "1" => Ok(When {
                start: day(date).ok_or_else(invalid)?,
                end: None,
                precision: "day",
            }),
            "2" => Ok(When {
                // Checked: a date within three days of the ends of what
                // chrono holds would overflow (found by a property test).
                start: date
                    .checked_sub_days(Days::new(3))
                    .and_then(day)
                    .ok_or_else(invalid)?,
                end: Some(
                    date.checked_add_days(Days::new(3))
                        .and_then(day)
                        .ok_or_else(invalid)?,
                ),
                precision: "day",
            }),
            "3" => Ok(When {
                start: day(date.with_day(1).ok_or_else(invalid)?).ok_or_else(invalid)?,
                end: None,
                precision: "month",
            }),
            other => Err(FieldError::new(
                "time_precision",
                format!("`{other}` is not 1 (day), 2 (week) or 3 (month)"),
            )),
        }
    }

    fn event_type(&self) -> Result<&'static str, FieldError> {
        let sub = self.get("sub_event_type");
        TYPES
            .iter()
            .find(|(acled, _)| acled.eq_ignore_ascii_case(sub))
            .map(|(_, chronik)| *chronik)
            .ok_or_else(|| {
                FieldError::new(
                    "sub_event_type",
                    format!(
                        "ACLED sub_event_type `{sub}` has no Chronik event type; known: {}",
                        TYPES.iter().map(|(a, _)| *a).collect::<Vec<_>>().join(", ")
                    ),
                )
            })
    }

    fn title(&self) -> String {
        let place = self
            .optional("location")
            .or(self.optional("country"))
            .unwrap_or("an unknown place");
        let title = format!("{} in {place}", self.get("sub_event_type"));
        title.chars().take(300).collect()
    }

    fn location(&self) -> Result<Value, FieldError> {
        let iso = self.get("iso");
        let country = iso
            .parse::<u16>()
            .ok()
            .and_then(countries::alpha2)
            .ok_or_else(|| {
                FieldError::new(
                    "iso",
                    format!("`{iso}` is not an ISO 3166-1 numeric country code"),
                )
            })?;
        let degrees = |column: &str| -> Result<Option<f64>, FieldError> {
            self.optional(column)
                .map(|raw| {
                    raw.parse::<f64>()
                        .map_err(|_| FieldError::new(column, format!("`{raw}` is not a number")))
                })
                .transpose()
        };
        Ok(json!({
            "name": self.optional("location").or(self.optional("country")),
            "admin1": self.optional("admin1"),
            "country_code": country,
            "lat": degrees("latitude")?,
            "lon": degrees("longitude")?,
        }))
    }

    /// Actor 1 and 2 with their associated actors, each named once.
    fn actors(&self) -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        let mut actors = Vec::new();
        for side in ["1", "2"] {
            let category = self.get(&format!("inter{side}"));
            let category = INTER
                .iter()
                .find(|(code, _)| *code == category)
                .map_or(category, |(_, name)| *name);
            let role = if category.is_empty() {
                format!("actor {side}")
            } else {
                format!("actor {side} ({category})")
            };
            let main = self.optional(&format!("actor{side}")).map(|a| (a, role));
            let associated = self
                .get(&format!("assoc_actor_{side}"))
                .split(';')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| (a, format!("associated with actor {side}")));
            for (name, role) in main.into_iter().chain(associated) {
                if seen.insert(name.to_lowercase()) {
                    actors.push(json!({"name": name, "role": role}));
                }
            }
        }
        actors
    }

    /// `fatalities` is ACLED's most conservative reported estimate, not a
    /// verified count: one `claimed` figure of killed, party unknown.
    fn casualties(&self) -> Result<Vec<Value>, FieldError> {
        let raw = self.get("fatalities");
        let killed: u32 = if raw.is_empty() {
            0
        } else {
            raw.parse().map_err(|_| {
                FieldError::new("fatalities", format!("`{raw}` is not a whole number >= 0"))
            })?
        };
        Ok(if killed == 0 {
            Vec::new()
        } else {
            vec![
                json!({"kind": "killed", "party": "unknown", "min": killed, "max": killed, "status": "claimed"}),
            ]
        })
    }

    fn sources(&self) -> Vec<Value> {
        let via: Vec<&str> = self
            .get("source")
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        vec![json!({"url": ACLED_URL, "title": "ACLED", "publisher": "ACLED", "via": via})]
    }

    /// `acled`, the disorder type(s) and `civilian-targeting`, as slugs.
    fn tags(&self) -> Vec<String> {
        let slug = |s: &str| {
            s.trim()
                .to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join("-")
        };
        let mut tags = vec!["acled".to_owned()];
        tags.extend(
            self.get("disorder_type")
                .split(';')
                .map(slug)
                .filter(|t| !t.is_empty()),
        );
        if !self.get("civilian_targeting").is_empty() {
            tags.push("civilian-targeting".into());
        }
        tags
    }

    /// `timestamp`: when ACLED last changed the row (Unix seconds).
    fn known_at(&self) -> Result<Option<DateTime<Utc>>, FieldError> {
        self.optional("timestamp")
            .map(|raw| {
                raw.parse::<i64>()
                    .ok()
                    .and_then(|secs| DateTime::from_timestamp(secs, 0))
                    .ok_or_else(|| {
                        FieldError::new(
                            "timestamp",
                            format!("`{raw}` is not a Unix time in seconds"),
                        )
                    })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::values::EventTypeSlug;

    fn when(event_date: &str, time_precision: &str) -> Result<When, FieldError> {
        let columns = AcledColumns {
            index: HashMap::from([("event_date".into(), 0), ("time_precision".into(), 1)]),
        };
        let row = csv::StringRecord::from(vec![event_date, time_precision]);
        Row {
            columns: &columns,
            row: &row,
        }
        .when()
    }

    #[test]
    fn a_week_at_the_ends_of_the_calendar_is_an_error_not_a_panic() {
        for date in ["+262142-12-29", "-262143-01-02"] {
            let error = when(date, "2").err().expect(date);
            assert_eq!(error.field, "event_date");
        }
    }

    #[test]
    fn a_week_is_the_three_days_either_side() {
        let week = when("2022-01-05", "2").unwrap();
        assert_eq!(week.start.to_rfc3339(), "2022-01-02T00:00:00+00:00");
        assert_eq!(week.end.unwrap().to_rfc3339(), "2022-01-08T00:00:00+00:00");
    }

    #[test]
    fn every_mapped_type_is_a_valid_slug() {
        for (acled, chronik) in TYPES {
            assert!(
                chronik.parse::<EventTypeSlug>().is_ok(),
                "{acled} → {chronik}"
            );
        }
    }
}
