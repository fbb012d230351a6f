//! Properties of the import readers, over generated input: whatever bytes
//! come in, in any of the four formats, reading ends in records and errors,
//! never a panic; and an event exported as CSV imports as the same event.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::format::InputFormat;
use super::read::{Limits, spawn};
use super::sink::Item;
use crate::filter::properties::client_text;

/// Every item the reader hands on for `input`. A reader that panicked ends
/// without [`Item::End`] or [`Item::Fatal`]: the channel just closes.
fn read_all(format: InputFormat, input: Vec<u8>) -> Vec<Item> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut items = Vec::new();
        let mut rx = spawn(
            format,
            std::io::Cursor::new(input),
            Limits { record_bytes: 4096 },
        );
        while let Some(item) = rx.recv().await {
            items.push(item);
        }
        items
    })
}

/// Asserts that reading came to an end of its own: the input's or an error's.
fn ended(items: &[Item]) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(items.last(), Some(Item::End | Item::Fatal(_))),
        "reading broke off (a panic?): {:?}",
        items.last()
    );
    Ok(())
}

fn records(items: &[Item]) -> usize {
    items
        .iter()
        .map(|item| match item {
            Item::Records(records) => records.len(),
            _ => 0,
        })
        .sum()
}

fn format() -> impl Strategy<Value = InputFormat> {
    prop_oneof![
        Just(InputFormat::Ndjson),
        Just(InputFormat::Json),
        Just(InputFormat::Csv),
        Just(InputFormat::Acled),
    ]
}

/// Any JSON scalar.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        client_text().prop_map(Value::from),
    ]
}

fn instant_text() -> impl Strategy<Value = Value> {
    prop_oneof![
        "(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9])T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-][01][0-9]:[0-5][0-9])",
        client_text(),
    ]
    .prop_map(Value::from)
}

/// A value for one field of an event: close to what it takes, or anything.
fn field_value(key: &'static str) -> BoxedStrategy<Value> {
    let list =
        |item: BoxedStrategy<Value>| proptest::collection::vec(item, 0..3).prop_map(Value::from);
    let plausible = match key {
        "type" => prop_oneof![Just(json!("protest")), "[a-z_]{1,12}".prop_map(Value::from)].boxed(),
        "occurred_start" | "occurred_end" | "known_at" => instant_text().boxed(),
        "location" => (client_text(), "[A-Z]{2}|KZ", any::<f64>(), -200.0..200.0f64)
            .prop_map(|(name, cc, lat, lon)| json!({"name": name, "country_code": cc, "lat": lat, "lon": lon}))
            .boxed(),
        "casualties" => list(
            (leaf(), client_text(), any::<i64>(), proptest::option::of(any::<i64>()), "claimed|confirmed|disputed|x")
                .prop_map(|(kind, party, min, max, status)| {
                    json!({"kind": kind, "party": party, "min": min, "max": max, "status": status})
                })
                .boxed(),
        )
        .boxed(),
        "actors" => list((client_text(), leaf()).prop_map(|(name, role)| json!({"name": name, "role": role})).boxed()).boxed(),
        "sources" => list(
            (prop_oneof!["https://[a-z]{1,8}\\.example/[a-z]{0,5}", client_text()], instant_text(), leaf())
                .prop_map(|(url, at, via)| json!({"url": url, "published_at": at, "via": [via]}))
                .boxed(),
        )
        .boxed(),
        "tags" | "timelines" => list(client_text().prop_map(Value::from).boxed()).boxed(),
        "id" => prop_oneof![any::<u128>().prop_map(|n| json!(uuid::Uuid::from_u128(n))), client_text().prop_map(Value::from)].boxed(),
        _ => client_text().prop_map(Value::from).boxed(),
    };
    prop_oneof![3 => plausible, 1 => leaf()].boxed()
}

const EVENT_KEYS: &[&str] = &[
    "title",
    "type",
    "occurred_start",
    "occurred_end",
    "precision",
    "timezone",
    "location",
    "casualties",
    "actors",
    "sources",
    "tags",
    "timelines",
    "summary",
    "language",
    "status",
    "external_id",
    "id",
    "known_at",
    "version",
    "created_at",
    "updated_at",
    "unknown_field",
];

/// A JSON record: mostly the fields of an event, with values near and far from valid.
fn event_json() -> impl Strategy<Value = Value> {
    let fields: Vec<_> = EVENT_KEYS
        .iter()
        .map(|&key| proptest::option::weighted(0.6, field_value(key)).prop_map(move |v| (key, v)))
        .collect();
    let object = fields.prop_map(|fields| {
        Value::Object(
            fields
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_owned(), value?)))
                .collect(),
        )
    });
    prop_oneof![8 => object, 1 => leaf(), 1 => proptest::collection::vec(leaf(), 0..3).prop_map(Value::from)]
}

/// A CSV cell: text, a number, a date, JSON text or a list.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        client_text(),
        any::<f64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        instant_text().prop_map(|v| v.as_str().map(str::to_owned).unwrap_or_default()),
        event_json().prop_map(|v| v.to_string()),
        "[a-z;]{0,12}",
    ]
}

