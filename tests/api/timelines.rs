use serde_json::json;

use crate::helpers::{TestApp, event, spawn_app, with};

#[tokio::test]
async fn create_then_get_a_timeline_with_its_statistics() {
    let app = spawn_app().await;
    let created = app
        .post(
            "/v1/timelines",
            &json!({"slug": "kz", "title": "Kazakhstan", "description": "d"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.header("location"), Some("/v1/timelines/kz"));
    assert_eq!(created.body["event_count"], 0);
    assert_eq!(created.body["first_event_at"], json!(null));
    app.create_event(&with(
        event("a", "2022-01-05T00:00:00Z"),
        json!({"timelines": ["kz"]}),
    ))
    .await;
    app.create_event(&with(
        event("b", "2022-01-06T00:00:00Z"),
        json!({"timelines": ["kz"], "occurred_end": "2022-01-07T12:00:00Z"}),
    ))
    .await;
    let deleted = app
        .create_event(&with(
            event("c", "2023-01-01T00:00:00Z"),
            json!({"timelines": ["kz"]}),
        ))
        .await;
    app.delete(&format!("/v1/events/{}", deleted["id"].as_str().unwrap()))
        .await;
    let reply = app.get("/v1/timelines/kz").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["event_count"], 2);
    assert_eq!(reply.body["first_event_at"], "2022-01-05T00:00:00Z");
    assert_eq!(reply.body["last_event_at"], "2022-01-07T12:00:00Z");
    assert_eq!(app.get("/v1/timelines").await.column("slug"), [json!("kz")]);
}

#[tokio::test]
async fn duplicate_or_invalid_timeline_slugs_are_rejected() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    let dup = app
        .post("/v1/timelines", &json!({"slug": "kz", "title": "again"}))
        .await;
    assert_eq!(dup.status, 409);
    app.post("/v1/timelines", &json!({"slug": "Not Valid", "title": "x"}))
        .await
        .assert_problem(422, "slug");
    app.get("/v1/timelines/Not%20Valid")
        .await
        .assert_problem(400, "slug");
    assert_eq!(app.get("/v1/timelines/missing").await.status, 404);
}

#[tokio::test]
async fn patch_updates_title_and_clears_description() {
    let app = spawn_app().await;
    app.post(
        "/v1/timelines",
        &json!({"slug": "kz", "title": "Old", "description": "d"}),
    )
    .await;
    let reply = app
        .patch(
            "/v1/timelines/kz",
            &json!({"title": "New", "description": null}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["title"], "New");
    assert_eq!(reply.body["description"], json!(null));
    app.patch("/v1/timelines/kz", &json!({"slug": "other"}))
        .await
        .assert_problem(422, "slug");
    assert_eq!(
        app.patch("/v1/timelines/missing", &json!({"title": "x"}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn timeline_events_take_the_same_filters_and_paging() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    for i in 0..5 {
        app.create_event(&with(
            event(&format!("e{i}"), &format!("2022-01-0{}T00:00:00Z", i + 1)),
            json!({"timelines": ["kz"]}),
        ))
        .await;
    }
    app.create_event(&event("off-timeline", "2022-01-03T00:00:00Z"))
        .await;
    let ids = app.all_ids("/v1/timelines/kz/events?limit=2").await;
    assert_eq!(ids.len(), 5);
    let reply = app
        .get("/v1/timelines/kz/events?from=2022-01-02&to=2022-01-03&sort=desc")
        .await;
    assert_eq!(reply.column("title"), [json!("e2"), json!("e1")]);
    assert_eq!(app.get("/v1/timelines/missing/events").await.status, 404);
    app.get("/v1/timelines/kz/events?timeline=other")
        .await
        .assert_problem(400, "timeline");
}

#[tokio::test]
async fn membership_put_and_delete_are_idempotent_and_versioned() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    let e = app.create_event(&event("a", "2022-01-05T00:00:00Z")).await;
    let id = e["id"].as_str().unwrap();
    let path = format!("/v1/timelines/kz/events/{id}");
    assert_eq!(app.send(app.client.put(app.url(&path))).await.status, 204);
    assert_eq!(app.send(app.client.put(app.url(&path))).await.status, 204);
    let after_add = app.get(&format!("/v1/events/{id}")).await;
    assert_eq!(after_add.body["timelines"], json!(["kz"]));
    assert_eq!(after_add.body["version"], 2);
    assert_eq!(app.delete(&path).await.status, 204);
    assert_eq!(app.delete(&path).await.status, 204);
    let after_remove = app.get(&format!("/v1/events/{id}")).await;
    assert_eq!(after_remove.body["timelines"], json!([]));
    assert_eq!(after_remove.body["version"], 3);
    assert_eq!(
        app.send(
            app.client
                .put(app.url("/v1/timelines/missing/events/01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01"))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.send(
            app.client
                .put(app.url("/v1/timelines/kz/events/01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01"))
        )
        .await
        .status,
        404
    );
}

#[tokio::test]
async fn deleting_a_timeline_keeps_its_events_and_records_the_change() {
    let app = spawn_app().await;
    let e = on_two_timelines(&app).await;
    assert_eq!(app.delete("/v1/timelines/kz").await.status, 204);
    assert_eq!(app.get("/v1/timelines/kz").await.status, 404);
    assert_eq!(app.delete("/v1/timelines/kz").await.status, 404);
    let now = app
        .get(&format!("/v1/events/{}", e["id"].as_str().unwrap()))
        .await;
    assert_eq!(now.body["timelines"], json!(["other"]));
    assert_eq!(now.body["version"], 2);
}

#[tokio::test]
async fn rewriting_an_event_without_a_timeline_takes_it_off_that_timeline() {
    let app = spawn_app().await;
    let e = on_two_timelines(&app).await;
    let id = e["id"].as_str().unwrap();
    let patched = app
        .patch(
            &format!("/v1/events/{id}"),
            &json!({"timelines": ["other"]}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["timelines"], json!(["other"]));
    assert!(app.all_ids("/v1/timelines/kz/events").await.is_empty());
    assert_eq!(app.all_ids("/v1/timelines/other/events").await, [id]);
    let replaced = app
        .put(
            &format!("/v1/events/{id}"),
            &event("a", "2022-01-05T00:00:00Z"),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.body["timelines"], json!([]));
    assert!(app.all_ids("/v1/timelines/other/events").await.is_empty());
}

/// Timelines `kz` and `other`, and an event on both (returned as created).
async fn on_two_timelines(app: &TestApp) -> serde_json::Value {
    app.create_timeline("kz").await;
    app.create_timeline("other").await;
    app.create_event(&with(
        event("a", "2022-01-05T00:00:00Z"),
        json!({"timelines": ["kz", "other"]}),
    ))
    .await
}

/// serde reads a struct from an array by position; a body that is not an
/// object is refused instead (it once patched a timeline from `[null, null]`).
#[tokio::test]
async fn a_timeline_patch_that_is_not_an_object_is_refused_naming_the_body() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    let reply = app.patch("/v1/timelines/kz", &json!([null, null])).await;
    reply.assert_problem(422, "body");
    assert_eq!(
        app.get("/v1/timelines/kz").await.body["title"],
        "Timeline kz"
    );
}

#[tokio::test]
async fn a_new_timeline_given_as_an_array_is_refused_naming_the_body() {
    let app = spawn_app().await;
    let reply = app
        .post("/v1/timelines", &json!(["kz", "Kazakhstan", null]))
        .await;
    reply.assert_problem(422, "body");
    assert_eq!(app.get("/v1/timelines/kz").await.status, 404);
}
