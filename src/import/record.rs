//! One record of an import: an event as the API would take it, with what
//! an import may add to it (an `id` to keep, when it became known), or what
//! is wrong with it. Every input format ends here.

use chrono::{DateTime, Utc};

use crate::error::{ApiError, FieldError};
use crate::models::event::{EventInput, ValidEventInput};
use crate::models::values::EventId;

/// An event read from the input, with what it carries besides the event.
#[derive(Debug)]
pub struct Parsed {
    pub input: ValidEventInput,
    /// The id the record brings (another Chronik's export): kept for a new
    /// event, so that links to it survive a move; used to match with `mode=upsert`.
    pub id: Option<EventId>,
    /// When the information became public (ACLED's `timestamp`); `None` is now.
    pub known_at: Option<DateTime<Utc>>,
}

/// One record of the input: a valid event or what is wrong with it.
#[derive(Debug)]
pub struct Record {
    /// The (1-based) line the record starts on.
    pub line: u64,
    /// Its size in the input, which its parsed form is in proportion to.
    pub bytes: usize,
    pub parsed: Result<Parsed, Vec<FieldError>>,
}

/// An event from its JSON form, checked as the API checks it.
pub fn parse_event(value: serde_json::Value) -> Result<ValidEventInput, Vec<FieldError>> {
    crate::json::from_value_checked::<EventInput, _>(&value, ValidEventInput::try_from).map_err(
        |err| match err {
            ApiError::Validation(errors) => errors,
            other => vec![FieldError::new("body", other.to_string())],
        },
    )
}

/// A JSON record is an event, optionally with `known_at`: when what it says
/// became public, so that an archive can be loaded with its own history.
/// It may also carry what an export adds to an event (`id`, `version`,
/// `created_at`, `updated_at`), so that an export re-imports: the `id` is
/// kept, the others are the importing store's to assign and are ignored.
pub fn json_record(line: u64, bytes: usize, mut value: serde_json::Value) -> Record {
    let mut errors = Vec::new();
    let known_at = take_known_at(&mut value).unwrap_or_else(|error| {
        errors.push(error);
        None
    });
    let id = take_id(&mut value).unwrap_or_else(|error| {
        errors.push(error);
        None
    });
    drop_assigned_fields(&mut value);
    let parsed = match parse_event(value) {
        Ok(input) if errors.is_empty() => Ok(Parsed {
            input,
            id,
            known_at,
        }),
        Ok(_) => Err(errors),
        Err(mut event_errors) => {
            event_errors.append(&mut errors);
            Err(event_errors)
        }
    };
    Record {
        line,
        bytes,
        parsed,
    }
}

fn take_known_at(value: &mut serde_json::Value) -> Result<Option<DateTime<Utc>>, FieldError> {
    let Some(raw) = value.as_object_mut().and_then(|o| o.remove("known_at")) else {
        return Ok(None);
    };
    raw.as_str()
        .and_then(|t| crate::filter::parse_instant(t).ok())
        .map(Some)
        .ok_or_else(|| FieldError::new("known_at", "must be an RFC 3339 date-time with offset"))
}

/// The record's `id`, if it has one (`null` is none).
fn take_id(value: &mut serde_json::Value) -> Result<Option<EventId>, FieldError> {
    match value.as_object_mut().and_then(|o| o.remove("id")) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => parse_id(&text).map(Some),
        Some(other) => Err(FieldError::new(
            "id",
            format!("must be an event id (a UUID), not {other}"),
        )),
    }
}

/// An event id from an import's `id` field or column.
pub fn parse_id(text: &str) -> Result<EventId, FieldError> {
    text.parse::<EventId>()
        .map_err(|e| FieldError::new("id", format!("{e}; an event id is a UUID")))
}

/// Removes the fields an export carries that the importing store assigns
/// itself (`version`, `created_at`, `updated_at`): whatever they hold, a
/// record's history starts anew in this store.
fn drop_assigned_fields(value: &mut serde_json::Value) {
    if let Some(object) = value.as_object_mut() {
        for key in ASSIGNED_FIELDS {
            object.remove(*key);
        }
    }
}

/// Fields of an exported event that an import ignores.
pub const ASSIGNED_FIELDS: &[&str] = &["version", "created_at", "updated_at"];

/// Maps the rows of one CSV dialect to events.
pub trait CsvColumns: Sized {
    /// Reads the header row; a header that cannot be used fails the import.
    fn from_header(header: &csv::StringRecord) -> Result<Self, FieldError>;
    fn parse(&self, row: &csv::StringRecord) -> Result<Parsed, Vec<FieldError>>;
}
