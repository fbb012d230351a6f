//! `count=`: how many events match in all, on a JSON page.

use serde_json::json;

use crate::helpers::{TestApp, event, spawn_app};

async fn three_events(app: &TestApp) {
    for (title, kind) in [("a", "protest"), ("b", "protest"), ("c", "riot")] {
        let mut e = event(title, "2022-01-05T10:00:00+06:00");
        e["type"] = json!(kind);
        app.create_event(&e).await;
    }
}

#[tokio::test]
async fn an_exact_count_is_the_number_of_all_matches_on_every_page() {
    let app = spawn_app().await;
    three_events(&app).await;
    let first = app.get("/v1/events?type=protest&limit=1&count=exact").await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["total"], json!({"value": 2, "estimated": false}));
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!(
            "/v1/events?type=protest&limit=1&count=exact&cursor={cursor}"
        ))
        .await;
    assert_eq!(second.body["total"]["value"], 2);
    let as_of = app
        .get("/v1/events?count=exact&as_of=2000-01-01T00:00:00Z")
        .await;
    assert_eq!(as_of.body["total"]["value"], 0, "{}", as_of.text);
}

#[tokio::test]
async fn an_estimated_count_says_it_is_one() {
    let app = spawn_app().await;
    three_events(&app).await;
    let reply = app.get("/v1/events?type=protest&count=estimated").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["total"]["estimated"], true);
    assert!(
        reply.body["total"]["value"]
            .as_i64()
            .is_some_and(|n| n >= 0)
    );
}

#[tokio::test]
async fn without_count_a_page_has_no_total() {
    let app = spawn_app().await;
    three_events(&app).await;
    let reply = app.get("/v1/events").await;
    assert!(reply.body.get("total").is_none(), "{}", reply.text);
}

#[tokio::test]
async fn count_is_refused_where_it_cannot_be_given() {
    let app = spawn_app().await;
    app.get("/v1/events?count=all")
        .await
        .assert_problem(400, "count");
    app.get("/v1/events?count=exact&format=csv")
        .await
        .assert_problem(400, "count");
    app.get("/v1/events?count=exact&format=ndjson")
        .await
        .assert_problem(400, "count");
}
