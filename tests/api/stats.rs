use serde_json::{Value, json};

use crate::helpers::{Table, TestApp, event, spawn_app, with};

async fn histogram(app: &TestApp, query: &str) -> Value {
    let reply = app.get(&format!("/v1/stats/histogram?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.text);
    assert!(reply.vary().contains(&"accept".to_owned()));
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    reply.body
}

fn labels(histogram: &Value) -> Vec<String> {
    histogram["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["label"].as_str().unwrap().to_owned())
        .collect()
}

fn counts(histogram: &Value) -> Vec<i64> {
    histogram["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .collect()
}

async fn typed(app: &TestApp, title: &str, start: &str, event_type: &str) {
    app.create_event(&with(event(title, start), json!({"type": event_type})))
        .await;
}

#[tokio::test]
async fn histogram_counts_each_day_by_type_and_keeps_empty_days() {
    let app = spawn_app().await;
    typed(&app, "a", "2022-01-01T10:00:00Z", "riot").await;
    typed(&app, "b", "2022-01-03T10:00:00Z", "protest").await;
    typed(&app, "c", "2022-01-03T11:00:00Z", "protest").await;
    typed(&app, "d", "2022-01-03T12:00:00Z", "riot").await;
    let h = histogram(&app, "bucket=day").await;
    assert_eq!(h["bucket"], "day");
    assert_eq!(h["tz"], "UTC");
    assert_eq!(h["types"], json!(["protest", "riot"]));
    assert_eq!(labels(&h), ["2022-01-01", "2022-01-02", "2022-01-03"]);
    assert_eq!(counts(&h), [1, 0, 3]);
    assert_eq!(h["buckets"][1]["by_type"], json!({"protest": 0, "riot": 0}));
    assert_eq!(h["buckets"][2]["by_type"], json!({"protest": 2, "riot": 1}));
    assert_eq!(h["buckets"][0]["start"], "2022-01-01T00:00:00Z");
    assert_eq!(h["buckets"][0]["end"], "2022-01-02T00:00:00Z");
}

#[tokio::test]
async fn histogram_buckets_are_days_of_the_requested_zone() {
    let app = spawn_app().await;
    // 20:00 UTC on the 5th is already the 6th in Almaty (UTC+6).
    app.create_event(&event("late", "2022-01-05T20:00:00Z"))
        .await;
    assert_eq!(labels(&histogram(&app, "").await), ["2022-01-05"]);
    let almaty = histogram(&app, "tz=Asia/Almaty").await;
    assert_eq!(labels(&almaty), ["2022-01-06"]);
    assert_eq!(almaty["buckets"][0]["start"], "2022-01-06T00:00:00+06:00");
}

#[tokio::test]
async fn histogram_spans_from_to_even_without_events() {
    let app = spawn_app().await;
    let h = histogram(&app, "from=2022-01-01&to=2022-01-03").await;
    assert_eq!(labels(&h), ["2022-01-01", "2022-01-02", "2022-01-03"]);
    assert_eq!(counts(&h), [0, 0, 0]);
    assert_eq!(h["types"], json!([]));
    let nothing = histogram(&app, "").await;
    assert_eq!(nothing["buckets"], json!([]));
}

#[tokio::test]
async fn histogram_buckets_by_iso_week_month_and_year() {
    let app = spawn_app().await;
    // A Sunday (ISO week 52 of 2021), the Monday after, and a day in February.
    app.create_event(&event("sun", "2022-01-02T12:00:00Z"))
        .await;
    app.create_event(&event("mon", "2022-01-03T12:00:00Z"))
        .await;
    app.create_event(&event("feb", "2022-02-15T12:00:00Z"))
        .await;
    let weeks = histogram(&app, "bucket=week").await;
    assert_eq!(labels(&weeks)[..2], ["2021-W52", "2022-W01"]);
    assert_eq!(weeks["buckets"][1]["start"], "2022-01-03T00:00:00Z");
    assert_eq!(
        labels(&weeks).len(),
        8,
        "empty weeks up to February are present"
    );
    let months = histogram(&app, "bucket=month").await;
    assert_eq!(labels(&months), ["2022-01", "2022-02"]);
    assert_eq!(counts(&months), [2, 1]);
    let years = histogram(&app, "bucket=year").await;
    assert_eq!(labels(&years), ["2022"]);
    assert_eq!(counts(&years), [3]);
}

#[tokio::test]
async fn an_event_that_began_before_from_counts_in_the_first_bucket() {
    let app = spawn_app().await;
    app.create_event(&with(
        event("week-long", "2022-01-01T00:00:00Z"),
        json!({"occurred_end": "2022-01-08T00:00:00Z"}),
    ))
    .await;
    let h = histogram(&app, "from=2022-01-05&to=2022-01-06").await;
    assert_eq!(labels(&h), ["2022-01-05", "2022-01-06"]);
    assert_eq!(counts(&h), [1, 0]);
}

#[tokio::test]
async fn histogram_refuses_more_than_5000_buckets() {
    let app = spawn_app().await;
    app.get("/v1/stats/histogram?from=1900-01-01&to=2100-01-01")
        .await
        .assert_problem(400, "bucket");
    let years = app
        .get("/v1/stats/histogram?from=1900-01-01&to=2100-01-01&bucket=year")
        .await;
    assert_eq!(years.status, 200);
    assert_eq!(years.body["buckets"].as_array().unwrap().len(), 201);
}

#[tokio::test]
async fn stats_take_no_paging_parameters_and_name_bad_ones() {
    let app = spawn_app().await;
    let cases = [
        ("histogram", "sort=asc", "sort"),
        ("histogram", "limit=10", "limit"),
        ("histogram", "cursor=abc", "cursor"),
        ("histogram", "stream=all", "stream"),
        ("histogram", "bucket=fortnight", "bucket"),
        ("histogram", "tz=Mars/Base", "tz"),
        ("histogram", "format=ndjson", "format"),
        ("casualties", "group_by=colour", "group_by"),
        ("casualties", "bucket=day", "bucket"),
        ("casualties", "limit=1", "limit"),
        ("casualties", "bbox=1,2,3", "bbox"),
    ];
    for (stat, query, field) in cases {
        app.get(&format!("/v1/stats/{stat}?{query}"))
            .await
            .assert_problem(400, field);
    }
}

#[tokio::test]
async fn histogram_as_csv_has_a_column_per_type() {
    let app = spawn_app().await;
    typed(&app, "a", "2022-01-01T10:00:00Z", "riot").await;
    typed(&app, "b", "2022-01-03T10:00:00Z", "protest").await;
    for reply in [
        app.get("/v1/stats/histogram?format=csv").await,
        app.get_accepting("/v1/stats/histogram", "text/csv").await,
    ] {
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.content_type(),
            "text/csv; charset=utf-8; header=present"
        );
        let table = Table::parse(&reply.text);
        assert_eq!(
            table.header,
            ["label", "start", "end", "count", "protest", "riot"]
        );
        assert_eq!(
            table.column("label"),
            ["2022-01-01", "2022-01-02", "2022-01-03"]
        );
        assert_eq!(table.column("riot"), ["1", "0", "0"]);
        assert_eq!(table.column("start")[0], "2022-01-01T00:00:00Z");
        assert_eq!(table.column("count"), ["1", "0", "1"]);
    }
    let ndjson = app
        .get_accepting("/v1/stats/histogram", "application/x-ndjson")
        .await;
    assert_eq!(ndjson.status, 406);
    assert_eq!(ndjson.content_type(), "application/problem+json");
}

/// Police deaths confirmed; protester deaths claimed twice, once unbounded.
async fn casualty_events(app: &TestApp) {
    app.create_event(&with(
        event("night", "2022-01-05T20:00:00Z"),
        json!({"type": "casualties", "casualties": [
            {"kind": "killed", "party": "protesters", "min": 24, "max": null, "status": "claimed"},
            {"kind": "killed", "party": "police", "min": 8, "max": 8, "status": "confirmed"},
            {"kind": "injured", "party": "police", "min": 300, "max": 400, "status": "claimed"},
        ]}),
    ))
    .await;
    app.create_event(&with(
        event("morning", "2022-01-06T08:00:00Z"),
        json!({"type": "armed_clash", "casualties": [
            {"kind": "killed", "party": "protesters", "min": 10, "max": 20, "status": "claimed"},
            {"kind": "killed", "party": "police", "min": 2, "max": 2, "status": "disputed"},
        ]}),
    ))
    .await;
    app.create_event(&event("no figures", "2022-01-06T09:00:00Z"))
        .await;
}

fn find<'a>(rows: &'a Value, pairs: &[(&str, &str)]) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|row| pairs.iter().all(|(k, v)| row[*k] == *v))
        .unwrap_or_else(|| panic!("no row with {pairs:?} in {rows}"))
}

