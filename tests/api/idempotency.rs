//! `Idempotency-Key` on POST: replays, conflicts, expiry.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, event, spawn_app};

async fn post_with_key(app: &TestApp, path: &str, key: &str, body: &Value) -> Reply {
    post_as(app, &app.client, path, key, body).await
}

async fn post_as(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    key: &str,
    body: &Value,
) -> Reply {
    app.send(
        client
            .post(app.url(path))
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

async fn event_count(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM events").await
}

#[tokio::test]
async fn a_retry_gets_the_original_response_and_writes_nothing() {
    let app = spawn_app().await;
    let body = event("once", "2022-01-05T00:00:00Z");
    let first = post_with_key(&app, "/v1/events", "key-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    let retry = post_with_key(&app, "/v1/events", "key-1", &body).await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body, first.body);
    for header in ["location", "etag", "content-type"] {
        assert_eq!(retry.header(header), first.header(header), "{header}");
    }
    assert_eq!(event_count(&app).await, 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM event_revisions").await,
        1
    );
}

#[tokio::test]
async fn the_quoted_structured_field_form_is_the_same_key() {
    let app = spawn_app().await;
    let body = event("once", "2022-01-05T00:00:00Z");
    post_with_key(&app, "/v1/events", "abc", &body).await;
    let retry = post_with_key(&app, "/v1/events", "\"abc\"", &body).await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn the_same_key_with_another_body_or_path_is_422() {
    let app = spawn_app().await;
    let first = post_with_key(&app, "/v1/events", "k", &event("a", "2022-01-05T00:00:00Z")).await;
    assert_eq!(first.status, 201);
    let other_body =
        post_with_key(&app, "/v1/events", "k", &event("b", "2022-01-05T00:00:00Z")).await;
    other_body.assert_problem(422, "Idempotency-Key");
    assert_eq!(
        other_body.body["type"],
        "urn:chronik:problem:idempotency-key-reused"
    );
    let other_path = post_with_key(
        &app,
        "/v1/timelines",
        "k",
        &json!({"slug": "x", "title": "X"}),
    )
    .await;
    other_path.assert_problem(422, "Idempotency-Key");
    assert_eq!(event_count(&app).await, 1);
    assert_eq!(app.get("/v1/timelines/x").await.status, 404);
}

#[tokio::test]
async fn different_keys_are_different_requests() {
    let app = spawn_app().await;
    let body = event("twice", "2022-01-05T00:00:00Z");
    let a = post_with_key(&app, "/v1/events", "a", &body).await;
    let b = post_with_key(&app, "/v1/events", "b", &body).await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(event_count(&app).await, 2);
}

#[tokio::test]
async fn keys_belong_to_their_token() {
    let app = spawn_app().await;
    let other = app.client_with(&app.secret(chronik::models::token::Scope::Write).await);
    let body = event("mine", "2022-01-05T00:00:00Z");
    let mine = post_with_key(&app, "/v1/events", "shared", &body).await;
    let theirs = post_as(&app, &other, "/v1/events", "shared", &body).await;
    assert_eq!((mine.status, theirs.status), (201, 201));
    assert_eq!(theirs.header("idempotent-replayed"), None);
    assert_ne!(mine.body["id"], theirs.body["id"]);
}

#[tokio::test]
async fn failures_are_not_remembered_so_a_retry_can_succeed() {
    let app = spawn_app().await;
    let body = json!({
        "title": "on a timeline that does not exist yet",
        "type": "protest",
        "occurred_start": "2022-01-05T00:00:00Z",
        "timelines": ["later"],
    });
    let failed = post_with_key(&app, "/v1/events", "retry-me", &body).await;
    failed.assert_problem(422, "timelines[0]");
    app.create_timeline("later").await;
    let retry = post_with_key(&app, "/v1/events", "retry-me", &body).await;
    assert_eq!(retry.status, 201, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), None);
}

/// Marks `key` as taken by a request of the admin token that is still running.
async fn in_flight(app: &TestApp, key: &str, body: &Value, started: &str) {
    let body = body.to_string().replace('\'', "''");
    app.execute(&format!(
        "INSERT INTO idempotency_keys (caller, key, method, path, request_hash, created_at) \
         VALUES ('token:{}', '{key}', 'POST', '/v1/events', \
                 sha256(convert_to('POST' || chr(10) || '/v1/events' || chr(10) || '{body}', 'UTF8')), \
                 now() - interval '{started}')",
        app.admin.token.id
    ))
    .await;
}

#[tokio::test]
async fn a_retry_while_the_first_request_runs_is_409() {
    let app = spawn_app().await;
    let body = event("slow", "2022-01-05T00:00:00Z");
    in_flight(&app, "busy", &body, "1 second").await;
    let retry = post_with_key(&app, "/v1/events", "busy", &body).await;
    assert_eq!(retry.status, 409, "{}", retry.text);
    assert_eq!(retry.content_type(), "application/problem+json");
    assert_eq!(
        retry.body["type"],
        "urn:chronik:problem:idempotency-in-flight"
    );
    assert_eq!(retry.header("retry-after"), Some("1"));
    assert_eq!(event_count(&app).await, 0);
}

#[tokio::test]
async fn a_claim_abandoned_by_a_crashed_server_is_taken_over() {
    let app = spawn_app().await;
    let body = event("orphan", "2022-01-05T00:00:00Z");
    in_flight(&app, "orphaned", &body, "11 minutes").await;
    let retry = post_with_key(&app, "/v1/events", "orphaned", &body).await;
    assert_eq!(retry.status, 201, "{}", retry.text);
}

#[tokio::test]
async fn concurrent_duplicates_write_once() {
    let app = spawn_app().await;
    let body = event("raced", "2022-01-05T00:00:00Z");
    let replies = join_all((0..8).map(|_| post_with_key(&app, "/v1/events", "race", &body))).await;
    let originals = replies
        .iter()
        .filter(|r| r.status == 201 && r.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(originals, 1);
    for reply in &replies {
        assert!([201, 409].contains(&reply.status), "{}", reply.text);
    }
    assert_eq!(event_count(&app).await, 1);
}

#[tokio::test]
async fn keys_expire_after_24_hours() {
    let app = spawn_app().await;
    let body = event("daily", "2022-01-05T00:00:00Z");
    post_with_key(&app, "/v1/events", "daily", &body).await;
    app.execute("UPDATE idempotency_keys SET created_at = now() - interval '23 hours 59 minutes'")
        .await;
    let kept = post_with_key(&app, "/v1/events", "daily", &body).await;
    assert_eq!(kept.header("idempotent-replayed"), Some("true"));
    app.execute("UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 minute'")
        .await;
    let again = post_with_key(&app, "/v1/events", "daily", &body).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), None);
    assert_eq!(event_count(&app).await, 2);
}

#[tokio::test]
async fn a_token_secret_is_never_replayed_or_stored() {
    let app = spawn_app().await;
    let body = json!({"name": "provisioned", "scope": "write"});
    let first = post_with_key(&app, "/v1/tokens", "tok", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let secret = first.body["secret"].as_str().unwrap();
    let id = first.body["id"].as_str().unwrap();
    let retry = post_with_key(&app, "/v1/tokens", "tok", &body).await;
    assert_eq!(retry.status, 409, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert!(retry.text.contains(id), "{}", retry.text);
    assert!(!retry.text.contains(secret));
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM idempotency_keys WHERE position(convert_to('{secret}', 'UTF8') IN body) > 0"
        ))
        .await,
        0
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM api_tokens").await, 2);
}

#[tokio::test]
async fn malformed_keys_are_400() {
    let app = spawn_app().await;
    let body = event("x", "2022-01-05T00:00:00Z");
    for key in ["", "with space", &"k".repeat(256)] {
        post_with_key(&app, "/v1/events", key, &body)
            .await
            .assert_problem(400, "Idempotency-Key");
    }
    assert_eq!(event_count(&app).await, 0);
}

#[tokio::test]
async fn methods_other_than_post_ignore_the_key() {
    let app = spawn_app().await;
    let created = app.create_event(&event("x", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    for title in ["first", "second"] {
        let reply = app
            .send(
                app.client
                    .put(app.url(&path))
                    .header("idempotency-key", "same")
                    .json(&event(title, "2022-01-05T00:00:00Z")),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["title"], title);
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM idempotency_keys")
            .await,
        0
    );
}
