//! `q=` full-text search, `sort=relevance` and `bbox=`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, event, spawn_app, with};

async fn written(app: &TestApp, title: &str, summary: &str, language: Option<&str>, start: &str) {
    app.create_event(&with(
        event(title, start),
        json!({"summary": summary, "language": language}),
    ))
    .await;
}

/// An English, a German and an untagged event about the same night.
async fn reports(app: &TestApp) {
    written(
        app,
        "Protesters killed in Almaty",
        "Police say dozens of protesters were killed during the night.",
        Some("en"),
        "2022-01-05T00:00:00Z",
    )
    .await;
    written(
        app,
        "Polizei tötet Dutzende Demonstranten",
        "In Almaty wurden in der Nacht Demonstranten getötet, sagt die Polizei.",
        Some("de-DE"),
        "2022-01-06T00:00:00Z",
    )
    .await;
    written(
        app,
        "Banks closed",
        "All banks in Almaty suspended operations.",
        None,
        "2022-01-07T00:00:00Z",
    )
    .await;
}

#[tokio::test]
async fn q_matches_title_and_summary_stemmed_in_the_events_language() {
    let app = spawn_app().await;
    reports(&app).await;
    // English stemming: "kill" finds "killed", "protester" finds "Protesters".
    assert_eq!(
        app.titles("q=kill%20protester").await,
        ["Protesters killed in Almaty"]
    );
    // German stemming: "Demonstrant" finds "Demonstranten", "tötet" finds "getötet" in the summary.
    assert_eq!(
        app.titles("q=Demonstrant").await,
        ["Polizei tötet Dutzende Demonstranten"]
    );
    assert_eq!(
        app.titles("q=NACHT").await,
        ["Polizei tötet Dutzende Demonstranten"],
        "case-insensitive"
    );
    // Summary only.
    assert_eq!(app.titles("q=suspended").await, ["Banks closed"]);
}

#[tokio::test]
async fn q_finds_events_in_every_language() {
    let app = spawn_app().await;
    reports(&app).await;
    assert_eq!(app.titles("q=almaty").await.len(), 3);
    assert_eq!(app.titles("q=Polizei%20OR%20police").await.len(), 2);
    // Without a language an event is matched by its exact words: no stemming to guess.
    assert_eq!(app.titles("q=banks").await, ["Banks closed"]);
    assert!(app.titles("q=bank").await.is_empty());
    // A word is stemmed by the event's language only: the German stem of "killed"
    // does not make the German event match.
    assert_eq!(
        app.titles("q=killed").await,
        ["Protesters killed in Almaty"]
    );
}

#[tokio::test]
async fn q_understands_web_search_syntax() {
    let app = spawn_app().await;
    reports(&app).await;
    assert_eq!(
        app.titles("q=almaty%20-banks").await,
        [
            "Protesters killed in Almaty",
            "Polizei tötet Dutzende Demonstranten"
        ]
    );
    assert_eq!(
        app.titles("q=%22banks%20in%20almaty%22").await,
        ["Banks closed"],
        "a quoted phrase"
    );
    assert!(app.titles("q=%22almaty%20banks%22").await.is_empty());
    assert!(
        app.titles("q=the").await.is_empty(),
        "stop words alone match nothing"
    );
}

#[tokio::test]
async fn q_combines_with_every_other_filter_and_the_timeline_list() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    reports(&app).await;
    app.create_event(&with(
        event("Protesters killed in Bishkek", "2022-01-06T00:00:00Z"),
        json!({"type": "casualties", "language": "en", "timelines": ["kz"],
               "location": {"name": "Bishkek", "country_code": "KG"}}),
    ))
    .await;
    assert_eq!(app.titles("q=killed").await.len(), 2);
    assert_eq!(
        app.titles("q=killed&country=KZ").await,
        ["Protesters killed in Almaty"]
    );
    assert_eq!(
        app.titles("q=killed&type=casualties").await,
        ["Protesters killed in Bishkek"]
    );
    assert_eq!(
        app.titles("q=killed&from=2022-01-06").await,
        ["Protesters killed in Bishkek"]
    );
    let timeline = app.get("/v1/timelines/kz/events?q=killed").await;
    assert_eq!(
        timeline.column("title"),
        [json!("Protesters killed in Bishkek")]
    );
}

