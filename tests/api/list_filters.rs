use serde_json::{Value, json};

use crate::helpers::{TestApp, event, spawn_app, with};

/// Three events around the day boundaries of 2022-01-05 (UTC), precise to
/// the second: a vaguer precision would stretch each over its whole period.
async fn boundary_events(app: &TestApp) {
    let precise = |e: Value| with(e, json!({"precision": "second"}));
    // Ends exactly at the first instant of the 5th.
    app.create_event(&precise(with(
        event("ends-at-midnight", "2022-01-04T20:00:00Z"),
        json!({"occurred_end": "2022-01-05T00:00:00Z"}),
    )))
    .await;
    // The last microsecond of the 5th.
    app.create_event(&precise(event(
        "last-instant",
        "2022-01-05T23:59:59.999999Z",
    )))
    .await;
    // The first instant of the 6th.
    app.create_event(&precise(event("next-day", "2022-01-06T00:00:00Z")))
        .await;
}

#[tokio::test]
async fn date_only_bounds_are_inclusive_whole_days() {
    let app = spawn_app().await;
    boundary_events(&app).await;
    assert_eq!(
        app.titles("from=2022-01-05&to=2022-01-05").await,
        ["ends-at-midnight", "last-instant"]
    );
    assert_eq!(app.titles("from=2022-01-06").await, ["next-day"]);
    assert_eq!(app.titles("to=2022-01-04").await, ["ends-at-midnight"]);
}

#[tokio::test]
async fn datetime_bounds_are_inclusive_instants() {
    let app = spawn_app().await;
    boundary_events(&app).await;
    assert_eq!(
        app.titles("from=2022-01-06T00:00:00Z&to=2022-01-06T00:00:00Z")
            .await,
        ["next-day"]
    );
    // An offset is honoured: 06:00+06:00 is midnight UTC.
    assert_eq!(
        app.titles("to=2022-01-05T06:00:00%2B06:00").await,
        ["ends-at-midnight"]
    );
}

#[tokio::test]
async fn tz_shifts_date_only_bounds() {
    let app = spawn_app().await;
    boundary_events(&app).await;
    // 2022-01-06 in Almaty (UTC+6) is 2022-01-05T18:00Z .. 2022-01-06T17:59:59.999999Z.
    assert_eq!(
        app.titles("from=2022-01-06&to=2022-01-06&tz=Asia/Almaty")
            .await,
        ["last-instant", "next-day"]
    );
}

#[tokio::test]
async fn events_spanning_the_window_match_by_overlap() {
    let app = spawn_app().await;
    app.create_event(&with(
        event("whole-week", "2022-01-01T00:00:00Z"),
        json!({"occurred_end": "2022-01-08T00:00:00Z"}),
    ))
    .await;
    assert_eq!(
        app.titles("from=2022-01-05&to=2022-01-06").await,
        ["whole-week"]
    );
    assert!(app.titles("from=2022-01-09").await.is_empty());
}

