use futures_util::future::join_all;
use serde_json::json;

use crate::helpers::{event, spawn_app};

#[tokio::test]
async fn concurrent_if_match_writers_exactly_one_wins_per_version() {
    let app = spawn_app().await;
    let created = app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let writers = (0..12).map(|i| {
        app.send(
            app.client
                .patch(app.url(&path))
                .header("content-type", "application/merge-patch+json")
                .header("if-match", "\"1\"")
                .body(json!({"title": format!("writer {i}")}).to_string()),
        )
    });
    let replies = join_all(writers).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        11,
        "{statuses:?}"
    );
    assert_eq!(app.get(&path).await.body["version"], 2);
}

#[tokio::test]
async fn concurrent_writers_without_if_match_lose_no_update() {
    let app = spawn_app().await;
    let created = app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    // Each writer changes a different field; all changes must survive.
    let patches = [
        json!({"title": "new title"}),
        json!({"summary": "new summary"}),
        json!({"status": "confirmed"}),
        json!({"tags": ["x"]}),
        json!({"precision": "hour"}),
        json!({"language": "de"}),
    ];
    let replies = join_all(patches.iter().map(|p| app.patch(&path, p))).await;
    assert!(replies.iter().all(|r| r.status == 200));
    let now = app.get(&path).await.body;
    assert_eq!(now["title"], "new title");
    assert_eq!(now["summary"], "new summary");
    assert_eq!(now["status"], "confirmed");
    assert_eq!(now["tags"], json!(["x"]));
    assert_eq!(now["precision"], "hour");
    assert_eq!(now["language"], "de");
    assert_eq!(now["version"], 7);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM events e JOIN event_revisions r ON r.event_id = e.id AND r.version = e.version \
             WHERE r.snapshot::jsonb = (SELECT r2.snapshot::jsonb FROM event_revisions r2 WHERE r2.event_id = e.id ORDER BY version DESC LIMIT 1)"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn concurrent_creates_share_new_actors_and_sources() {
    let app = spawn_app().await;
    let bodies: Vec<_> = (0..10)
        .map(|i| {
            json!({
                "title": format!("e{i}"), "type": "riot", "occurred_start": "2022-01-05T00:00:00Z",
                "actors": [{"name": "Shared Actor"}, {"name": format!("Own {i}")}],
                "sources": [{"url": "https://example.org/shared"}]
            })
        })
        .collect();
    let creates = bodies.iter().map(|body| app.post("/v1/events", body));
    let replies = join_all(creates).await;
    assert!(
        replies.iter().all(|r| r.status == 201),
        "{:?}",
        replies.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM actors WHERE name_key = 'shared actor'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM sources").await, 1);
}
