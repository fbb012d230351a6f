//! Properties of the filter's parsers, over generated input: every value a
//! client can send is a filter or an error (never a panic), and a cursor
//! reads back as the position it was written from.

use chrono::{DateTime, Datelike as _, NaiveDate, TimeZone as _, Utc};
use proptest::prelude::*;

use super::*;

/// Text a client might send: anything, or something close to what is parsed.
pub(crate) fn client_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9TZ:+.,\\- ]{0,40}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2}))?",
    ]
}

/// Instants Postgres can store (its timestamps reach from 4713 BC to 294276 AD;
/// RFC 3339 writes years 0 to 9999), to the microsecond.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let first = NaiveDate::from_ymd_opt(0, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let last = NaiveDate::from_ymd_opt(9999, 12, 31)
        .unwrap()
        .and_hms_opt(23, 59, 59)
        .unwrap();
    (first.and_utc().timestamp_micros()..=last.and_utc().timestamp_micros())
        .prop_map(|micros| DateTime::from_timestamp_micros(micros).unwrap())
}

fn sort_order() -> impl Strategy<Value = SortOrder> {
    prop_oneof![
        Just(SortOrder::Asc),
        Just(SortOrder::Desc),
        Just(SortOrder::Relevance)
    ]
}

fn cursor() -> impl Strategy<Value = Cursor> {
    // A rank is a full-text rank: a finite float (Postgres's ts_rank is a `real`).
    let rank = proptest::option::of(any::<f32>().prop_filter("finite", |r| r.is_finite()));
    (instant(), any::<u128>(), sort_order(), rank).prop_map(|(occurred_start, id, sort, rank)| {
        Cursor {
            occurred_start,
            id: EventId(uuid::Uuid::from_u128(id)),
            sort,
            rank,
        }
    })
}

fn some_of(text: impl Strategy<Value = String>) -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text)
}

fn filter_params() -> impl Strategy<Value = FilterParams> {
    let text = || some_of(client_text());
    (
        (
            text(),
            text(),
            some_of(prop_oneof![client_text(), "[A-Z][a-z]+/[A-Z][a-z_]+"]),
        ),
        (text(), some_of("[a-zA-Z,]{0,12}"), text(), text(), text()),
        (
            text(),
            text(),
            text(),
            some_of(prop_oneof![
                client_text(),
                "(-?[0-9]{1,3}(\\.[0-9]+)?,){3}-?[0-9]{1,3}"
            ]),
        ),
    )
        .prop_map(
            |(
                (from, to, tz),
                (types, country, actor, tag, timeline),
                (external_id, status, q, bbox),
            )| {
                FilterParams {
                    from,
                    to,
                    tz,
                    types,
                    country,
                    actor,
                    tag,
                    timeline,
                    external_id,
                    status,
                    q,
                    bbox,
                }
            },
        )
}

