use serde_json::json;

use crate::helpers::{event, spawn_app, with};

#[tokio::test]
async fn event_types_list_the_seeded_vocabulary() {
    let app = spawn_app().await;
    let reply = app.get("/v1/event-types").await;
    assert_eq!(reply.status, 200);
    let slugs = reply.column("slug");
    for expected in [
        "military_deployment",
        "armed_clash",
        "casualties",
        "protest",
        "riot",
        "looting",
        "arrest",
        "state_of_emergency",
        "curfew",
        "financial_disruption",
        "communications_disruption",
        "official_statement",
        "diplomatic_action",
    ] {
        assert!(slugs.contains(&json!(expected)), "missing {expected}");
    }
}

#[tokio::test]
async fn a_new_event_type_can_be_used_at_once() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/event-types",
            &json!({"slug": "internet_shutdown", "label": "Internet shutdown"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["slug"], "internet_shutdown");
    app.create_event(&with(
        event("t", "2022-01-05T00:00:00Z"),
        json!({"type": "internet_shutdown"}),
    ))
    .await;
    assert_eq!(
        app.post(
            "/v1/event-types",
            &json!({"slug": "internet_shutdown", "label": "x"})
        )
        .await
        .status,
        409
    );
    app.post(
        "/v1/event-types",
        &json!({"slug": "Bad-Slug", "label": "x"}),
    )
    .await
    .assert_problem(422, "slug");
    app.post("/v1/event-types", &json!({"slug": "ok_slug", "label": ""}))
        .await
        .assert_problem(422, "label");
}

#[tokio::test]
async fn actors_are_listed_with_prefix_search_and_paging() {
    let app = spawn_app().await;
    app.create_event(&with(
        event("a", "2022-01-05T00:00:00Z"),
        json!({"actors": [{"name": "Saltanat Azirbek"}, {"name": "Sputnik"}, {"name": "TASS"}]}),
    ))
    .await;
    app.create_event(&with(
        event("b", "2022-01-06T00:00:00Z"),
        json!({"actors": [{"name": "sputnik"}]}),
    ))
    .await;
    let reply = app.get("/v1/actors?q=S").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.column("name"),
        [json!("Saltanat Azirbek"), json!("Sputnik")]
    );
    assert_eq!(reply.column("event_count"), [json!(1), json!(2)]);
    let first = app.get("/v1/actors?limit=2").await;
    assert_eq!(first.column("name").len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/actors?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest.column("name"), [json!("TASS")]);
    assert_eq!(rest.body["next_cursor"], json!(null));
    assert!(
        app.get("/v1/actors?q=%25").await.column("name").is_empty(),
        "LIKE wildcards match literally"
    );
    app.get("/v1/actors?limit=0")
        .await
        .assert_problem(400, "limit");
}
