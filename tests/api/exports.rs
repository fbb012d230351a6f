//! The list endpoints' other formats: CSV, NDJSON, GeoJSON, TimelineJS, and
//! how a client picks one.

use chronik::models::token::Scope;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::helpers::{Table, TestApp, event, rich_event, spawn_app, spawn_app_with, with};

/// The CSV columns in their documented order (docs/formats.md, "CSV columns").
const CSV_COLUMNS: &[&str] = &[
    "id",
    "external_id",
    "title",
    "summary",
    "language",
    "type",
    "occurred_start",
    "occurred_end",
    "precision",
    "timezone",
    "location_name",
    "admin1",
    "country_code",
    "lat",
    "lon",
    "status",
    "tags",
    "timelines",
    "actors",
    "sources",
    "killed_confirmed_min",
    "killed_confirmed_max",
    "killed_claimed_min",
    "killed_claimed_max",
    "killed_disputed_min",
    "killed_disputed_max",
    "injured_confirmed_min",
    "injured_confirmed_max",
    "injured_claimed_min",
    "injured_claimed_max",
    "injured_disputed_min",
    "injured_disputed_max",
    "arrested_confirmed_min",
    "arrested_confirmed_max",
    "arrested_claimed_min",
    "arrested_claimed_max",
    "arrested_disputed_min",
    "arrested_disputed_max",
    "missing_confirmed_min",
    "missing_confirmed_max",
    "missing_claimed_min",
    "missing_claimed_max",
    "missing_disputed_min",
    "missing_disputed_max",
    "actors_json",
    "casualties_json",
    "sources_json",
    "version",
    "created_at",
    "updated_at",
];

const CSV_TYPE: &str = "text/csv; charset=utf-8; header=present";

fn ndjson_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

async fn create_events(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let e = app
            .create_event(&event(
                &format!("e{i:03}"),
                &format!("2022-01-01T00:{:02}:00Z", i % 60),
            ))
            .await;
        ids.push(e["id"].as_str().unwrap().to_owned());
    }
    ids
}

#[tokio::test]
async fn csv_has_the_documented_header_and_one_row_per_event() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    let stored = app.create_event(&rich_event()).await;
    app.create_event(&event("plain", "2022-01-07T00:00:00Z"))
        .await;
    let reply = app.get("/v1/events?format=csv").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), CSV_TYPE);
    assert!(reply.vary().contains(&"accept".to_owned()));
    assert_eq!(
        reply.header("content-disposition"),
        Some("attachment; filename=\"events.csv\"")
    );
    assert!(reply.text.ends_with("\r\n"), "RFC 4180 line ends");
    let table = Table::parse(&reply.text);
    assert_eq!(table.header, CSV_COLUMNS);
    assert_eq!(table.rows.len(), 2);
    let row = &table.rows[0];
    assert_eq!(row["id"], stored["id"].as_str().unwrap());
    assert_eq!(row["occurred_start"], "2022-01-05T12:00:00Z");
    assert_eq!(row["occurred_end"], "2022-01-06T00:00:00.500Z");
    assert_eq!(
        (row["lat"].as_str(), row["lon"].as_str()),
        ("43.2389", "76.8897")
    );
    assert_eq!(row["tags"], "almaty;night raid");
    assert_eq!(row["timelines"], "kz");
    assert_eq!(row["actors"], "Saltanat Azirbek;Protesters; various");
    assert_eq!(row["sources"], "https://example.org/a?x=1,2");
    assert_eq!(row["version"], "1");
    let plain = &table.rows[1];
    assert_eq!(
        (plain["summary"].as_str(), plain["external_id"].as_str()),
        ("", "")
    );
    assert_eq!(plain["actors_json"], "[]");
}