#[tokio::test]
async fn casualties_are_summed_per_kind_and_status_never_across() {
    let app = spawn_app().await;
    casualty_events(&app).await;
    let reply = app.get("/v1/stats/casualties").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["group_by"], json!([]));
    let rows = &reply.body["rows"];
    assert_eq!(rows.as_array().unwrap().len(), 4, "{rows}");
    let claimed = find(rows, &[("kind", "killed"), ("status", "claimed")]);
    assert_eq!(claimed["min_sum"], 34);
    assert_eq!(claimed["max_sum"], Value::Null, "one figure is unbounded");
    assert_eq!(
        (claimed["figures"].as_i64(), claimed["unbounded"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(claimed["events"], 2);
    let confirmed = find(rows, &[("kind", "killed"), ("status", "confirmed")]);
    assert_eq!(
        (confirmed["min_sum"].as_i64(), confirmed["max_sum"].as_i64()),
        (Some(8), Some(8))
    );
    let disputed = find(rows, &[("kind", "killed"), ("status", "disputed")]);
    assert_eq!(disputed["min_sum"], 2);
    let injured = find(rows, &[("kind", "injured")]);
    assert_eq!(
        (injured["min_sum"].as_i64(), injured["max_sum"].as_i64()),
        (Some(300), Some(400))
    );
    assert!(
        rows[0].get("party").is_none(),
        "no party unless grouped by it"
    );
}

#[tokio::test]
async fn casualties_group_by_party_day_and_type() {
    let app = spawn_app().await;
    casualty_events(&app).await;
    let by_party = app.get("/v1/stats/casualties?group_by=party").await.body;
    let protesters = find(
        &by_party["rows"],
        &[("party", "protesters"), ("status", "claimed")],
    );
    assert_eq!(protesters["min_sum"], 34);
    let police = find(
        &by_party["rows"],
        &[
            ("party", "police"),
            ("kind", "killed"),
            ("status", "confirmed"),
        ],
    );
    assert_eq!(police["max_sum"], 8);

    // In Almaty the night's event (20:00 UTC) falls on the 6th, like the morning's.
    let by_day = app
        .get("/v1/stats/casualties?group_by=day&tz=Asia/Almaty")
        .await
        .body;
    let days: Vec<&str> = by_day["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["day"].as_str().unwrap())
        .collect();
    assert!(days.iter().all(|d| *d == "2022-01-06"), "{days:?}");
    let utc = app.get("/v1/stats/casualties?group_by=day").await.body;
    find(
        &utc["rows"],
        &[("day", "2022-01-05"), ("status", "confirmed")],
    );

    let by_type = app
        .get("/v1/stats/casualties?group_by=type,party&type=armed_clash")
        .await
        .body;
    assert_eq!(by_type["group_by"], json!(["type", "party"]));
    let rows = by_type["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["type"] == "armed_clash"));
}

#[tokio::test]
async fn casualties_as_csv_leave_an_unbounded_max_empty() {
    let app = spawn_app().await;
    casualty_events(&app).await;
    let reply = app
        .get("/v1/stats/casualties?group_by=party&format=csv")
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-disposition"),
        Some("attachment; filename=\"casualties.csv\"")
    );
    let table = Table::parse(&reply.text);
    assert_eq!(
        table.header,
        [
            "party",
            "kind",
            "status",
            "min_sum",
            "max_sum",
            "figures",
            "unbounded",
            "events"
        ]
    );
    let claimed = table
        .rows
        .iter()
        .find(|r| r["party"] == "protesters" && r["status"] == "claimed")
        .unwrap();
    assert_eq!(
        (claimed["min_sum"].as_str(), claimed["max_sum"].as_str()),
        ("34", "")
    );
    assert_eq!(claimed["unbounded"], "1");
}

#[tokio::test]
async fn stats_take_every_list_filter() {
    let app = spawn_app().await;
    casualty_events(&app).await;
    app.create_event(&with(
        event("elsewhere", "2022-01-06T10:00:00Z"),
        json!({"location": {"name": "Bishkek", "country_code": "KG", "lat": 42.87, "lon": 74.59},
               "casualties": [{"kind": "killed", "party": "protesters", "min": 1, "max": 1, "status": "claimed"}]}),
    ))
    .await;
    let all = histogram(&app, "").await;
    assert_eq!(counts(&all).iter().sum::<i64>(), 4);
    let searched = histogram(&app, "q=morning").await;
    assert_eq!(counts(&searched).iter().sum::<i64>(), 1);
    let boxed = histogram(&app, "bbox=74,42,75,43").await;
    assert_eq!(counts(&boxed).iter().sum::<i64>(), 1);
    let kg = app.get("/v1/stats/casualties?country=KG").await.body;
    assert_eq!(kg["rows"].as_array().unwrap().len(), 1);
    assert_eq!(kg["rows"][0]["min_sum"], 1);
    let dated = histogram(&app, "from=2022-01-06&type=armed_clash").await;
    assert_eq!(counts(&dated), [1]);
}
