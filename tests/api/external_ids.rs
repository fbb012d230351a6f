//! Finding events by the id another system gave them (`external_id`).

use serde_json::json;

use crate::helpers::{TestApp, event, spawn_app};

async fn acled_event(app: &TestApp, external_id: &str) -> serde_json::Value {
    let mut acled = event("Protesters storm the akimat", "2022-01-05T15:00:00+06:00");
    acled["external_id"] = json!(external_id);
    app.create_event(&acled).await
}

#[tokio::test]
async fn an_event_is_found_by_its_external_id() {
    let app = spawn_app().await;
    let created = acled_event(&app, "KAZ9002").await;
    acled_event(&app, "KAZ9003").await;
    let reply = app.get("/v1/events/by-external-id/KAZ9002").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body, created);
    assert_eq!(reply.header("etag"), Some("\"1\""));
    let own_url = format!("/v1/events/{}", created["id"].as_str().unwrap());
    assert_eq!(reply.header("content-location"), Some(own_url.as_str()));
}

#[tokio::test]
async fn an_external_id_with_reserved_characters_is_found_percent_encoded() {
    let app = spawn_app().await;
    let created = acled_event(&app, "ACLED 9002/b?x").await;
    let reply = app
        .get("/v1/events/by-external-id/ACLED%209002%2Fb%3Fx")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["id"], created["id"]);
}

#[tokio::test]
async fn an_unknown_or_deleted_external_id_is_404() {
    let app = spawn_app().await;
    let created = acled_event(&app, "KAZ9002").await;
    let reply = app.get("/v1/events/by-external-id/KAZ0000").await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    assert_eq!(app.delete(&path).await.status, 204);
    let reply = app.get("/v1/events/by-external-id/KAZ9002").await;
    assert_eq!(reply.status, 404, "{}", reply.text);
}

#[tokio::test]
async fn lists_filter_by_external_id_now_and_as_of() {
    let app = spawn_app().await;
    acled_event(&app, "KAZ9002").await;
    acled_event(&app, "KAZ9003").await;
    let reply = app.get("/v1/events?external_id=KAZ9003").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.column("external_id"), vec![json!("KAZ9003")]);
    let as_of = format!(
        "/v1/events?external_id=KAZ9002&as_of={}",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    );
    let reply = app.get(&as_of).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.column("external_id"), vec![json!("KAZ9002")]);
    let reply = app
        .get(&format!("/v1/events?external_id={}", "x".repeat(201)))
        .await;
    reply.assert_problem(400, "external_id");
}