#[tokio::test]
async fn csv_quotes_commas_quotes_line_breaks_and_keeps_unicode() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    let stored = app.create_event(&rich_event()).await;
    let reply = app.get("/v1/events?format=csv").await;
    // RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.
    assert!(
        reply
            .text
            .contains(r#","Kommas, ""Anführungszeichen"" und Zeilen","#),
        "{}",
        reply.text
    );
    let row = &Table::parse(&reply.text).rows[0];
    assert_eq!(row["title"], stored["title"].as_str().unwrap());
    assert_eq!(row["summary"], stored["summary"].as_str().unwrap());
    assert_eq!(row["location_name"], "Almaty, Republic Square");
}

#[tokio::test]
async fn csv_json_columns_carry_the_structured_fields_exactly() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    let stored = app.create_event(&rich_event()).await;
    let reply = app.get("/v1/events?format=csv").await;
    let row = &Table::parse(&reply.text).rows[0];
    for field in ["actors", "casualties", "sources"] {
        let cell: Value = serde_json::from_str(&row[&format!("{field}_json")]).unwrap();
        assert_eq!(cell, stored[field], "{field}_json");
    }
}

#[tokio::test]
async fn csv_sums_figures_per_kind_and_status_and_leaves_unbounded_max_empty() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    app.create_event(&rich_event()).await;
    let reply = app.get("/v1/events?format=csv").await;
    let row = &Table::parse(&reply.text).rows[0];
    let cells = |names: &[&str]| names.iter().map(|n| row[*n].clone()).collect::<Vec<_>>();
    // 8 + 2..3 confirmed; 24 or more claimed: never added together.
    assert_eq!(
        cells(&["killed_confirmed_min", "killed_confirmed_max"]),
        ["10", "11"]
    );
    assert_eq!(
        cells(&["killed_claimed_min", "killed_claimed_max"]),
        ["24", ""]
    );
    assert_eq!(
        cells(&["injured_disputed_min", "injured_disputed_max"]),
        ["0", "100"]
    );
    // No figure at all: both empty.
    assert_eq!(
        cells(&["missing_claimed_min", "missing_claimed_max"]),
        ["", ""]
    );
}

#[tokio::test]
async fn csv_is_paged_like_json_with_the_cursor_in_the_link_header() {
    let app = spawn_app().await;
    let ids = create_events(&app, 5).await;
    let mut seen = Vec::new();
    let mut next = Some("/v1/events?format=csv&limit=2".to_owned());
    let mut pages = 0;
    while let Some(url) = next.take() {
        let reply = app.get(&url).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let table = Table::parse(&reply.text);
        assert_eq!(table.header, CSV_COLUMNS, "every page has the header");
        seen.extend(table.column("id").into_iter().map(String::from));
        next = reply.header("link").map(|link| {
            link.strip_prefix('<')
                .and_then(|l| l.split_once(">; rel=\"next\""))
                .map(|(target, _)| target.to_owned())
                .expect("a rel=next link")
        });
        pages += 1;
    }
    assert_eq!(pages, 3, "the last page has no Link");
    assert_eq!(seen, app.all_ids("/v1/events").await);
    let mut sorted = seen.clone();
    sorted.sort();
    let mut created = ids;
    created.sort();
    assert_eq!(sorted, created, "every event exactly once");
}

#[tokio::test]
async fn csv_stream_all_returns_every_event_without_paging() {
    let app = spawn_app().await;
    create_events(&app, 53).await;
    app.create_event(&with(
        event("riot", "2022-01-02T00:00:00Z"),
        json!({"type": "riot"}),
    ))
    .await;
    let reply = app
        .get("/v1/events?format=csv&stream=all&type=protest")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), CSV_TYPE);
    assert!(reply.header("link").is_none());
    let table = Table::parse(&reply.text);
    assert_eq!(table.rows.len(), 53, "more than one default page, filtered");
    app.get("/v1/events?format=csv&stream=all&limit=10")
        .await
        .assert_problem(400, "limit");
    app.get("/v1/events?stream=all")
        .await
        .assert_problem(400, "stream");
    app.get("/v1/events?format=csv&stream=yes")
        .await
        .assert_problem(400, "stream");
}