fn page_params() -> impl Strategy<Value = PageParams> {
    let text = || some_of(client_text());
    let encoded = some_of(prop_oneof![
        client_text(),
        cursor().prop_map(|c| c.encode())
    ]);
    (
        some_of(prop_oneof![client_text(), "asc|desc|relevance"]),
        text(),
        encoded,
        text(),
        text(),
    )
        .prop_map(|(sort, limit, cursor, stream, count)| PageParams {
            sort,
            limit,
            cursor,
            stream,
            count,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_cursor_reads_back_as_the_position_it_was_written_from(cursor in cursor()) {
        prop_assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn any_text_is_a_cursor_or_an_error(raw in client_text()) {
        let _ = Cursor::decode(&raw);
    }

    #[test]
    fn any_json_behind_base64_is_a_cursor_or_an_error(
        s in client_text(), i in client_text(), o in client_text(), r in any::<f64>(),
    ) {
        // What a client gets when it edits a cursor's JSON: right keys, wrong values.
        let json = serde_json::json!({"s": s, "i": i, "o": o, "r": r}).to_string();
        let _ = Cursor::decode(&URL_SAFE_NO_PAD.encode(json));
    }

    #[test]
    fn any_query_of_the_lists_is_a_filter_or_errors(
        filter in filter_params(), page in page_params(), as_of in some_of(client_text()),
    ) {
        let mut errors = Errors::default();
        let (parsed, _) = filter.parse(&mut errors);
        let _ = HistoryParams { as_of }.parse(&mut errors);
        let choice = page.parse(&mut errors, parsed.q.is_some());
        let _ = choice.clone().into_paging(false);
        let _ = choice.into_paging(true);
        // A filter that passed has a window that is not upside down.
        if let (Some(from), Some(to)) = (parsed.from, parsed.to)
            && errors.finish().is_ok()
        {
            prop_assert!(from <= to);
        }
    }

    #[test]
    fn a_limit_is_a_number_from_1_to_500_or_an_error(n in any::<i64>(), raw in client_text()) {
        prop_assert_eq!(parse_limit(&n.to_string()).is_ok(), (1..=MAX_LIMIT).contains(&n));
        let _ = parse_limit(&raw);
    }

    #[test]
    fn an_rfc_3339_instant_reads_back_in_any_offset(
        at in instant(), minutes in -1439i32..=1439, raw in client_text(),
    ) {
        // RFC 3339 offsets are whole minutes, up to ±23:59.
        let offset = chrono::FixedOffset::east_opt(minutes * 60).unwrap();
        let written = at.with_timezone(&offset).to_rfc3339();
        prop_assert_eq!(parse_instant(&written), Ok(at));
        prop_assert_eq!(parse_bound(&written, chrono_tz::UTC, Bound::End), Ok(at));
        let _ = parse_instant(&raw);
    }

    #[test]
    fn a_date_is_a_whole_day_in_its_zone_or_an_error(
        day in 0i32..=3_652_424, zone in 0..chrono_tz::TZ_VARIANTS.len(),
    ) {
        // Every day of the years 0 to 9999, in every zone chrono-tz knows.
        let date = NaiveDate::from_ymd_opt(0, 1, 1).unwrap() + chrono::Days::new(day as u64);
        let tz = chrono_tz::TZ_VARIANTS[zone];
        let written = format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day());
        let start = parse_bound(&written, tz, Bound::Start);
        let end = parse_bound(&written, tz, Bound::End);
        // A zone may skip a whole day (Samoa skipped 30 December 2011): then it is an error.
        if let (Ok(start), Ok(end)) = (&start, &end) {
            prop_assert!(start < end, "{written} in {tz}: {start} .. {end}");
            prop_assert!(*end - *start < chrono::Duration::hours(49), "{written} in {tz}");
        }
        if tz == chrono_tz::UTC {
            let midnight = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap());
            prop_assert_eq!(start, Ok(midnight));
        }
    }
}

/// A query string as a client may send it: percent-encoded pairs, mostly of
/// `names` (the parameters an endpoint takes), valued with client text; or
/// any text at all.
pub(crate) fn query_string(names: Vec<String>) -> impl Strategy<Value = String> {
    let name = prop_oneof![4 => proptest::sample::select(names), 1 => "[a-z_]{1,10}"];
    let pairs = proptest::collection::vec((name, client_text()), 0..6)
        .prop_map(|pairs| serde_urlencoded::to_string(pairs).unwrap_or_default());
    prop_oneof![4 => pairs, 1 => any::<String>(), 1 => "[a-z_=&%0-9A-F+]{0,60}"]
}

/// An `Accept` header as a client may send it, if it is a valid header value.
pub(crate) fn accept_header() -> impl Strategy<Value = Option<actix_web::http::header::HeaderValue>>
{
    let media = "(text/csv|text/\\*|application/json|application/x-ndjson|application/geo\\+json|\\*/\\*|[a-z]{1,5}/[a-z+*]{1,8})(;q=[01](\\.[0-9]{1,4})?)?";
    let list = proptest::collection::vec(media, 1..4).prop_map(|types| types.join(", "));
    proptest::option::of(prop_oneof![list, client_text()])
        .prop_map(|text| text.and_then(|t| actix_web::http::header::HeaderValue::from_str(&t).ok()))
}

/// A request whose headers are those a query-parsing test needs.
pub(crate) fn request_with(
    headers: &[(&str, &Option<actix_web::http::header::HeaderValue>)],
) -> actix_web::HttpRequest {
    let mut request = actix_web::test::TestRequest::default();
    for (name, value) in headers {
        if let Some(value) = value {
            request = request.insert_header((*name, value.clone()));
        }
    }
    request.to_http_request()
}
