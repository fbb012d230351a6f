use crate::helpers::{TestApp, rich_event, spawn_app};
use serde_json::Value;

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
    assert_stored_rows_hold(&app, &created).await;
}

#[tokio::test]
async fn a_rewrite_answers_the_event_as_stored_where_the_store_normalizes_the_input() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    app.create_timeline("almaty").await;
    app.create_event(&crate::helpers::with(
        crate::helpers::event("first", "2022-01-05T00:00:00Z"),
        serde_json::json!({"actors": [{"name": "CSTO"}]}),
    ))
    .await;
    let created = app
        .create_event(&crate::helpers::event("second", "2022-01-05T00:00:00Z"))
        .await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    // Another spelling of a stored actor, nanoseconds Postgres does not keep,
    // and timelines out of order: through a replacement, then a merge patch.
    let replaced = app
        .put(
            &path,
            &crate::helpers::with(
                crate::helpers::event("second", "2022-01-05T10:00:00.123456789+06:00"),
                serde_json::json!({
                    "actors": [{"name": "csto", "role": "deployed"}],
                    "sources": [{"url": "https://example.org/live", "published_at": "2022-01-05T12:00:00.5555555Z"}],
                    "timelines": ["kz", "almaty"],
                }),
            ),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text);
    assert_eq!(replaced.body["actors"][0]["name"], "CSTO");
    assert_eq!(
        replaced.body["occurred_start"],
        "2022-01-05T04:00:00.123456Z"
    );
    assert_eq!(
        replaced.body["timelines"],
        serde_json::json!(["almaty", "kz"])
    );
    assert_eq!(app.get(&path).await.body, replaced.body);
    assert_stored_rows_hold(&app, &replaced.body).await;
    let revision = app.get(&format!("{path}/revisions/2")).await;
    assert_eq!(revision.body["event"], replaced.body, "{}", revision.text);
    let patched = app
        .patch(
            &path,
            &serde_json::json!({"occurred_end": "2022-01-05T11:00:00.999999999Z", "actors": [{"name": "cStO"}]}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["version"], 3);
    assert_eq!(patched.body["occurred_end"], "2022-01-05T11:00:00.999999Z");
    assert_eq!(patched.body["actors"][0]["name"], "CSTO");
    assert_eq!(patched.body["created_at"], created["created_at"]);
    assert_eq!(app.get(&path).await.body, patched.body);
    assert_stored_rows_hold(&app, &patched.body).await;
    let revision = app.get(&format!("{path}/revisions/3")).await;
    assert_eq!(revision.body["event"], patched.body, "{}", revision.text);
}

/// Asserts that the event's rows (not its snapshot, which reads serve and
/// the write built) hold what a write answered: the clock and version the
/// database gave it, the actors as stored, the citations' times and the
/// memberships.
async fn assert_stored_rows_hold(app: &TestApp, answer: &Value) {
    let time = |v: &Value| match v.as_str() {
        Some(t) => format!("'{t}'::timestamptz"),
        None => "NULL::timestamptz".to_owned(),
    };
    let list = |values: Vec<String>, kind: &str| format!("ARRAY[{}]::{kind}[]", values.join(", "));
    let items = |key: &str| answer[key].as_array().cloned().unwrap_or_default();
    let actors = items("actors")
        .iter()
        .map(|a| format!("'{}'", a["name"].as_str().unwrap_or_default()))
        .collect();
    let published = items("sources")
        .iter()
        .map(|s| time(&s["published_at"]))
        .collect();
    let timelines = items("timelines")
        .iter()
        .map(|t| format!("'{}'", t.as_str().unwrap_or_default()))
        .collect();
    let sql = format!(
        "SELECT count(*) AS n FROM events e WHERE e.id = '{id}' AND e.version = {version} \
         AND e.created_at = {created} AND e.updated_at = {updated} \
         AND e.occurred_start = {start} AND e.occurred_end IS NOT DISTINCT FROM {end} \
         AND ARRAY(SELECT a.name FROM event_actors ea JOIN actors a ON a.id = ea.actor_id \
                   WHERE ea.event_id = e.id ORDER BY ea.position) = {actors} \
         AND ARRAY(SELECT es.published_at FROM event_sources es WHERE es.event_id = e.id \
                   ORDER BY es.position) = {published} \
         AND ARRAY(SELECT t.slug FROM event_timelines et JOIN timelines t ON t.id = et.timeline_id \
                   WHERE et.event_id = e.id ORDER BY t.slug) = {timelines}",
        id = answer["id"].as_str().unwrap_or_default(),
        version = answer["version"],
        created = time(&answer["created_at"]),
        updated = time(&answer["updated_at"]),
        start = time(&answer["occurred_start"]),
        end = time(&answer["occurred_end"]),
        actors = list(actors, "text"),
        published = list(published, "timestamptz"),
        timelines = list(timelines, "text"),
    );
    assert_eq!(app.count(&sql).await, 1, "the rows differ from {answer}");
}
