//! Polling: every format of the event lists carries an `ETag`, answers a
//! matching `If-None-Match` with `304`, and changes its tag (and body) after
//! every kind of write that changes what it shows.

use serde_json::json;

use crate::helpers::{Reply, TestApp, event, spawn_app, spawn_app_with, with};

/// The timeline's list in every format: JSON and CSV pages, and the
/// whole-result exports.
const FORMATS: [&str; 6] = [
    "/v1/timelines/polled/events?sort=asc",
    "/v1/timelines/polled/events?format=csv",
    "/v1/timelines/polled/events?format=csv&stream=all",
    "/v1/timelines/polled/events?format=ndjson",
    "/v1/timelines/polled/events?format=geojson",
    "/v1/timelines/polled/events?format=timelinejs",
];

/// What a poller holds: the URL, its tag and the body that came with it.
struct Seen {
    path: &'static str,
    tag: String,
    body: String,
}

async fn get_if_none_match(app: &TestApp, path: &str, tag: &str) -> Reply {
    app.send(app.client.get(app.url(path)).header("if-none-match", tag))
        .await
}

/// Reads every format, asserting a tag and a `304` for it while nothing changes.
async fn poll_all(app: &TestApp) -> Vec<Seen> {
    let mut seen = Vec::new();
    for path in FORMATS {
        let first = app.get(path).await;
        assert_eq!(first.status, 200, "{path}: {}", first.text);
        let tag = first.header("etag").expect("an ETag").to_owned();
        let again = get_if_none_match(app, path, &tag).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.text.is_empty(), "{path}: a 304 has no body");
        assert_eq!(again.header("etag"), Some(tag.as_str()), "{path}");
        seen.push(Seen {
            path,
            tag,
            body: first.text,
        });
    }
    seen
}

/// After `what`, every format answers its old tag with a new body and a new tag.
async fn assert_all_changed(app: &TestApp, before: &[Seen], what: &str) {
    for seen in before {
        let now = get_if_none_match(app, seen.path, &seen.tag).await;
        assert_eq!(now.status, 200, "{what}: {}", seen.path);
        assert_ne!(
            now.header("etag"),
            Some(seen.tag.as_str()),
            "{what}: {}",
            seen.path
        );
        assert_ne!(now.text, seen.body, "{what}: {}", seen.path);
    }
}

fn on_timeline(title: &str) -> serde_json::Value {
    with(
        event(title, "2022-01-05T00:00:00Z"),
        json!({"timelines": ["polled"]}),
    )
}

#[tokio::test]
async fn every_format_answers_304_until_a_write_changes_it() {
    let app = spawn_app().await;
    app.create_timeline("polled").await;
    let first = app.create_event(&on_timeline("first")).await;
    let first_id = first["id"].as_str().unwrap().to_owned();
    let seen = poll_all(&app).await;

    let second = app.create_event(&on_timeline("second")).await;
    assert_all_changed(&app, &seen, "create").await;
    let seen = poll_all(&app).await;

    let patched = app
        .patch(
            &format!("/v1/events/{first_id}"),
            &json!({"title": "first, corrected"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_all_changed(&app, &seen, "patch").await;
    let seen = poll_all(&app).await;

    let deleted = app
        .delete(&format!("/v1/events/{}", second["id"].as_str().unwrap()))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_all_changed(&app, &seen, "delete").await;
    let seen = poll_all(&app).await;

    let removed = app
        .delete(&format!("/v1/timelines/polled/events/{first_id}"))
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    assert_all_changed(&app, &seen, "timeline membership").await;
    let seen = poll_all(&app).await;

    let imported = app
        .send(
            app.client
                .post(app.url("/v1/import"))
                .header("content-type", "application/x-ndjson")
                .body(format!("{}\n", on_timeline("imported"))),
        )
        .await;
    assert_eq!(imported.status, 200, "{}", imported.text);
    assert_all_changed(&app, &seen, "import").await;
}

#[tokio::test]
async fn an_export_as_of_the_past_changes_its_tag_when_its_history_is_redacted() {
    let app = spawn_app().await;
    let created = app
        .send(
            app.client
                .post(app.url("/v1/events?known_at=2022-01-06T06:00:00Z"))
                .json(&event("named", "2022-01-05T00:00:00Z")),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let path = format!("/v1/events/{}", created.body["id"].as_str().unwrap());
    assert_eq!(app.delete(&path).await.status, 204);
    let past = "/v1/events?format=ndjson&as_of=2022-01-07T00:00:00Z";
    let before = app.get(past).await;
    assert!(before.text.contains("named"), "{}", before.text);
    let tag = before.header("etag").expect("an ETag").to_owned();
    assert_eq!(get_if_none_match(&app, past, &tag).await.status, 304);
    let redacted = app
        .post(
            &format!("{path}/redaction"),
            &json!({"reason": "a takedown"}),
        )
        .await;
    assert_eq!(redacted.status, 201, "{}", redacted.text);
    let after = get_if_none_match(&app, past, &tag).await;
    assert_eq!(after.status, 200);
    assert_ne!(after.header("etag"), Some(tag.as_str()));
    assert!(!after.text.contains("named"), "{}", after.text);
}

#[tokio::test]
async fn export_tags_differ_between_negotiated_formats() {
    let app = spawn_app().await;
    app.create_event(&event("one", "2022-01-05T00:00:00Z"))
        .await;
    let ndjson = app
        .get_accepting("/v1/events", "application/x-ndjson")
        .await;
    let geojson = app
        .get_accepting("/v1/events", "application/geo+json")
        .await;
    let (Some(ndjson_tag), Some(geojson_tag)) = (ndjson.header("etag"), geojson.header("etag"))
    else {
        panic!("exports without an ETag");
    };
    assert_ne!(ndjson_tag, geojson_tag);
    // A tag is weak: it names the events shown, not the bytes.
    assert!(ndjson_tag.starts_with("W/\""), "{ndjson_tag}");
    let crossed = app
        .send(
            app.client
                .get(app.url("/v1/events"))
                .header("accept", "application/geo+json")
                .header("if-none-match", ndjson_tag),
        )
        .await;
    assert_eq!(crossed.status, 200);
}

#[tokio::test]
async fn a_matching_conditional_export_takes_no_export_slot() {
    let app = spawn_app_with(|config| config.max_exports = Some(1)).await;
    app.insert_bulk_events(30_000, 1_000).await;
    let small = "/v1/events?format=timelinejs&from=2100-01-01";
    let tag = app
        .get(small)
        .await
        .header("etag")
        .expect("an ETag")
        .to_owned();
    // The only slot, held by an export the client reads nothing of.
    let running = app
        .client
        .get(app.url("/v1/events?format=ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(running.status(), 200);
    let unchanged = get_if_none_match(&app, small, &tag).await;
    assert_eq!(unchanged.status, 304, "{}", unchanged.text);
    // Without the tag it is a real export, and there is no slot for it.
    assert_eq!(app.get(small).await.status, 503);
    drop(running);
}

#[tokio::test]
async fn statistics_answer_304_in_every_format() {
    let app = spawn_app().await;
    app.create_event(&event("one", "2022-01-05T00:00:00Z"))
        .await;
    for path in [
        "/v1/stats/histogram",
        "/v1/stats/histogram?format=csv",
        "/v1/stats/casualties",
        "/v1/stats/casualties?format=csv",
    ] {
        let first = app.get(path).await;
        assert_eq!(first.status, 200, "{path}: {}", first.text);
        let tag = first.header("etag").expect("an ETag");
        let again = get_if_none_match(&app, path, tag).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.text.is_empty(), "{path}");
    }
}