#[tokio::test]
async fn sort_by_relevance_ranks_best_first_and_pages_each_match_once() {
    let app = spawn_app().await;
    // Title matches (weight A) rank above summary-only matches (weight B).
    for i in 0..4 {
        written(
            &app,
            &format!("Curfew {i}"),
            "Streets empty.",
            Some("en"),
            &format!("2022-01-0{}T00:00:00Z", i + 1),
        )
        .await;
        written(
            &app,
            &format!("Night {i}"),
            "A curfew was declared.",
            Some("en"),
            &format!("2022-01-0{}T00:00:00Z", i + 1),
        )
        .await;
    }
    written(
        &app,
        "Unrelated",
        "Nothing to see.",
        Some("en"),
        "2022-01-01T00:00:00Z",
    )
    .await;
    let all = app.titles("q=curfew&sort=relevance&limit=50").await;
    assert_eq!(
        all,
        [
            "Curfew 0", "Curfew 1", "Curfew 2", "Curfew 3", "Night 0", "Night 1", "Night 2",
            "Night 3"
        ],
        "rank, then date"
    );
    let mut paged = Vec::new();
    let mut url = "/v1/events?q=curfew&sort=relevance&limit=3".to_owned();
    loop {
        let reply = app.get(&url).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        paged.extend(
            reply
                .column("title")
                .into_iter()
                .map(|t| t.as_str().unwrap().to_owned()),
        );
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => {
                url = format!("/v1/events?q=curfew&sort=relevance&limit=3&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(paged, all);
    let ndjson = app
        .get("/v1/events?q=curfew&sort=relevance&format=ndjson")
        .await;
    let streamed: Vec<String> = ndjson
        .text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["title"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(streamed, all);
}

#[tokio::test]
async fn relevance_needs_q_and_cursors_do_not_cross_sort_orders() {
    let app = spawn_app().await;
    app.get("/v1/events?sort=relevance")
        .await
        .assert_problem(400, "sort");
    for i in 0..3 {
        written(
            &app,
            &format!("Curfew {i}"),
            "",
            Some("en"),
            "2022-01-01T00:00:00Z",
        )
        .await;
    }
    let ranked = app.get("/v1/events?q=curfew&sort=relevance&limit=1").await;
    let cursor = ranked.body["next_cursor"].as_str().unwrap();
    app.get(&format!("/v1/events?q=curfew&limit=1&cursor={cursor}"))
        .await
        .assert_problem(400, "cursor");
}

#[tokio::test]
async fn bad_search_text_is_400_naming_q() {
    let app = spawn_app().await;
    let long = "a".repeat(501);
    for q in ["", "%20%20", &long, "a%00b"] {
        app.get(&format!("/v1/events?q={q}"))
            .await
            .assert_problem(400, "q");
    }
}

async fn places(app: &TestApp) {
    let at = |title: &str, lon: f64, lat: f64| {
        with(
            event(title, "2022-01-05T00:00:00Z"),
            json!({"location": {"name": title, "country_code": "KZ", "lat": lat, "lon": lon}}),
        )
    };
    for e in [
        at("almaty", 76.8897, 43.2389),
        at("astana", 71.4491, 51.1694),
        at("edge", 77.0, 43.0),
        at("fiji", 179.5, -17.0),
        at("samoa", -172.0, -13.8),
    ] {
        app.create_event(&e).await;
    }
    app.create_event(&with(
        event("unplaced", "2022-01-05T00:00:00Z"),
        json!({"location": {"name": "Kazakhstan", "country_code": "KZ"}}),
    ))
    .await;
}

#[tokio::test]
async fn bbox_keeps_events_inside_the_box_edges_included() {
    let app = spawn_app().await;
    places(&app).await;
    assert_eq!(app.titles("bbox=76,43,77,44").await, ["almaty", "edge"]);
    assert_eq!(app.titles("bbox=70,40,80,55&q=astana").await, ["astana"]);
    assert_eq!(
        app.titles("bbox=-180,-90,180,90").await.len(),
        5,
        "not the unplaced one"
    );
}

#[tokio::test]
async fn a_bbox_may_cross_the_antimeridian() {
    let app = spawn_app().await;
    places(&app).await;
    assert_eq!(app.titles("bbox=170,-20,-170,0").await, ["fiji", "samoa"]);
    assert_eq!(app.titles("bbox=179,-20,-179,0").await, ["fiji"]);
}

#[tokio::test]
async fn bad_bboxes_are_400_naming_bbox() {
    let app = spawn_app().await;
    for bbox in [
        "1,2,3",
        "1,2,3,4,5",
        "a,b,c,d",
        "NaN,0,1,1",
        "-181,0,0,1",
        "0,-91,1,1",
        "0,10,1,5",
        "",
    ] {
        app.get(&format!("/v1/events?bbox={bbox}"))
            .await
            .assert_problem(400, "bbox");
    }
}

#[tokio::test]
async fn bbox_and_q_combine_with_type_timeline_and_formats() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    places(&app).await;
    app.create_event(&with(
        event("almaty riot", "2022-01-05T00:00:00Z"),
        json!({"type": "riot", "timelines": ["kz"], "summary": "Shops looted near the square."}),
    ))
    .await;
    assert_eq!(
        app.titles("bbox=76,43,77,44&type=riot").await,
        ["almaty riot"]
    );
    assert_eq!(
        app.titles("bbox=76,43,77,44&q=looted").await,
        ["almaty riot"]
    );
    let geo = app
        .get("/v1/timelines/kz/events?format=geojson&bbox=76,43,77,44&q=shops")
        .await;
    assert_eq!(geo.status, 200, "{}", geo.text);
    assert_eq!(geo.body["features"].as_array().unwrap().len(), 1);
}