/// A CSV document: a header of `names` (some of them, in any order, maybe
/// with strangers) and rows of cells, written by a CSV writer.
fn csv_document(names: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    let header = proptest::sample::subsequence(names.clone(), 0..=names.len())
        .prop_shuffle()
        .prop_flat_map(|header| {
            let width = header.len();
            let extra = proptest::option::weighted(0.1, "[a-z_]{1,8}");
            let rows = proptest::collection::vec(
                proptest::collection::vec(cell(), width..=width + 1),
                0..4,
            );
            (Just(header), extra, rows)
        });
    header.prop_map(|(mut header, extra, rows)| {
        header.extend(extra);
        let mut writer = ::csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        let _ = writer.write_record(&header);
        for row in rows {
            let _ = writer.write_record(&row);
        }
        writer.into_inner().unwrap_or_default()
    })
}

fn event_csv_names() -> Vec<String> {
    crate::formats::columns::COLUMNS
        .iter()
        .map(|c| c.name().into_owned())
        .collect()
}

const ACLED_NAMES: &[&str] = &[
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "civilian_targeting",
    "iso",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "tags",
    "timestamp",
];

/// An ACLED row: each column near what ACLED writes there, or anything.
fn acled_document() -> impl Strategy<Value = Vec<u8>> {
    let value = |name: &str| -> BoxedStrategy<String> {
        let plausible = match name {
            // Every date format ACLED writes, and the ends of what chrono can hold.
            "event_date" => prop_oneof![
                "[0-9]{4}-[01][0-9]-[0-3][0-9]",
                "[0-3][0-9] (January|February|December) [0-9]{4}",
                "[0-3][0-9]/[01][0-9]/[0-9]{4}",
                "[+-]26214[0-9]-(01|12)-(0[1-4]|2[89]|3[01])",
            ]
            .boxed(),
            "time_precision" => "[0-4]?".boxed(),
            "sub_event_type" => prop_oneof![
                proptest::sample::select(
                    super::acled::TYPES
                        .iter()
                        .map(|(t, _)| (*t).to_owned())
                        .collect::<Vec<_>>()
                ),
                client_text(),
            ]
            .boxed(),
            "iso" | "fatalities" | "inter1" | "inter2" => "-?[0-9]{0,4}".boxed(),
            "latitude" | "longitude" => any::<f64>().prop_map(|n| n.to_string()).boxed(),
            "timestamp" => "-?[0-9]{0,20}".boxed(),
            _ => client_text().boxed(),
        };
        prop_oneof![4 => plausible, 1 => cell()].boxed()
    };
    let columns: Vec<_> = ACLED_NAMES.iter().map(|&name| value(name)).collect();
    proptest::collection::vec(columns, 1..4).prop_map(|rows| {
        let mut writer = ::csv::Writer::from_writer(Vec::new());
        let _ = writer.write_record(ACLED_NAMES);
        for row in rows {
            let _ = writer.write_record(&row);
        }
        writer.into_inner().unwrap_or_default()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_bytes_in_any_format_are_records_or_errors(
        format in format(), input in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        ended(&read_all(format, input))?;
    }

    #[test]
    fn any_ndjson_lines_are_one_record_each_or_an_error(lines in proptest::collection::vec(event_json(), 0..6)) {
        let input: String = lines.iter().map(|line| format!("{line}\n")).collect();
        let items = read_all(InputFormat::Ndjson, input.into_bytes());
        ended(&items)?;
        if matches!(items.last(), Some(Item::End)) {
            prop_assert_eq!(records(&items), lines.len());
        }
    }

    #[test]
    fn any_json_array_or_bundle_is_records_or_an_error(
        events in proptest::collection::vec(event_json(), 0..5),
        timelines in proptest::option::of(proptest::collection::vec(event_json(), 0..3)),
        page in any::<bool>(),
    ) {
        let document = match (timelines, page) {
            (Some(timelines), _) => json!({"timelines": timelines, "events": events}),
            (None, true) => json!({"data": events, "next_cursor": null}),
            (None, false) => Value::from(events.clone()),
        };
        let items = read_all(InputFormat::Json, document.to_string().into_bytes());
        ended(&items)?;
    }

    #[test]
    fn any_event_csv_is_one_record_per_row_or_an_error(input in csv_document(event_csv_names())) {
        let rows = ::csv::ReaderBuilder::new().flexible(true).from_reader(input.as_slice()).records().count();
        let items = read_all(InputFormat::Csv, input);
        ended(&items)?;
        if matches!(items.last(), Some(Item::End)) {
            prop_assert_eq!(records(&items), rows);
        }
    }

    #[test]
    fn any_acled_csv_is_one_record_per_row_or_an_error(input in acled_document()) {
        let rows = ::csv::Reader::from_reader(input.as_slice()).records().count();
        let items = read_all(InputFormat::Acled, input);
        ended(&items)?;
        if matches!(items.last(), Some(Item::End)) {
            prop_assert_eq!(records(&items), rows);
        }
    }
}
