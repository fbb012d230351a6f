use crate::helpers::{rich_event, spawn_app};

#[tokio::test]
async fn unknown_event_is_404_problem() {
    let app = spawn_app().await;
    let reply = app
        .get("/v1/events/01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01")
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.body["status"], 404);
}

#[tokio::test]
async fn malformed_event_id_is_400_naming_id() {
    let app = spawn_app().await;
    app.get("/v1/events/not-a-uuid")
        .await
        .assert_problem(400, "id");
}

#[tokio::test]
async fn empty_store_lists_no_events_and_no_next_page() {
    let app = spawn_app().await;
    let reply = app.get("/v1/events").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        serde_json::json!({"data": [], "next_cursor": null})
    );
    assert!(reply.header("link").is_none());
}

#[tokio::test]
async fn a_read_serves_exactly_the_event_its_write_returned() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    let created = app.create_event(&rich_event()).await;
    let id = created["id"].as_str().unwrap();
    let one = app.get(&format!("/v1/events/{id}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.content_type(), "application/json");
    assert_eq!(one.header("etag"), Some("\"1\""));
    assert_eq!(one.body, created);
    let page = app.get("/v1/events").await;
    assert_eq!(page.content_type(), "application/json");
    assert_eq!(
        page.body,
        serde_json::json!({"data": [created], "next_cursor": null})
    );
}

#[tokio::test]
async fn a_page_with_more_to_come_names_its_cursor_in_body_and_link() {
    let app = spawn_app().await;
    for day in ["05", "06"] {
        app.create_event(&crate::helpers::event(
            "e",
            &format!("2022-01-{day}T00:00:00Z"),
        ))
        .await;
    }
    let page = app.get("/v1/events?limit=1").await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let link = page.header("link").unwrap();
    assert!(link.contains(&format!("cursor={cursor}")), "{link}");
    assert_eq!(page.body["data"].as_array().unwrap().len(), 1);
    let last = app
        .get(&format!("/v1/events?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(
        last.body["data"][0]["occurred_start"],
        "2022-01-06T00:00:00Z"
    );
    assert_eq!(last.body["next_cursor"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_create_answers_the_event_as_stored_where_the_store_normalizes_the_input() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    app.create_timeline("almaty").await;
    app.create_event(&crate::helpers::with(
        crate::helpers::event("first", "2022-01-05T00:00:00Z"),
        serde_json::json!({"actors": [{"name": "CSTO"}]}),
    ))
    .await;
    // Another spelling of a stored actor, nanoseconds Postgres does not keep,
    // and timelines out of order.
    let created = app
        .create_event(&crate::helpers::with(
            crate::helpers::event("second", "2022-01-05T10:00:00.123456789+06:00"),
            serde_json::json!({
                "occurred_end": "2022-01-05T11:00:00.999999999Z",
                "actors": [{"name": "csto", "role": "deployed"}],
                "sources": [{"url": "https://example.org/live", "published_at": "2022-01-05T12:00:00.5555555Z"}],
                "timelines": ["kz", "almaty"],
            }),
        ))
        .await;
    assert_eq!(created["actors"][0]["name"], "CSTO");
    assert_eq!(created["occurred_start"], "2022-01-05T04:00:00.123456Z");
    let id = created["id"].as_str().unwrap();
    let read = app.get(&format!("/v1/events/{id}")).await;
    assert_eq!(read.body, created);
    let revision = app.get(&format!("/v1/events/{id}/revisions/1")).await;
    assert_eq!(revision.status, 200, "{}", revision.text);
    assert_eq!(revision.body["event"], created, "{}", revision.text);
}