#[tokio::test]
async fn an_event_that_began_years_before_the_window_still_overlaps_it() {
    let app = spawn_app().await;
    for day in 1..=9 {
        app.create_event(&event(
            &format!("day {day}"),
            &format!("2022-01-0{day}T12:00:00Z"),
        ))
        .await;
    }
    let long = app
        .create_event(&with(
            event("years-long", "2019-01-01T00:00:00Z"),
            json!({"occurred_end": "2022-01-05T00:00:00Z"}),
        ))
        .await;
    let window = "from=2022-01-05&to=2022-01-06";
    assert_eq!(app.titles(window).await, ["years-long", "day 5", "day 6"]);
    let until = "2022-01-05T00:00:00Z";
    let as_of = format!(
        "as_of={}",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );
    assert_eq!(
        app.titles(&format!("{window}&{}", as_of.replace('+', "%2B")))
            .await,
        ["years-long", "day 5", "day 6"],
        "as of now, from history"
    );
    // Shortened, it no longer reaches the window; the bound follows.
    let path = format!("/v1/events/{}", long["id"].as_str().unwrap());
    let reply = app
        .patch(&path, &json!({"occurred_end": "2019-02-01T00:00:00Z"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(app.titles(window).await, ["day 5", "day 6"]);
    // Only "day 5" (precision day, so all of the 5th) holds that instant now.
    assert_eq!(
        app.titles(&format!("from={until}&to={until}")).await,
        ["day 5"]
    );
}

async fn varied_events(app: &TestApp) {
    app.create_timeline("kz").await;
    let events: [Value; 4] = [
        with(
            event("deploy", "2022-01-06T00:00:00Z"),
            json!({"type": "military_deployment", "actors": [{"name": "CSTO"}], "tags": ["csto"], "timelines": ["kz"]}),
        ),
        with(
            event("deaths", "2022-01-05T20:00:00Z"),
            json!({"type": "casualties", "status": "confirmed", "tags": ["almaty"], "timelines": ["kz"]}),
        ),
        with(
            event("elsewhere", "2022-01-06T00:00:00Z"),
            json!({"type": "casualties", "location": {"name": "Bishkek", "country_code": "KG"}}),
        ),
        with(
            event("protest", "2022-01-04T00:00:00Z"),
            json!({"tags": ["almaty", "zhanaozen"]}),
        ),
    ];
    for e in &events {
        app.create_event(e).await;
    }
}

#[tokio::test]
async fn type_country_and_date_filters_combine() {
    let app = spawn_app().await;
    varied_events(&app).await;
    assert_eq!(
        app.titles("from=2022-01-05&to=2022-01-07&type=casualties,military_deployment&country=KZ")
            .await,
        ["deaths", "deploy"]
    );
    assert_eq!(app.titles("country=kg").await, ["elsewhere"]);
}

#[tokio::test]
async fn actor_filter_is_case_insensitive() {
    let app = spawn_app().await;
    varied_events(&app).await;
    assert_eq!(app.titles("actor=csto").await, ["deploy"]);
    assert!(app.titles("actor=nobody").await.is_empty());
}

#[tokio::test]
async fn tag_timeline_and_status_filters() {
    let app = spawn_app().await;
    varied_events(&app).await;
    assert_eq!(app.titles("tag=almaty").await, ["protest", "deaths"]);
    assert_eq!(
        app.titles("tag=zhanaozen,csto").await,
        ["protest", "deploy"]
    );
    assert_eq!(app.titles("timeline=kz").await, ["deaths", "deploy"]);
    assert_eq!(app.titles("status=confirmed").await, ["deaths"]);
    assert_eq!(app.titles("status=reported,confirmed").await.len(), 4);
}

#[tokio::test]
async fn sort_desc_reverses_the_order() {
    let app = spawn_app().await;
    varied_events(&app).await;
    let asc = app.titles("sort=asc").await;
    let mut desc = app.titles("sort=desc").await;
    desc.reverse();
    assert_eq!(asc, desc);
    assert_eq!(asc[0], "protest");
}

#[tokio::test]
async fn bad_parameters_are_400_naming_each() {
    let app = spawn_app().await;
    let cases = [
        ("from=yesterday", "from"),
        ("to=2022-13-01", "to"),
        ("from=2022-01-07&to=2022-01-05", "from"),
        ("from=2022-01-05T10:00:00", "from"),
        ("tz=Mars/Base", "tz"),
        ("type=Not%20A%20Type", "type"),
        ("country=XX", "country"),
        ("status=rumoured", "status"),
        ("sort=sideways", "sort"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cursor=bogus", "cursor"),
        ("colour=red", "colour"),
        ("type=riot&type=protest", "type"),
    ];
    for (query, field) in cases {
        let reply = app.get(&format!("/v1/events?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.text);
        reply.assert_problem(400, field);
    }
}

#[tokio::test]
async fn a_day_that_does_not_exist_and_a_sloppy_date_are_400_saying_so() {
    let app = spawn_app().await;
    let no_such_day = app.get("/v1/events?from=2022-02-30").await;
    no_such_day.assert_problem(400, "from");
    assert!(
        no_such_day
            .text
            .contains("that day does not exist: 2022-02 has 28 days"),
        "{}",
        no_such_day.text
    );
    let sloppy = app.get("/v1/events?to=2022-1-5").await;
    sloppy.assert_problem(400, "to");
    assert!(sloppy.text.contains("YYYY-MM-DD"), "{}", sloppy.text);
}

#[tokio::test]
async fn a_repeated_parameter_is_400_naming_it_in_plain_words() {
    let app = spawn_app().await;
    let reply = app.get("/v1/events?from=2022-01-05&from=2022-01-06").await;
    reply.assert_problem(400, "from");
    assert!(
        reply.text.contains("`from` is given twice; give it once"),
        "{}",
        reply.text
    );
    assert!(!reply.text.contains("deserialize"), "{}", reply.text);
}
