//! The event as it crosses the API: what clients send and what they get back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::values::{
    ActorName, CountryCode, EventId, EventTypeSlug, ExternalId, LanguageTag, SourceUrl, Tag,
    TimeZoneName, TimelineSlug, Title,
};
use crate::error::FieldError;

/// How precisely the event's time is known. Both `occurred_start` and
/// `occurred_end` are meaningful only down to this unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    Year,
    Month,
    #[default]
    Day,
    Hour,
    Minute,
    Second,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    #[default]
    Reported,
    Confirmed,
    Disputed,
    Retracted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CasualtyKind {
    Killed,
    Injured,
    Arrested,
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CasualtyStatus {
    #[default]
    Claimed,
    Confirmed,
    Disputed,
}

/// Generates `as_str` and `FromStr` from the serde names, so the database
/// stores exactly the strings the API shows.
macro_rules! text_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("`{other}` is not one of: {}", Self::ALL.join(", "))),
                }
            }
        }
    };
}

text_enum!(Precision { Year => "year", Month => "month", Day => "day", Hour => "hour", Minute => "minute", Second => "second" });
text_enum!(EventStatus { Reported => "reported", Confirmed => "confirmed", Disputed => "disputed", Retracted => "retracted" });
text_enum!(CasualtyKind { Killed => "killed", Injured => "injured", Arrested => "arrested", Missing => "missing" });
text_enum!(CasualtyStatus { Claimed => "claimed", Confirmed => "confirmed", Disputed => "disputed" });

/// Where the event happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Almaty", "admin1": "Almaty", "country_code": "KZ", "lat": 43.2389, "lon": 76.8897}))]
pub struct Location {
    /// Place name as reported (city, square, region).
    #[schema(example = "Almaty")]
    pub name: String,
    /// First-level administrative division (region, province, state).
    #[serde(default)]
    pub admin1: Option<String>,
    pub country_code: CountryCode,
    /// Latitude in degrees, -90..=90. Given together with `lon`.
    #[serde(default)]
    #[schema(minimum = -90.0, maximum = 90.0)]
    pub lat: Option<f64>,
    /// Longitude in degrees, -180..=180. Given together with `lat`.
    #[serde(default)]
    #[schema(minimum = -180.0, maximum = 180.0)]
    pub lon: Option<f64>,
}

/// A person, organization or state involved in the event, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Saltanat Azirbek", "role": "police spokesperson"}))]
pub struct ActorRole {
    pub name: ActorName,
    /// The actor's part in this event, free text (`deploying state`, `police spokesperson`).
    #[serde(default)]
    pub role: Option<String>,
}

/// A casualty figure as reported. Vague numbers keep their vagueness:
/// "dozens" is `min: 24, max: null`, "eight" is `min: 8, max: 8`.
/// **A figure with only `min` means "at least `min`"**: leaving out `max` stores
/// `max: null` (no upper bound), not `max = min`. For an exact number give both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "killed", "party": "protesters", "min": 24, "max": null, "status": "claimed"}))]
pub struct Casualty {
    pub kind: CasualtyKind,
    /// Who the casualties were: `protesters`, `police`, `military`, `security_forces`, `civilians`, `unknown`, …
    #[serde(default = "unknown_party")]
    #[schema(
        example = "protesters",
        min_length = 1,
        max_length = 100,
        pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub party: String,
    /// Lower bound (inclusive). Alone, without `max`, it means "at least `min`".
    #[schema(minimum = 0, example = 24)]
    pub min: i64,
    /// Upper bound (inclusive); `null` when the report gives none ("at least eight").
    /// Left out, it is `null`: the figure is unbounded above, not exact. An exact
    /// figure ("eight") repeats the number: `min: 8, max: 8`.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub max: Option<i64>,
    #[serde(default)]
    pub status: CasualtyStatus,
}

fn unknown_party() -> String {
    "unknown".into()
}

/// A citation: the article, and within it the agencies relayed and the quoted claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://www.example.org/news/kazakhstan-live",
    "title": "Aufstand in Kasachstan",
    "publisher": "Example News",
    "published_at": "2022-01-06T09:00:00Z",
    "via": ["Interfax-Kazakhstan", "TASS", "RIA Novosti"],
    "quote": "Dutzende Angreifer seien \"eliminiert\" worden."
}))]
pub struct Source {
    /// Identifies the source: citations with the same URL share one source record, while each
    /// citation keeps the title, publisher and date it was written with.
    pub url: SourceUrl,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub publisher: Option<String>,
    #[serde(default, deserialize_with = "super::rfc3339_opt")]
    pub published_at: Option<DateTime<Utc>>,
    /// Agencies or channels the publisher attributes the information to.
    #[serde(default)]
    pub via: Vec<String>,
    /// The claim as quoted in the source.
    #[serde(default)]
    pub quote: Option<String>,
}

