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

#[tokio::test]
async fn requests_after_postgres_closed_the_servers_connections_succeed() {
    let app = spawn_app().await;
    // Reads and writes open connections in both workers' pools.
    for i in 0..8 {
        app.assert_requests_served(&format!("Before {i}")).await;
    }
    let others = "SELECT count(*) AS n FROM pg_stat_activity \
                  WHERE datname = current_database() AND pid <> pg_backend_pid()";
    assert!(app.count(others).await > 0);
    // What a Postgres restart or an idle-connection timeout does to them.
    app.count(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.count(others).await > 0 {
        assert!(std::time::Instant::now() < deadline, "backends still there");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The closed sockets reach the connections' tasks at once; a moment for them to see it.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for i in 0..8 {
        app.assert_requests_served(&format!("After {i}")).await;
    }
}
