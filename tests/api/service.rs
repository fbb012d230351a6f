use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body["status"], "ready");
}

#[tokio::test]
async fn the_served_spec_is_the_committed_one() {
    let app = spawn_app().await;
    let reply = app.get("/openapi.json").await;
    assert_eq!(reply.status, 200);
    let committed: serde_json::Value =
        serde_json::from_str(include_str!("../../openapi/openapi.json"))
            .expect("committed spec is JSON");
    assert_eq!(reply.body, committed);
    assert!(reply.body["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;
    let redirect = app.get("/docs").await;
    assert_eq!(redirect.status, 308);
    assert_eq!(redirect.header("location"), Some("/docs/"));
    let page = app.get("/docs/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("swagger-ui"),
        "{}",
        &page.text[..page.text.len().min(200)]
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problem_json() {
    let app = spawn_app().await;
    let missing = app.get("/v1/nothing-here").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type(), "application/problem+json");
    let wrong_method = app.send(app.client.put(app.url("/v1/events"))).await;
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.content_type(), "application/problem+json");
}