/// The writable fields of an event: the body of `POST` and `PUT`, and what a
/// `PATCH` merge patch applies to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "external_id": "kz-2022-almaty-deaths-night",
    "title": "Dozens of protesters killed in Almaty, police say",
    "summary": "Police spokesperson Saltanat Azirbek told agencies that dozens of attackers were \"eliminated\".",
    "language": "en",
    "type": "casualties",
    "occurred_start": "2022-01-05T18:00:00+06:00",
    "occurred_end": "2022-01-06T06:00:00+06:00",
    "precision": "hour",
    "timezone": "Asia/Almaty",
    "location": {"name": "Almaty", "country_code": "KZ", "lat": 43.2389, "lon": 76.8897},
    "actors": [{"name": "Almaty police", "role": "perpetrator"}],
    "casualties": [{"kind": "killed", "party": "protesters", "min": 24, "max": null, "status": "claimed"}],
    "sources": [{"url": "https://www.example.org/news/kazakhstan-live", "via": ["TASS"], "quote": "Dutzende Angreifer seien \"eliminiert\" worden."}],
    "status": "reported",
    "tags": ["almaty"],
    "timelines": ["kazakhstan-2022-unrest"]
}))]
pub struct EventInput {
    #[serde(default)]
    pub external_id: Option<ExternalId>,
    pub title: Title,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub language: Option<LanguageTag>,
    #[serde(rename = "type")]
    pub event_type: EventTypeSlug,
    /// RFC 3339 date-time with an offset.
    #[serde(deserialize_with = "super::rfc3339")]
    pub occurred_start: DateTime<Utc>,
    /// End of the interval (inclusive), when the event lasted or its time is known only as a span.
    #[serde(default, deserialize_with = "super::rfc3339_opt")]
    pub occurred_end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub precision: Precision,
    #[serde(default)]
    pub timezone: Option<TimeZoneName>,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub actors: Vec<ActorRole>,
    #[serde(default)]
    pub casualties: Vec<Casualty>,
    #[serde(default)]
    pub sources: Vec<Source>,
    #[serde(default)]
    pub status: EventStatus,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub timelines: Vec<TimelineSlug>,
}

/// An [`EventInput`] that passed [`EventInput::check`]: the only input the
/// store's writes take, so no caller can forget the check.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEventInput(EventInput);

impl TryFrom<EventInput> for ValidEventInput {
    type Error = Vec<FieldError>;

    fn try_from(input: EventInput) -> Result<Self, Self::Error> {
        input.check()?;
        Ok(Self(input))
    }
}

impl std::ops::Deref for ValidEventInput {
    type Target = EventInput;

    fn deref(&self) -> &EventInput {
        &self.0
    }
}