#[tokio::test]
async fn csv_of_no_events_is_the_header_alone() {
    let app = spawn_app().await;
    for url in ["/v1/events?format=csv", "/v1/events?format=csv&stream=all"] {
        let reply = app.get(url).await;
        assert_eq!(reply.status, 200);
        let table = Table::parse(&reply.text);
        assert_eq!(table.header, CSV_COLUMNS);
        assert!(table.rows.is_empty());
    }
}

#[tokio::test]
async fn csv_can_start_with_a_byte_order_mark_for_excel() {
    let app = spawn_app().await;
    app.create_event(&event("Ärger in Almaty", "2022-01-05T00:00:00Z"))
        .await;
    let reply = app.get("/v1/events?format=csv&bom=true").await;
    assert!(reply.text.starts_with("\u{feff}id,"));
    let plain = app.get("/v1/events?format=csv").await;
    assert!(plain.text.starts_with("id,"));
    app.get("/v1/events?bom=true")
        .await
        .assert_problem(400, "bom");
}

/// `bom` is a boolean (the spec's schema says so): an empty value is not one.
#[tokio::test]
async fn an_empty_bom_is_refused_naming_it() {
    let app = spawn_app().await;
    app.get("/v1/events?format=csv&bom=")
        .await
        .assert_problem(400, "bom");
    app.get("/v1/stats/histogram?format=csv&bom=")
        .await
        .assert_problem(400, "bom");
}

#[tokio::test]
async fn ndjson_streams_every_matching_event_as_one_json_per_line() {
    let app = spawn_app().await;
    let ids = create_events(&app, 55).await;
    app.create_event(&with(
        event("riot", "2022-01-02T00:00:00Z"),
        json!({"type": "riot"}),
    ))
    .await;
    let reply = app
        .get_accepting("/v1/events?type=protest&sort=desc", "application/x-ndjson")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/x-ndjson");
    assert!(reply.vary().contains(&"accept".to_owned()));
    let lines = ndjson_lines(&reply.text);
    assert_eq!(lines.len(), 55);
    // The same events, in the same order and shape, as paging through JSON.
    let json_ids = app
        .all_ids("/v1/events?type=protest&sort=desc&limit=20")
        .await;
    let line_ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(line_ids, json_ids);
    let one = app.get(&format!("/v1/events/{}", ids[0])).await.body;
    assert!(lines.contains(&one));
}

#[tokio::test]
async fn ndjson_keeps_line_breaks_inside_their_line_and_each_line_is_the_stored_event() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    let created = app.create_event(&rich_event()).await;
    app.create_event(&event("second", "2022-01-07T00:00:00Z"))
        .await;
    let reply = app.get("/v1/events?format=ndjson").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.text.lines().count(), 2, "{}", reply.text);
    assert!(reply.text.ends_with('\n'));
    let lines = ndjson_lines(&reply.text);
    assert_eq!(lines[0], created);
    assert_eq!(lines[0]["summary"], rich_event()["summary"]);
}

#[tokio::test]
async fn ndjson_of_no_events_is_empty_and_takes_no_paging() {
    let app = spawn_app().await;
    let reply = app.get("/v1/events?format=ndjson").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text, "");
    app.get("/v1/events?format=ndjson&limit=5")
        .await
        .assert_problem(400, "limit");
    create_events(&app, 2).await;
    let page = app.get("/v1/events?limit=1").await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let resumed = app
        .get(&format!("/v1/events?format=ndjson&cursor={cursor}"))
        .await;
    resumed.assert_problem(400, "cursor");
    assert!(resumed.text.contains("whole result"), "{}", resumed.text);
}

