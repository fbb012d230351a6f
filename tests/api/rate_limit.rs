//! Rate limits: per token, per client IP without one; 429 with Retry-After.

use chronik::models::token::Scope;

use crate::helpers::{Reply, TestApp, spawn_app, spawn_app_with};

async fn anonymous_get(app: &TestApp, forwarded_for: Option<&str>) -> Reply {
    let mut request = app.anonymous.get(app.url("/v1/events"));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    app.send(request).await
}

#[track_caller]
fn assert_rate_limited(reply: &Reply, limit: &str) {
    assert_eq!(reply.status, 429, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.body["type"], "urn:chronik:problem:rate-limited");
    let retry_after: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(reply.header("ratelimit-limit"), Some(limit));
    assert_eq!(reply.header("ratelimit-remaining"), Some("0"));
    let reset: u64 = reply.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset >= retry_after, "{reset} < {retry_after}");
}

#[tokio::test]
async fn anonymous_clients_get_429_with_retry_after_once_their_bucket_is_empty() {
    let app = spawn_app_with(|c| c.rate_limit_anonymous = "2/min".parse().unwrap()).await;
    let first = anonymous_get(&app, None).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("ratelimit-limit"), Some("2"));
    assert_eq!(first.header("ratelimit-remaining"), Some("1"));
    let reset: u64 = first.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=30).contains(&reset), "{reset}");
    let second = anonymous_get(&app, None).await;
    assert_eq!(second.header("ratelimit-remaining"), Some("0"));
    assert_rate_limited(&anonymous_get(&app, None).await, "2");
}

#[tokio::test]
async fn each_token_has_its_own_bucket() {
    let app = spawn_app_with(|c| {
        c.rate_limit_anonymous = "1/min".parse().unwrap();
        c.rate_limit_token = "3/min".parse().unwrap();
    })
    .await;
    anonymous_get(&app, None).await;
    assert_eq!(anonymous_get(&app, None).await.status, 429);
    let reader = app.client_with(&app.secret(Scope::Read).await);
    for remaining in ["2", "1", "0"] {
        let reply = app.send(reader.get(app.url("/v1/events"))).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.header("ratelimit-limit"), Some("3"));
        assert_eq!(reply.header("ratelimit-remaining"), Some(remaining));
    }
    assert_rate_limited(&app.send(reader.get(app.url("/v1/events"))).await, "3");
    let other = app.client_with(&app.secret(Scope::Read).await);
    assert_eq!(app.send(other.get(app.url("/v1/events"))).await.status, 200);
}

#[tokio::test]
async fn bad_tokens_count_against_the_client_address() {
    let app = spawn_app_with(|c| c.rate_limit_anonymous = "1/min".parse().unwrap()).await;
    let bad = app
        .send(
            app.anonymous
                .get(app.url("/v1/events"))
                .bearer_auth(format!("chronik_{}", "x".repeat(43))),
        )
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(anonymous_get(&app, None).await.status, 429);
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let untrusted = spawn_app_with(|c| c.rate_limit_anonymous = "1/min".parse().unwrap()).await;
    assert_eq!(
        anonymous_get(&untrusted, Some("203.0.113.1")).await.status,
        200
    );
    // A client cannot pick a fresh bucket by inventing a header.
    assert_eq!(
        anonymous_get(&untrusted, Some("203.0.113.2")).await.status,
        429
    );

    let proxied = spawn_app_with(|c| {
        c.rate_limit_anonymous = "1/min".parse().unwrap();
        c.trusted_proxies = "127.0.0.1".parse().unwrap();
    })
    .await;
    assert_eq!(
        anonymous_get(&proxied, Some("203.0.113.1")).await.status,
        200
    );
    assert_eq!(
        anonymous_get(&proxied, Some("203.0.113.2")).await.status,
        200
    );
    assert_eq!(
        anonymous_get(&proxied, Some("203.0.113.1")).await.status,
        429
    );
}