impl EventInput {
    /// Checks that need more than one field. References to other resources
    /// (types, timelines) are checked by the store.
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self
            .occurred_end
            .is_some_and(|end| end < self.occurred_start)
        {
            errors.push(FieldError::new(
                "occurred_end",
                "must not be before occurred_start",
            ));
        }
        if let Some(location) = &self.location {
            check_location(location, &mut errors);
        }
        for (i, c) in self.casualties.iter().enumerate() {
            if c.min < 0 {
                errors.push(FieldError::new(
                    format!("casualties[{i}].min"),
                    "must be >= 0",
                ));
            }
            if c.max.is_some_and(|max| max < c.min) {
                errors.push(FieldError::new(
                    format!("casualties[{i}].max"),
                    "must be >= min",
                ));
            }
            if c.party.trim().is_empty() || c.party.chars().count() > 100 {
                errors.push(FieldError::new(
                    format!("casualties[{i}].party"),
                    "must be 1 to 100 characters",
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, actor) in self.actors.iter().enumerate() {
            if !seen.insert(actor.name.as_str().to_lowercase()) {
                errors.push(FieldError::new(
                    format!("actors[{i}].name"),
                    "actor listed twice (names match case-insensitively)",
                ));
            }
        }
        if self.actors.len() > 100 || self.sources.len() > 100 || self.casualties.len() > 100 {
            errors.push(FieldError::new(
                "body",
                "at most 100 actors, sources and casualty figures per event",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn check_location(location: &Location, errors: &mut Vec<FieldError>) {
    if location.name.trim().is_empty() {
        errors.push(FieldError::new("location.name", "must not be empty"));
    }
    match (location.lat, location.lon) {
        (Some(lat), Some(lon)) => {
            if !(-90.0..=90.0).contains(&lat) {
                errors.push(FieldError::new(
                    "location.lat",
                    "must be between -90 and 90",
                ));
            }
            if !(-180.0..=180.0).contains(&lon) {
                errors.push(FieldError::new(
                    "location.lon",
                    "must be between -180 and 180",
                ));
            }
        }
        (None, None) => {}
        (Some(_), None) => errors.push(FieldError::new("location.lon", "lat and lon go together")),
        (None, Some(_)) => errors.push(FieldError::new("location.lat", "lat and lon go together")),
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01",
    "external_id": "kz-2022-almaty-deaths-night",
    "title": "Dozens of protesters killed in Almaty, police say",
    "summary": null,
    "language": "en",
    "type": "casualties",
    "occurred_start": "2022-01-05T12:00:00Z",
    "occurred_end": "2022-01-06T00:00:00Z",
    "precision": "hour",
    "timezone": "Asia/Almaty",
    "location": {"name": "Almaty", "admin1": null, "country_code": "KZ", "lat": 43.2389, "lon": 76.8897},
    "actors": [{"name": "Almaty police", "role": "perpetrator"}],
    "casualties": [{"kind": "killed", "party": "protesters", "min": 24, "max": null, "status": "claimed"}],
    "sources": [{"url": "https://www.example.org/news/kazakhstan-live", "title": null, "publisher": null, "published_at": null, "via": ["TASS"], "quote": null}],
    "status": "reported",
    "tags": ["almaty"],
    "timelines": ["kazakhstan-2022-unrest"],
    "version": 1,
    "created_at": "2026-11-24T10:00:00Z",
    "updated_at": "2026-11-24T10:00:00Z"
}))]
pub struct Event {
    pub id: EventId,
    pub external_id: Option<ExternalId>,
    pub title: String,
    pub summary: Option<String>,
    pub language: Option<String>,
    #[serde(rename = "type")]
    pub event_type: EventTypeSlug,
    pub occurred_start: DateTime<Utc>,
    pub occurred_end: Option<DateTime<Utc>>,
    pub precision: Precision,
    pub timezone: Option<String>,
    pub location: Option<Location>,
    pub actors: Vec<ActorRole>,
    pub casualties: Vec<Casualty>,
    pub sources: Vec<Source>,
    pub status: EventStatus,
    pub tags: Vec<String>,
    /// Slugs of the timelines the event belongs to.
    pub timelines: Vec<TimelineSlug>,
    /// Starts at 1 and grows by one with every change; also the `ETag`.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Keys of an event's JSON that are not writable.
pub const READ_ONLY_FIELDS: &[&str] = &["id", "version", "created_at", "updated_at"];

impl Event {
    /// The event's writable fields as JSON: what a merge patch is applied to.
    pub fn writable_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            for key in READ_ONLY_FIELDS {
                map.remove(*key);
            }
        }
        value
    }
}

/// One page of events.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub data: Vec<Event>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Only on an empty page: the free-text filters (`actor`, `tag`) whose
    /// value names nothing in the store, so that a typo is told apart from
    /// an empty result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<PageMeta>,
    /// Only with `count=`: how many events match in all, on every page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Total>,
}

/// The number of all matching events (`count=exact` or `count=estimated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"value": 1234, "estimated": false}))]
pub struct Total {
    pub value: i64,
    /// `true` for `count=estimated`: the planner's guess, which may be far off.
    pub estimated: bool,
}

/// What a page says besides its events and cursor.
#[derive(Debug, Default)]
pub struct PageExtras {
    pub meta: Option<PageMeta>,
    pub total: Option<Total>,
}

/// What Chronik can say about an empty page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"unmatched": [{"field": "actor", "value": "Tokaev", "message": "no actor has this name"}]}))]
pub struct PageMeta {
    pub unmatched: Vec<Unmatched>,
}

/// A filter value that matches nothing anywhere in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Unmatched {
    /// The query parameter.
    pub field: String,
    pub value: String,
    pub message: String,
}

/// An event as the store returns it: the JSON text of its snapshot, served
/// as is. Lists, single reads and NDJSON write this text through untouched;
/// only formats that reshape an event (CSV, GeoJSON, TimelineJS) parse it.
/// Decoding each snapshot into an `Event` and encoding it again was most of
/// Chronik's own cost per page (bench/README.md, "Design choices measured").
///
/// The text is what [`Event`] serialized to when the revision was written
/// (kept as `json`, byte for byte). Snapshots stored before the
/// `json_snapshots` migration have the same fields and values with keys in
/// `jsonb`'s order (shorter keys first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    json: String,
}

impl StoredEvent {
    /// Wraps JSON text the store produced from an [`Event`] snapshot.
    pub fn from_stored_json(json: String) -> Self {
        Self { json }
    }

    pub fn json(&self) -> &str {
        &self.json
    }

    pub fn into_json(self) -> String {
        self.json
    }

    pub fn to_event(&self) -> Result<Event, serde_json::Error> {
        serde_json::from_str(&self.json)
    }
}

/// Writes `{"data":[<event>,…],"next_cursor":…}` (an [`EventPage`]) with each
/// event's stored JSON copied in, not re-encoded.
pub fn write_event_page(
    events: &[StoredEvent],
    next_cursor: Option<&str>,
    extras: &PageExtras,
) -> Vec<u8> {
    let size: usize = events.iter().map(|e| e.json.len() + 1).sum();
    let mut out = Vec::with_capacity(size + 64);
    out.extend_from_slice(b"{\"data\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(event.json.as_bytes());
    }
    out.extend_from_slice(b"],\"next_cursor\":");
    // Writing a string (or null) into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &next_cursor);
    if let Some(meta) = &extras.meta {
        out.extend_from_slice(b",\"meta\":");
        let _ = serde_json::to_writer(&mut out, meta);
    }
    if let Some(total) = &extras.total {
        out.extend_from_slice(b",\"total\":");
        let _ = serde_json::to_writer(&mut out, total);
    }
    out.push(b'}');
    out
}