/// Checks the structure RFC 7946 requires of a FeatureCollection of Points.
#[track_caller]
fn assert_feature_collection(doc: &Value) -> &Vec<Value> {
    assert_eq!(doc["type"], "FeatureCollection");
    let features = doc["features"].as_array().expect("features is an array");
    for feature in features {
        assert_eq!(feature["type"], "Feature");
        assert_eq!(feature["geometry"]["type"], "Point");
        let coordinates = feature["geometry"]["coordinates"].as_array().unwrap();
        assert_eq!(coordinates.len(), 2);
        let (lon, lat) = (
            coordinates[0].as_f64().unwrap(),
            coordinates[1].as_f64().unwrap(),
        );
        assert!((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat));
        assert!(feature["properties"].is_object());
        assert_eq!(feature["id"], feature["properties"]["id"]);
    }
    features
}

#[tokio::test]
async fn geojson_is_a_feature_collection_of_the_events_with_coordinates() {
    let app = spawn_app().await;
    let located = app
        .create_event(&event("located", "2022-01-05T00:00:00Z"))
        .await;
    app.create_event(&with(
        event("nowhere", "2022-01-05T00:00:00Z"),
        json!({"location": {"name": "Kazakhstan", "country_code": "KZ"}}),
    ))
    .await;
    app.create_event(&with(
        event("no location", "2022-01-05T00:00:00Z"),
        json!({"location": null}),
    ))
    .await;
    let reply = app.get("/v1/events?format=geojson").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/geo+json");
    let features = assert_feature_collection(&reply.body);
    assert_eq!(features.len(), 1);
    // [lon, lat], in that order.
    assert_eq!(
        features[0]["geometry"]["coordinates"],
        json!([76.8897, 43.2389])
    );
    assert_eq!(features[0]["properties"], located);
    let accepted = app
        .get_accepting("/v1/events", "application/geo+json")
        .await;
    assert_eq!(accepted.body, reply.body);
    let empty = app.get("/v1/events?format=geojson&from=2030-01-01").await;
    assert_eq!(
        empty.body,
        json!({"type": "FeatureCollection", "features": []})
    );
}

#[tokio::test]
async fn timelinejs_splits_dates_in_the_event_zone_down_to_its_precision() {
    let app = spawn_app().await;
    let night = app
        .create_event(&with(
            event("Night <b>raid</b> & \"more\"", "2022-01-05T18:00:00+06:00"),
            json!({"occurred_end": "2022-01-06T06:00:00+06:00", "precision": "hour",
                   "timezone": "Asia/Almaty", "type": "armed_clash",
                   "summary": "<script>alert(1)</script>",
                   "casualties": [{"kind": "killed", "party": "protesters", "min": 24, "max": null, "status": "claimed"}],
                   "sources": [{"url": "https://example.org/\"x", "title": "Live", "via": ["TASS"]}]}),
        ))
        .await;
    app.create_event(&with(
        event("a day", "2022-01-06T00:00:00+06:00"),
        json!({"timezone": "Asia/Almaty"}),
    ))
    .await;
    app.create_event(&with(
        event("a year", "2021-06-01T00:00:00Z"),
        json!({"precision": "year"}),
    ))
    .await;
    let reply = app.get("/v1/events?format=timelinejs&sort=desc").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/json");
    // A page on another origin hands this URL to TimelineJS, which fetches it.
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert!(
        reply.body.get("title").is_none(),
        "no title slide outside a timeline"
    );
    let events = reply.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    let slide = &events[1];
    assert_eq!(slide["unique_id"], night["id"]);
    assert_eq!(slide["group"], "armed_clash");
    assert_eq!(
        slide["start_date"],
        json!({"year": "2022", "month": "1", "day": "5", "hour": "18"})
    );
    assert_eq!(
        slide["end_date"],
        json!({"year": "2022", "month": "1", "day": "6", "hour": "6"})
    );
    assert_eq!(
        slide["text"]["headline"],
        "Night &lt;b&gt;raid&lt;/b&gt; &amp; &quot;more&quot;"
    );
    let text = slide["text"]["text"].as_str().unwrap();
    assert!(!text.contains("<script>"), "{text}");
    assert!(text.contains("&lt;script&gt;"), "{text}");
    assert!(text.contains("at least 24"), "{text}");
    assert!(
        text.contains(r#"<a href="https://example.org/&quot;x">Live</a>"#),
        "{text}"
    );
    // Midnight in Almaty is the 6th there, though the 5th in UTC.
    assert_eq!(
        events[0]["start_date"],
        json!({"year": "2022", "month": "1", "day": "6"})
    );
    assert_eq!(events[2]["start_date"], json!({"year": "2021"}));
    assert!(events[2].get("end_date").is_none());
}

#[tokio::test]
async fn a_timelines_exports_open_with_its_title_and_name_the_file() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    app.create_event(&with(
        event("on it", "2022-01-05T00:00:00Z"),
        json!({"timelines": ["kz"]}),
    ))
    .await;
    app.create_event(&event("off it", "2022-01-05T00:00:00Z"))
        .await;
    let tl = app.get("/v1/timelines/kz/events?format=timelinejs").await;
    assert_eq!(tl.status, 200, "{}", tl.text);
    assert_eq!(tl.body["title"]["text"]["headline"], "Timeline kz");
    assert_eq!(tl.body["events"].as_array().unwrap().len(), 1);
    let csv = app.get("/v1/timelines/kz/events?format=csv").await;
    assert_eq!(
        csv.header("content-disposition"),
        Some("attachment; filename=\"kz.csv\"")
    );
    assert_eq!(Table::parse(&csv.text).rows.len(), 1);
    let ndjson = app.get("/v1/timelines/kz/events?format=ndjson&q=on").await;
    assert_eq!(ndjson_lines(&ndjson.text).len(), 1);
    let missing = app.get("/v1/timelines/nope/events?format=ndjson").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type(), "application/problem+json");
}

