//! Several servers on one database keep the limits of one: export and
//! import slots are Postgres advisory locks, not counts in one process.

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::time::{Duration, Instant};

use crate::helpers::{Reply, TestApp, spawn_app_with};

/// Starts an NDJSON export at `base` and keeps it streaming (unread) until
/// the response is dropped.
async fn start_export(client: &reqwest::Client, base: &str) -> reqwest::Response {
    let response = client
        .get(format!("{base}/v1/events?format=ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

#[track_caller]
fn assert_exports_full(reply: &Reply) {
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(reply.text.contains("CHRONIK_MAX_EXPORTS"), "{}", reply.text);
}

/// Waits until an export at `base` is accepted again, at most 30 seconds.
async fn wait_for_a_free_slot(app: &TestApp, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let retry = app
            .client
            .get(format!("{base}/v1/events?format=ndjson&from=2030-01-01"))
            .send()
            .await
            .unwrap();
        if retry.status() == 200 {
            return;
        }
        assert_eq!(retry.status(), 503);
        assert!(Instant::now() < deadline, "the ended export kept its slot");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn two_servers_on_one_database_together_run_at_most_max_exports() {
    let app = spawn_app_with(|config| config.max_exports = Some(2)).await;
    let other = app.another_instance();
    // About 30 MB of NDJSON each: unread, the exports keep streaming.
    app.insert_bulk_events(30_000, 1_000).await;
    let first = start_export(&app.client, &app.address).await;
    let second = start_export(&app.client, &other.address).await;
    // Each server runs one of its two: the limit is the two servers' together.
    let csv = "/v1/events?format=csv&stream=all";
    assert_exports_full(&app.get(csv).await);
    assert_exports_full(&app.send(app.client.get(other.url(csv))).await);
    // Paged reads are not exports.
    assert_eq!(app.get("/v1/events?format=csv&limit=1").await.status, 200);
    // An export ending on one server frees a slot for the other.
    drop(first);
    wait_for_a_free_slot(&app, &other.address).await;
    drop(second);
}

/// A slot held by a session that ends without giving it back (its process
/// killed, say) is free again: Postgres releases a session's advisory locks.
#[tokio::test]
async fn a_slot_held_by_a_session_that_ended_is_free_again() {
    let app = spawn_app_with(|config| config.max_exports = Some(1)).await;
    let mut holder = AsyncPgConnection::establish(&app.config.database_url)
        .await
        .unwrap();
    diesel::sql_query(format!(
        "SELECT pg_advisory_lock({}, 0)",
        chronik::db::slots::EXPORTS
    ))
    .execute(&mut holder)
    .await
    .unwrap();
    assert_exports_full(&app.get("/v1/events?format=ndjson").await);
    drop(holder);
    wait_for_a_free_slot(&app, &app.address).await;
}
