//! Several servers on one database keep the limits of one: export and
//! import slots are Postgres advisory locks, not counts in one process, and
//! with `CHRONIK_RATE_LIMIT_STORE=postgres` rate-limit buckets live in the
//! database.

use chronik::config::Config;
use chronik::models::token::Scope;
use chronik::rate_limit::store::RateLimitStore;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::time::{Duration, Instant};

use crate::helpers::{Reply, TestApp, spawn_app, spawn_app_with};

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

#[tokio::test]
async fn one_client_runs_only_its_share_of_exports_on_all_servers_together() {
    let app = spawn_app_with(|config| {
        config.max_exports = Some(4);
        config.max_exports_per_client = "1".parse().unwrap();
    })
    .await;
    let other = app.another_instance();
    app.insert_bulk_events(30_000, 1_000).await;
    let first = start_export(&app.anonymous, &app.address).await;
    // The same client (its IP, without a token) on the other server.
    let refused = app
        .send(
            app.anonymous
                .get(other.url("/v1/events?format=csv&stream=all")),
        )
        .await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.body["type"], "urn:chronik:problem:too-many-exports");
    assert!(
        refused.text.contains("CHRONIK_MAX_EXPORTS_PER_CLIENT"),
        "{}",
        refused.text
    );
    // A token is a client of its own.
    let reader = app.client_with(&app.secret(Scope::Read).await);
    let by_token = start_export(&reader, &other.address).await;
    drop((first, by_token));
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

/// Anonymous requests from this test's one address get `limit` and
/// tokens `token_limit`, counted in `store`.
fn limited(store: RateLimitStore, limit: &str, token_limit: &str) -> impl FnOnce(&mut Config) {
    let (limit, token_limit) = (limit.parse().unwrap(), token_limit.parse().unwrap());
    move |config: &mut Config| {
        config.rate_limit_store = store;
        config.rate_limit_anonymous = limit;
        config.rate_limit_token = token_limit;
    }
}

#[track_caller]
fn assert_allowed(reply: &Reply, limit: &str, remaining: &str) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("ratelimit-limit"), Some(limit));
    assert_eq!(reply.header("ratelimit-remaining"), Some(remaining));
    let reset: u64 = reply.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=60).contains(&reset), "{reset}");
}

#[track_caller]
fn assert_rate_limited(reply: &Reply, limit: &str) {
    assert_eq!(reply.status, 429, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    let retry_after: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(reply.header("ratelimit-limit"), Some(limit));
    assert_eq!(reply.header("ratelimit-remaining"), Some("0"));
    let reset: u64 = reply.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset >= retry_after, "{reset} < {retry_after}");
}

#[tokio::test]
async fn servers_sharing_postgres_buckets_give_a_client_one_quota() {
    let app = spawn_app_with(limited(RateLimitStore::Postgres, "3/min", "off")).await;
    let other = app.another_instance();
    let get = |base: &str| app.send(app.anonymous.get(format!("{base}/v1/events")));
    // The client's requests go to either server, as a load balancer sends them.
    assert_allowed(&get(&app.address).await, "3", "2");
    assert_allowed(&get(&other.address).await, "3", "1");
    assert_allowed(&get(&app.address).await, "3", "0");
    assert_rate_limited(&get(&other.address).await, "3");
    assert_rate_limited(&get(&app.address).await, "3");
}

#[tokio::test]
async fn a_token_has_one_quota_on_all_servers_sharing_postgres_buckets() {
    let app = spawn_app_with(limited(RateLimitStore::Postgres, "off", "2/min")).await;
    let other = app.another_instance();
    let reader = app.client_with(&app.secret(Scope::Read).await);
    let get = |base: &str| app.send(reader.get(format!("{base}/v1/events")));
    assert_allowed(&get(&other.address).await, "2", "1");
    assert_allowed(&get(&app.address).await, "2", "0");
    assert_rate_limited(&get(&other.address).await, "2");
    // Another token has a bucket of its own.
    let other_reader = app.client_with(&app.secret(Scope::Read).await);
    let reply = app.send(other_reader.get(other.url("/v1/events"))).await;
    assert_allowed(&reply, "2", "1");
}