#[tokio::test]
async fn accept_negotiates_the_format_and_format_wins_over_it() {
    let app = spawn_app().await;
    app.create_event(&event("one", "2022-01-05T00:00:00Z"))
        .await;
    let cases = [
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("text/html, */*;q=0.8", "application/json"),
        ("text/csv", CSV_TYPE),
        ("text/*", CSV_TYPE),
        ("application/x-ndjson", "application/x-ndjson"),
        ("application/geo+json", "application/geo+json"),
        (
            "text/csv;q=0.4, application/x-ndjson;q=0.9",
            "application/x-ndjson",
        ),
        ("application/json;q=0, text/csv", CSV_TYPE),
    ];
    for (accept, content_type) in cases {
        let reply = app.get_accepting("/v1/events", accept).await;
        assert_eq!(reply.status, 200, "{accept}: {}", reply.text);
        assert_eq!(reply.content_type(), content_type, "{accept}");
        assert!(reply.vary().contains(&"accept".to_owned()), "{accept}");
    }
    let json = app.get("/v1/events").await;
    assert_eq!(json.content_type(), "application/json");
    assert_eq!(json.column("title"), [json!("one")]);
    let forced = app
        .get_accepting("/v1/events?format=csv", "application/json")
        .await;
    assert_eq!(forced.content_type(), CSV_TYPE);
}

#[tokio::test]
async fn unsupported_accept_is_406_listing_the_supported_types() {
    let app = spawn_app().await;
    for accept in ["text/html", "application/xml, image/png", "text/csv;q=0"] {
        let reply = app.get_accepting("/v1/events", accept).await;
        assert_eq!(reply.status, 406, "{accept}");
        assert_eq!(reply.content_type(), "application/problem+json");
        let detail = reply.body["detail"].as_str().unwrap();
        for supported in [
            "application/json",
            "text/csv",
            "application/x-ndjson",
            "application/geo+json",
        ] {
            assert!(detail.contains(supported), "{detail}");
        }
    }
    let timeline = app
        .get_accepting("/v1/timelines/any/events", "text/html")
        .await;
    assert_eq!(timeline.status, 406);
}

