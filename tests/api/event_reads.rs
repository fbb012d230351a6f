use crate::helpers::spawn_app;

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
