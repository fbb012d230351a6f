//! A filter value from a closed vocabulary that names nothing is a `400`
//! naming the field, never an empty list that looks like an answer.

use serde_json::json;

use crate::helpers::{TestApp, event, spawn_app};

#[track_caller]
fn assert_refused_naming(reply: &crate::helpers::Reply, field: &str, says: &str) {
    reply.assert_problem(400, field);
    assert!(reply.text.contains(says), "{}", reply.text);
}

async fn one_protest(app: &TestApp) {
    app.create_timeline("kz").await;
    let mut protest = event("Protest in Zhanaozen", "2022-01-02T10:00:00+06:00");
    protest["type"] = json!("protest");
    protest["timelines"] = json!(["kz"]);
    app.create_event(&protest).await;
}

#[tokio::test]
async fn an_unknown_event_type_is_refused_with_the_closest_known_one() {
    let app = spawn_app().await;
    let reply = app.get("/v1/events?type=protets").await;
    assert_refused_naming(&reply, "type", "did you mean `protest`?");
}

#[tokio::test]
async fn an_unknown_event_type_is_refused_with_the_known_ones() {
    let app = spawn_app().await;
    let reply = app.get("/v1/events?type=battle").await;
    assert_refused_naming(&reply, "type", "unknown event type `battle`");
    assert!(reply.text.contains("armed_clash, arrest"), "{}", reply.text);
}

#[tokio::test]
async fn one_unknown_type_among_known_ones_is_refused() {
    let app = spawn_app().await;
    one_protest(&app).await;
    let reply = app.get("/v1/events?type=protest,battle").await;
    assert_refused_naming(&reply, "type", "`battle`");
    assert_eq!(
        app.get("/v1/events?type=protest")
            .await
            .column("title")
            .len(),
        1
    );
}

#[tokio::test]
async fn a_type_created_while_serving_is_accepted_at_once() {
    let app = spawn_app().await;
    assert_eq!(app.get("/v1/events?type=protest").await.status, 200);
    let created = app
        .post(
            "/v1/event-types",
            &json!({"slug": "blockade", "label": "Blockade"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let reply = app.get("/v1/events?type=blockade").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

#[tokio::test]
async fn an_unknown_timeline_is_refused() {
    let app = spawn_app().await;
    one_protest(&app).await;
    let reply = app.get("/v1/events?timeline=nope").await;
    assert_refused_naming(&reply, "timeline", "no timeline has the slug `nope`");
    assert_eq!(app.get("/v1/events?timeline=kz").await.status, 200);
}

#[tokio::test]
async fn a_deleted_timeline_is_refused_too() {
    let app = spawn_app().await;
    one_protest(&app).await;
    assert_eq!(app.delete("/v1/timelines/kz").await.status, 204);
    let reply = app.get("/v1/events?timeline=kz").await;
    assert_refused_naming(&reply, "timeline", "`kz`");
}

#[tokio::test]
async fn exports_statistics_and_timeline_lists_refuse_unknown_values_too() {
    let app = spawn_app().await;
    one_protest(&app).await;
    for (path, field) in [
        ("/v1/events?type=battle&format=ndjson", "type"),
        ("/v1/events?type=battle&format=csv&stream=all", "type"),
        ("/v1/events?timeline=nope&format=geojson", "timeline"),
        ("/v1/timelines/kz/events?type=battle", "type"),
        ("/v1/stats/histogram?type=battle", "type"),
        ("/v1/stats/casualties?timeline=nope", "timeline"),
        ("/v1/events?type=battle&as_of=2022-01-06T06:00:00Z", "type"),
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, 400, "{path}: {}", reply.text);
        reply.assert_problem(400, field);
    }
}

#[tokio::test]
async fn an_empty_page_names_the_free_text_values_that_match_nothing_anywhere() {
    let app = spawn_app().await;
    let mut deployment = event("CSTO troops arrive", "2022-01-06T10:00:00+06:00");
    deployment["actors"] = json!([{"name": "CSTO"}]);
    deployment["tags"] = json!(["almaty"]);
    app.create_event(&deployment).await;

    let reply = app.get("/v1/events?actor=Tokaev&tag=almaty,almatyy").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["data"], json!([]));
    assert_eq!(
        reply.body["meta"]["unmatched"],
        json!([
            {"field": "actor", "value": "Tokaev", "message": "no actor has this name (GET /v1/actors?q= finds names)"},
            {"field": "tag", "value": "almatyy", "message": "no event has this tag"},
        ])
    );
    // Empty because of the window, not the names: nothing to point at.
    let reply = app
        .get("/v1/events?actor=csto&tag=almaty&from=2030-01-01")
        .await;
    assert_eq!(reply.body["data"], json!([]));
    assert!(reply.body.get("meta").is_none(), "{}", reply.text);
    // A page with events carries no meta.
    let reply = app.get("/v1/events?actor=CSTO").await;
    assert_eq!(reply.column("title").len(), 1);
    assert!(reply.body.get("meta").is_none(), "{}", reply.text);
}