#[tokio::test]
async fn health_checks_and_docs_are_not_limited() {
    let app = spawn_app_with(|c| c.rate_limit_anonymous = "1/min".parse().unwrap()).await;
    for path in ["/healthz", "/healthz", "/openapi.json", "/openapi.json"] {
        let reply = app.send(app.anonymous.get(app.url(path))).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("ratelimit-limit"), None);
    }
}

#[tokio::test]
async fn with_limits_off_no_rate_limit_headers_are_sent() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let reply = anonymous_get(&app, None).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("ratelimit-limit"), None);
    }
}

/// nginx's default appends the client to `X-Forwarded-For` and passes the
/// client's own `Forwarded` on: only the configured header may count.
#[tokio::test]
async fn a_clients_own_forwarded_header_picks_no_bucket_behind_an_x_forwarded_for_proxy() {
    let app = spawn_app_with(|c| {
        c.rate_limit_anonymous = "1/min".parse().unwrap();
        c.trusted_proxies = "127.0.0.1".parse().unwrap();
    })
    .await;
    for (n, expected) in [(1, 200), (2, 429), (3, 429)] {
        let request = app
            .anonymous
            .get(app.url("/v1/events"))
            .header("forwarded", format!("for=198.51.100.{n}"))
            .header("x-forwarded-for", "203.0.113.1");
        assert_eq!(app.send(request).await.status, expected, "request {n}");
    }
}

/// A network's addresses share one bucket: a /64 holds 2^64 of them.
#[tokio::test]
async fn ipv6_clients_of_one_64_share_a_bucket() {
    let app = spawn_app_with(|c| {
        c.rate_limit_anonymous = "1/min".parse().unwrap();
        c.trusted_proxies = "127.0.0.1".parse().unwrap();
    })
    .await;
    let reply = anonymous_get(&app, Some("2001:db8:1:2::1")).await;
    assert_eq!(reply.status, 200);
    let reply = anonymous_get(&app, Some("2001:db8:1:2:dead:beef:0:1")).await;
    assert_rate_limited(&reply, "1");
    let reply = anonymous_get(&app, Some("2001:db8:1:3::1")).await;
    assert_eq!(reply.status, 200, "another /64 has its own bucket");
}

/// Lookups fail while the token table is away: any answer but a 429 means
/// the request reached the database.
async fn hide_the_token_table(app: &TestApp) {
    app.execute("ALTER TABLE api_tokens RENAME TO api_tokens_hidden")
        .await;
}

#[tokio::test]
async fn a_token_at_its_limit_is_refused_before_any_database_work() {
    let app = spawn_app_with(|c| c.rate_limit_token = "1/min".parse().unwrap()).await;
    let reader = app.client_with(&app.secret(Scope::Read).await);
    assert_eq!(
        app.send(reader.get(app.url("/v1/events"))).await.status,
        200
    );
    hide_the_token_table(&app).await;
    assert_rate_limited(&app.send(reader.get(app.url("/v1/events"))).await, "1");
}

#[tokio::test]
async fn an_address_that_ran_dry_on_bad_tokens_is_refused_before_any_lookup() {
    let app = spawn_app_with(|c| c.rate_limit_anonymous = "1/min".parse().unwrap()).await;
    let guess = |n: usize| format!("chronik_{}{}", "x".repeat(42), n);
    let reply = app
        .send(
            app.anonymous
                .get(app.url("/v1/events"))
                .bearer_auth(guess(1)),
        )
        .await;
    assert_eq!(reply.status, 401);
    let reply = app
        .send(
            app.anonymous
                .get(app.url("/v1/events"))
                .bearer_auth(guess(2)),
        )
        .await;
    assert_rate_limited(&reply, "1");
    hide_the_token_table(&app).await;
    // A fresh guess, a fresh token bucket: still no lookup from this address.
    let reply = app
        .send(
            app.anonymous
                .get(app.url("/v1/events"))
                .bearer_auth(guess(3)),
        )
        .await;
    assert_rate_limited(&reply, "1");
}
