//! `GET /metrics`: admin tokens only on the API's address, anyone on the
//! private metrics address; series by route template, never by raw path.
//!
//! The recorder is the process's, shared by every test app in this binary:
//! a test checks that what it did is counted (at least), not exact totals.

use chronik::models::token::Scope;
use std::time::Duration;

use crate::helpers::{
    Reply, TestApp, event, spawn_app, spawn_app_with, spawn_app_with_private_metrics,
};

const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The value of the series `name` whose labels include `labels`, in a scrape.
fn value(scrape: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
            let matches = series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            matches.then(|| value.parse().ok()).flatten()
        })
        .next()
}

async fn scrape(app: &TestApp) -> Reply {
    let reply = app.get("/metrics").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), PROMETHEUS_TEXT);
    reply
}

/// Scrapes until `name{labels}` is at least `least`: a response is counted
/// once its body has been sent, which its client may see a moment before.
async fn scrape_until(app: &TestApp, name: &str, labels: &[(&str, &str)], least: f64) -> String {
    for _ in 0..50 {
        let text = scrape(app).await.text;
        if value(&text, name, labels).is_some_and(|v| v >= least) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = scrape(app).await.text;
    panic!("{name}{labels:?} never reached {least}:\n{text}");
}

#[tokio::test]
async fn metrics_are_refused_without_a_token() {
    let app = spawn_app().await;
    let reply = app.send(app.anonymous.get(app.url("/metrics"))).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert!(!reply.text.contains("chronik_http_requests_total"));
}

#[tokio::test]
async fn metrics_are_refused_to_a_write_token() {
    let app = spawn_app().await;
    let write = app.secret(Scope::Write).await;
    let reply = app
        .send(app.client_with(&write).get(app.url("/metrics")))
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(reply.body["type"], "urn:chronik:problem:insufficient-scope");
    assert!(!reply.text.contains("chronik_http_requests_total"));
}

#[tokio::test]
async fn requests_are_counted_by_route_template_method_and_status_never_by_id() {
    let app = spawn_app().await;
    let created = app
        .create_event(&event("Counted", "2022-01-05T00:00:00Z"))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let missing = uuid::Uuid::new_v4().to_string();
    let route = [("route", "/v1/events/{id}"), ("method", "GET")];
    let ok = [route[0], route[1], ("status", "200")];
    let not_found = [route[0], route[1], ("status", "404")];
    let before = scrape(&app).await.text;
    let (ok_before, missing_before) = (
        value(&before, "chronik_http_requests_total", &ok).unwrap_or(0.0),
        value(&before, "chronik_http_requests_total", &not_found).unwrap_or(0.0),
    );
    for _ in 0..3 {
        assert_eq!(app.get(&format!("/v1/events/{id}")).await.status, 200);
    }
    assert_eq!(app.get(&format!("/v1/events/{missing}")).await.status, 404);
    scrape_until(&app, "chronik_http_requests_total", &ok, ok_before + 3.0).await;
    let text = scrape_until(
        &app,
        "chronik_http_requests_total",
        &not_found,
        missing_before + 1.0,
    )
    .await;
    assert!(!text.contains(&id) && !text.contains(&missing), "{text}");
    let slowest = [route[0], route[1], ("le", "+Inf")];
    let observed = value(
        &text,
        "chronik_http_request_duration_seconds_bucket",
        &slowest,
    );
    assert!(observed.is_some_and(|n| n >= 4.0), "{text}");
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(app.get(&format!("/no/such/{id}")).await.status, 404);
    let text = scrape_until(&app, "chronik_http_requests_total", &unmatched, 1.0).await;
    assert!(!text.contains("/no/such"), "{text}");
}

#[tokio::test]
async fn the_pools_are_sampled_when_scraped() {
    let app = spawn_app().await;
    let text = scrape(&app).await.text;
    for pool in ["requests", "exports", "imports", "live"] {
        for gauge in [
            "chronik_db_pool_max_connections",
            "chronik_db_pool_connections",
            "chronik_db_pool_in_use",
            "chronik_db_pool_waiting",
        ] {
            assert!(
                value(&text, gauge, &[("pool", pool)]).is_some(),
                "{gauge}{{pool={pool}}}:\n{text}"
            );
        }
    }
    // Two workers of four connections (CHRONIK_DB_POOL_SIZE=8 in tests).
    let max = value(
        &text,
        "chronik_db_pool_max_connections",
        &[("pool", "requests")],
    );
    assert_eq!(max, Some(8.0), "{text}");
}

#[tokio::test]
async fn a_statement_timeout_is_counted_as_a_database_error_and_a_503_by_cause() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    let app = spawn_app_with(|config| {
        config.statement_timeout = "200ms".parse().expect("a time limit");
    })
    .await;
    let errors = [("kind", "statement_timeout")];
    let unavailable = [("cause", "timeout")];
    let before = scrape(&app).await.text;
    let errors_before = value(&before, "chronik_db_errors_total", &errors).unwrap_or(0.0);
    let unavailable_before =
        value(&before, "chronik_http_unavailable_total", &unavailable).unwrap_or(0.0);
    let mut lock = AsyncPgConnection::establish(&app.config.database_url)
        .await
        .unwrap();
    lock.batch_execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let reply = app.send(app.anonymous.get(app.url("/v1/events"))).await;
    assert_eq!(reply.status, 503, "{}", reply.text);
    drop(lock);
    scrape_until(
        &app,
        "chronik_db_errors_total",
        &errors,
        errors_before + 1.0,
    )
    .await;
    scrape_until(
        &app,
        "chronik_http_unavailable_total",
        &unavailable,
        unavailable_before + 1.0,
    )
    .await;
}

#[tokio::test]
async fn exports_count_the_events_they_send() {
    let app = spawn_app().await;
    app.insert_bulk_events(25, 10).await;
    let before = scrape(&app).await.text;
    let sent_before = value(&before, "chronik_exported_events_total", &[]).unwrap_or(0.0);
    let complete = [("outcome", "complete")];
    let complete_before = value(&before, "chronik_exports_ended_total", &complete).unwrap_or(0.0);
    let export = app.get("/v1/events?format=ndjson").await;
    assert_eq!(export.status, 200, "{}", export.text);
    assert_eq!(export.text.lines().count(), 25);
    scrape_until(
        &app,
        "chronik_exported_events_total",
        &[],
        sent_before + 25.0,
    )
    .await;
    let text = scrape_until(
        &app,
        "chronik_exports_ended_total",
        &complete,
        complete_before + 1.0,
    )
    .await;
    for gauge in [
        "chronik_exports_running",
        "chronik_imports_running",
        "chronik_live_streams_open",
    ] {
        assert!(value(&text, gauge, &[]).is_some(), "{gauge}:\n{text}");
    }
}

#[tokio::test]
async fn the_private_metrics_address_serves_metrics_without_a_token_and_nothing_else() {
    let app = spawn_app_with_private_metrics().await;
    let private = app
        .metrics_address
        .clone()
        .expect("a private metrics address");
    let reply = app
        .send(app.anonymous.get(format!("{private}/metrics")))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), PROMETHEUS_TEXT);
    assert!(
        value(
            &reply.text,
            "chronik_db_pool_max_connections",
            &[("pool", "requests")]
        )
        .is_some(),
        "{}",
        reply.text
    );
    for path in ["/v1/events", "/healthz", "/openapi.json", "/metrics/"] {
        let reply = app
            .send(app.anonymous.get(format!("{private}{path}")))
            .await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text);
    }
    // The API's own address still wants an admin token.
    let reply = app.send(app.anonymous.get(app.url("/metrics"))).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
}