#[tokio::test]
async fn bad_tokens_count_against_the_client_address_in_shared_buckets() {
    let app = spawn_app_with(limited(RateLimitStore::Postgres, "1/min", "off")).await;
    let other = app.another_instance();
    let bad = app
        .send(
            app.anonymous
                .get(app.url("/v1/events"))
                .bearer_auth(format!("chronik_{}", "x".repeat(43))),
        )
        .await;
    assert_eq!(bad.status, 401, "{}", bad.text);
    let reply = app.send(app.anonymous.get(other.url("/v1/events"))).await;
    assert_rate_limited(&reply, "1");
}

/// The default, for contrast: buckets in memory are each server's own.
#[tokio::test]
async fn servers_with_buckets_in_memory_count_each_for_itself() {
    let app = spawn_app_with(limited(RateLimitStore::Memory, "1/min", "off")).await;
    let other = app.another_instance();
    let get = |base: &str| app.send(app.anonymous.get(format!("{base}/v1/events")));
    assert_allowed(&get(&app.address).await, "1", "0");
    assert_allowed(&get(&other.address).await, "1", "0");
    assert_rate_limited(&get(&app.address).await, "1");
}

#[tokio::test]
async fn full_shared_buckets_are_swept_and_others_kept() {
    let app = spawn_app().await;
    TestApp::execute(
        &app,
        "INSERT INTO rate_limit_buckets (key, tat) VALUES \
         ('ip:192.0.2.1', now() - interval '1 second'), ('ip:192.0.2.2', now() + interval '1 minute')",
    )
    .await;
    let mut conn = app.pool.get().await.unwrap();
    assert_eq!(chronik::db::rate_limits::sweep(&mut conn).await.unwrap(), 1);
    let kept = app
        .strings("SELECT key AS value FROM rate_limit_buckets")
        .await;
    assert_eq!(kept, vec![Some("ip:192.0.2.2".to_owned())]);
}

/// The Redis tests run against (its database 0 unless the URL says otherwise).
fn redis_url() -> String {
    std::env::var("CHRONIK_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// A client address of this test's own, as a trusted proxy forwards it: the
/// Redis is shared by every test (and every test run), the database is not.
fn own_address() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let group = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
    format!("2001:db8:{:x}:{:x}::1", group(0), group(2))
}

#[tokio::test]
async fn servers_sharing_a_redis_give_a_client_one_quota() {
    let store = RateLimitStore::Redis(redis_url());
    let app = spawn_app_with(|config| {
        limited(store, "3/min", "2/min")(config);
        config.trusted_proxies = "127.0.0.1".parse().unwrap();
    })
    .await;
    let other = app.another_instance();
    let client = own_address();
    let get = |base: &str| {
        app.send(
            app.anonymous
                .get(format!("{base}/v1/events"))
                .header("x-forwarded-for", &client),
        )
    };
    assert_allowed(&get(&app.address).await, "3", "2");
    assert_allowed(&get(&other.address).await, "3", "1");
    assert_allowed(&get(&app.address).await, "3", "0");
    assert_rate_limited(&get(&other.address).await, "3");
    // A token's bucket too.
    let reader = app.client_with(&app.secret(Scope::Read).await);
    let read = |base: &str| app.send(reader.get(format!("{base}/v1/events")));
    assert_allowed(&read(&other.address).await, "2", "1");
    assert_allowed(&read(&app.address).await, "2", "0");
    assert_rate_limited(&read(&other.address).await, "2");
    // The client's bucket expires once it would be full: idle buckets take no memory.
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("chronik:rate-limit:ip:{}", client.trim_end_matches('1'));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((1..=60_000).contains(&ttl), "{key}: {ttl}");
}

/// A store that does not answer lets requests through, without headers: they
/// are not held up, nor refused, for want of a count.
#[tokio::test]
async fn requests_are_served_while_the_redis_does_not_answer() {
    let port = crate::binary::spare_port();
    let store = RateLimitStore::Redis(format!("redis://127.0.0.1:{port}/"));
    let app = spawn_app_with(limited(store, "1/min", "off")).await;
    for _ in 0..2 {
        let started = Instant::now();
        let reply = app.send(app.anonymous.get(app.url("/v1/events"))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.header("ratelimit-limit"), None);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}
