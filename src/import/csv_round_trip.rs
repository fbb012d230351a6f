//! Property: an event exported as CSV (`format=csv`) and imported again is
//! the same event, whatever its text holds (quotes, commas, line breaks,
//! any script), with its id kept.

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::format::InputFormat;
use super::read::{Limits, spawn};
use super::sink::Item;
use crate::formats::EventEncoder as _;
use crate::formats::csv::EventCsv;
use crate::models::event::{
    CasualtyKind, CasualtyStatus, Event, EventInput, EventStatus, Precision, StoredEvent,
    ValidEventInput,
};

/// Text an event may hold: any characters but NUL (which no write accepts),
/// not blank. CSV writes an empty and an absent value alike (docs/formats.md),
/// so optional text is never empty either.
fn text(max: usize) -> impl Strategy<Value = String> {
    let char = any::<char>().prop_map(|c| if c == '\0' { ' ' } else { c });
    proptest::collection::vec(char, 1..max)
        .prop_map(String::from_iter)
        .prop_filter("not blank", |s| !s.trim().is_empty())
}

/// Instants as Postgres keeps them: to the microsecond.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..=253_402_300_799_999_999)
        .prop_map(|micros| DateTime::from_timestamp_micros(micros).unwrap())
}

fn one_of(values: &'static [&'static str]) -> impl Strategy<Value = Value> {
    proptest::sample::select(values).prop_map(Value::from)
}

fn location() -> impl Strategy<Value = Value> {
    let place = proptest::option::of((-90.0..=90.0f64, -180.0..=180.0f64));
    (
        text(40),
        proptest::option::of(text(20)),
        one_of(&["KZ", "DE", "XK", "US"]),
        place,
    )
        .prop_map(|(name, admin1, country_code, place)| {
            json!({"name": name, "admin1": admin1, "country_code": country_code,
                   "lat": place.map(|p| p.0), "lon": place.map(|p| p.1)})
        })
}

fn casualty() -> impl Strategy<Value = Value> {
    (one_of(CasualtyKind::ALL), text(30), 0i64..1_000_000, proptest::option::of(0i64..1_000_000), one_of(CasualtyStatus::ALL))
        .prop_map(|(kind, party, min, extra, status)| {
            json!({"kind": kind, "party": party, "min": min, "max": extra.map(|e| min + e), "status": status})
        })
}

fn source() -> impl Strategy<Value = Value> {
    (
        "https://[a-z]{1,10}\\.example/[a-z0-9/]{0,10}",
        proptest::option::of(text(30)),
        proptest::option::of(instant()),
        proptest::collection::vec(text(20), 0..3),
        proptest::option::of(text(60)),
    )
        .prop_map(|(url, title, published_at, via, quote)| {
            json!({"url": url, "title": title, "publisher": null, "published_at": published_at, "via": via, "quote": quote})
        })
}

/// Actors, each named once (case-insensitively), as the checks require.
fn actors() -> impl Strategy<Value = Value> {
    proptest::collection::vec((text(30), proptest::option::of(text(20))), 0..3).prop_map(|actors| {
        let mut seen = std::collections::HashSet::new();
        let actors: Vec<Value> = actors
            .into_iter()
            .map(|(name, role)| (name.trim().to_owned(), role))
            .filter(|(name, _)| seen.insert(name.to_lowercase()))
            .map(|(name, role)| json!({"name": name, "role": role}))
            .collect();
        Value::from(actors)
    })
}

/// Tags: text without the list separators `,` and `;`.
fn tag() -> impl Strategy<Value = String> {
    text(20).prop_map(|t| t.replace([',', ';'], "_"))
}

/// A valid event, with every field the API takes.
fn event_input() -> impl Strategy<Value = EventInput> {
    let timezones: Vec<&'static str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    (
        (proptest::option::of(text(40)), text(60), proptest::option::of(text(200)), proptest::option::of(one_of(&["en", "de", "en-GB", "kk-Cyrl-KZ"]))),
        ("[a-z][a-z0-9_]{0,20}", instant(), proptest::option::of(0i64..10_000_000_000), one_of(Precision::ALL), proptest::option::of(proptest::sample::select(timezones))),
        (proptest::option::of(location()), actors(), proptest::collection::vec(casualty(), 0..3), proptest::collection::vec(source(), 0..3)),
        (one_of(EventStatus::ALL), proptest::collection::vec(tag(), 0..3), proptest::collection::vec("[a-z0-9][a-z0-9-]{0,20}", 0..3)),
    )
        .prop_map(|((external_id, title, summary, language), (event_type, start, lasted, precision, timezone), (location, actors, casualties, sources), (status, tags, timelines))| {
            let end = lasted.map(|micros| start + chrono::Duration::microseconds(micros));
            json!({
                "external_id": external_id, "title": title, "summary": summary, "language": language,
                "type": event_type, "occurred_start": start, "occurred_end": end, "precision": precision,
                "timezone": timezone, "location": location, "actors": actors, "casualties": casualties,
                "sources": sources, "status": status, "tags": tags, "timelines": timelines,
            })
        })
        .prop_filter_map("a valid event", |json| serde_json::from_value(json).ok())
}

/// The CSV export of one event: the header and its row, as `format=csv` writes them.
fn exported(event: &Event) -> Vec<u8> {
    let mut csv = EventCsv::new(false);
    let stored = StoredEvent::from_stored_json(serde_json::to_string(event).unwrap());
    let mut out = csv.head();
    out.extend(csv.events(&[stored]).unwrap());
    out.extend(csv.tail());
    out
}

fn imported(input: Vec<u8>) -> Vec<Item> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut rx = spawn(
            InputFormat::Csv,
            std::io::Cursor::new(input),
            Limits::default(),
        );
        let mut items = Vec::new();
        while let Some(item) = rx.recv().await {
            items.push(item);
        }
        items
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn an_event_exported_as_csv_imports_as_the_same_event(
        input in event_input(), id in any::<u128>(), created in instant(),
    ) {
        let valid = ValidEventInput::try_from(input.clone());
        prop_assume!(valid.is_ok());
        let mut stored = serde_json::to_value(&input).unwrap();
        let fields = stored.as_object_mut().unwrap();
        fields.insert("id".into(), json!(uuid::Uuid::from_u128(id)));
        fields.insert("version".into(), json!(1));
        fields.insert("created_at".into(), json!(created));
        fields.insert("updated_at".into(), json!(created));
        let event: Event = serde_json::from_value(stored).unwrap();

        let items = imported(exported(&event));

        let [Item::Records(records), Item::End] = items.as_slice() else {
            return Err(TestCaseError::fail(format!("not one record: {items:?}")));
        };
        let [record] = records.as_slice() else {
            return Err(TestCaseError::fail(format!("not one record: {records:?}")));
        };
        let parsed = record.parsed.as_ref().map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert_eq!(&parsed.input, &valid.unwrap());
        prop_assert_eq!(parsed.id, Some(event.id));
    }
}