#[tokio::test]
async fn errors_are_problem_json_whatever_format_was_asked_for() {
    let app = spawn_app().await;
    app.get("/v1/events?format=xml")
        .await
        .assert_problem(400, "format");
    app.get("/v1/events?format=csv&from=yesterday")
        .await
        .assert_problem(400, "from");
    app.get_accepting("/v1/events?bbox=1,2", "text/csv")
        .await
        .assert_problem(400, "bbox");
    app.get_accepting("/v1/events?tyoe=riot", "application/x-ndjson")
        .await
        .assert_problem(400, "tyoe");
}

/// Open transactions of exports (their server-side cursors) in the app's database.
async fn running_exports(app: &TestApp) -> i64 {
    app.count(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND xact_start IS NOT NULL AND query LIKE 'FETCH FORWARD%'",
    )
    .await
}

#[tokio::test]
async fn an_export_streams_before_it_is_complete_and_ends_when_the_client_leaves() {
    let app = spawn_app().await;
    // About 30 MB of NDJSON: far more than socket buffers and the channel hold.
    app.insert_bulk_events(30_000, 1_000).await;
    let mut response = app
        .client
        .get(app.url("/v1/events?format=ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut received = Vec::new();
    while !received.contains(&b'\n') {
        let chunk = response.chunk().await.unwrap().expect("more of the body");
        received.extend_from_slice(&chunk);
    }
    let first_line = received.split(|b| *b == b'\n').next().unwrap();
    let first: Value = serde_json::from_slice(first_line).unwrap();
    assert_eq!(first["title"], "Bulk event 1");
    // The first line is here while the scan is still open, waiting for the reader.
    assert_eq!(running_exports(&app).await, 1);
    drop(response);
    let deadline = Instant::now() + Duration::from_secs(30);
    while running_exports(&app).await > 0 {
        assert!(Instant::now() < deadline, "the export outlived its client");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts `n` NDJSON exports and keeps them streaming (unread) until the
/// responses are dropped.
async fn start_exports(app: &TestApp, n: usize) -> Vec<reqwest::Response> {
    let mut running = Vec::new();
    for _ in 0..n {
        let response = app
            .client
            .get(app.url("/v1/events?format=ndjson"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        running.push(response);
    }
    running
}

#[tokio::test]
async fn running_exports_leave_the_pool_to_requests() {
    // As many exports as the whole request pool has connections: they stream
    // on connections of their own, so reads and writes are still served.
    let app = spawn_app_with(|config| {
        config.db_pool_size = 2;
        config.max_exports = Some(2);
    })
    .await;
    app.insert_bulk_events(30_000, 1_000).await;
    let running = start_exports(&app, 2).await;
    app.assert_requests_served("During the exports").await;
    drop(running);
}

#[tokio::test]
async fn exports_beyond_the_limit_get_503_until_one_finishes() {
    let app = spawn_app().await;
    app.insert_bulk_events(30_000, 1_000).await;
    // The test app's pool has 8 connections; half of them may stream exports.
    let mut running = start_exports(&app, 4).await;
    let refused = app.get("/v1/events?format=csv&stream=all").await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert_eq!(refused.content_type(), "application/problem+json");
    assert_eq!(refused.header("retry-after"), Some("1"));
    // Refused for the exports running, at once: not after waiting for a connection.
    assert!(
        refused.text.contains("CHRONIK_MAX_EXPORTS"),
        "{}",
        refused.text
    );
    // Paged reads are not exports and still work.
    assert_eq!(app.get("/v1/events?format=csv&limit=1").await.status, 200);
    running.pop();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let retry = app
            .client
            .get(app.url("/v1/events?format=ndjson"))
            .send()
            .await
            .unwrap();
        if retry.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the finished export kept its slot"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_export_ends_at_its_time_limit_however_steadily_its_client_reads() {
    let app = spawn_app_with(|config| {
        config.export_max_duration = "1s".parse().expect("a time limit");
        config.max_exports = Some(1);
    })
    .await;
    app.insert_bulk_events(30_000, 1_000).await;
    let mut response = app
        .client
        .get(app.url("/v1/events?format=ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A reader that never stalls: it takes a piece every tenth of a second,
    // far more often than the two minutes a silent reader is given.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the export outlived its limit");
        match response.chunk().await {
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
            Ok(None) => panic!("the export ran to its end, past its limit"),
            // Cut short: an incomplete transfer, never a silently short file.
            Err(_) => break,
        }
    }
    while running_exports(&app).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the export's transaction stayed open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let next = app.get("/v1/events?format=ndjson&from=2030-01-01").await;
    assert_eq!(next.status, 200, "the slot was given back: {}", next.text);
}

/// Starts an NDJSON export through `client` and keeps it streaming (unread)
/// until the response is dropped.
async fn start_export(app: &TestApp, client: &reqwest::Client) -> reqwest::Response {
    let response = client
        .get(app.url("/v1/events?format=ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

#[tokio::test]
async fn one_client_may_stream_only_its_share_of_the_exports_at_once() {
    let app = spawn_app_with(|config| {
        config.max_exports = Some(4);
        config.max_exports_per_client = "2".parse().expect("a cap");
    })
    .await;
    app.insert_bulk_events(30_000, 1_000).await;
    let mut anonymous = vec![
        start_export(&app, &app.anonymous).await,
        start_export(&app, &app.anonymous).await,
    ];
    // A third from the same IP, without a token, is refused before it takes
    // a slot or a connection.
    let refused = app
        .send(
            app.anonymous
                .get(app.url("/v1/events?format=csv&stream=all")),
        )
        .await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.content_type(), "application/problem+json");
    assert_eq!(refused.body["type"], "urn:chronik:problem:too-many-exports");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused.text.contains("CHRONIK_MAX_EXPORTS_PER_CLIENT"),
        "{}",
        refused.text
    );
    assert_eq!(running_exports(&app).await, 2);
    // A token is a client of its own, counted apart from its IP.
    let reader = app.client_with(&app.secret(Scope::Read).await);
    let by_token = start_export(&app, &reader).await;
    // Paged reads are not exports.
    assert_eq!(
        app.send(app.anonymous.get(app.url("/v1/events?format=csv&limit=1")))
            .await
            .status,
        200
    );
    anonymous.pop();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let retry = app
            .anonymous
            .get(app.url("/v1/events?format=ndjson"))
            .send()
            .await
            .unwrap();
        if retry.status() == 200 {
            break;
        }
        assert_eq!(retry.status(), 429);
        assert!(
            Instant::now() < deadline,
            "the finished export still counted for its client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop((anonymous, by_token));
}

/// The per-client cap counts IPv6 clients by network, as the rate limit does:
/// a /64 holds more addresses than any cap.
#[tokio::test]
async fn ipv6_clients_of_one_64_share_their_export_cap() {
    let app = spawn_app_with(|config| {
        config.max_exports = Some(4);
        config.max_exports_per_client = "1".parse().expect("a cap");
        config.trusted_proxies = "127.0.0.1".parse().unwrap();
    })
    .await;
    app.insert_bulk_events(30_000, 1_000).await;
    let export_from = |ip: &'static str| {
        app.anonymous
            .get(app.url("/v1/events?format=ndjson"))
            .header("x-forwarded-for", ip)
            .send()
    };
    let first = export_from("2001:db8:1:2::1").await.unwrap();
    assert_eq!(first.status(), 200);
    let same_network = export_from("2001:db8:1:2::99").await.unwrap();
    assert_eq!(same_network.status(), 429);
    let other_network = export_from("2001:db8:1:3::1").await.unwrap();
    assert_eq!(other_network.status(), 200);
    drop((first, other_network));
}
