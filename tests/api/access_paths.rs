//! Access is decided on the route that runs, whatever spelling of its path
//! reached it: percent-encoded letters and slashes, doubled and trailing
//! slashes, `.` and `..` segments, upper case, `;` parameters. Each spelling
//! is refused, or lands on the route it names and gets exactly that route's
//! rule; none gets another rule or a default.

use chronik::models::token::Scope;
use serde_json::json;

use crate::helpers::{RawReply, TestApp, event, spawn_app, spawn_app_with};

/// `path` (`/v1/…`) spelled in every way that must not change who may call it.
fn spellings(path: &str) -> Vec<String> {
    let rest = path.strip_prefix("/v1/").expect("a /v1 path");
    let (first, tail) = rest.split_once('/').map_or((rest, ""), |(f, t)| (f, t));
    let tail = if tail.is_empty() {
        String::new()
    } else {
        format!("/{tail}")
    };
    let encoded_first_letter = format!("%{:02X}{}", first.as_bytes()[0], &first[1..]);
    let encoded_lower_hex = format!("%{:02x}{}", first.as_bytes()[0], &first[1..]);
    let encoded_whole: String = first.bytes().map(|b| format!("%{b:02X}")).collect();
    vec![
        path.to_owned(),
        format!("/v1/{encoded_first_letter}{tail}"),
        format!("/v1/{encoded_lower_hex}{tail}"),
        format!("/v1/{encoded_whole}{tail}"),
        format!("/%761/{first}{tail}"),
        format!("/v1%2F{first}{tail}"),
        format!("/v1/{first}{}", tail.replacen('/', "%2F", 1)),
        format!("//v1/{first}{tail}"),
        format!("/v1//{first}{tail}"),
        format!("{path}/"),
        format!("{path}//"),
        format!("/v1/./{first}{tail}"),
        format!("/v1/events/../{first}{tail}"),
        format!("/v1/%2e/{first}{tail}"),
        format!("/v1/events/%2E%2E/{first}{tail}"),
        format!("/V1/{first}{tail}"),
        format!("/v1/{}{tail}", first.to_uppercase()),
        format!("/v1/{first};x=1{tail}"),
        format!("/v1;x=1/{first}{tail}"),
        format!("{path};"),
        format!("{path}?{}", "x=%74"),
        format!("{path}#frag"),
    ]
}

/// A refusal: the route's own rule (`401`/`403`), or no route at all.
#[track_caller]
fn assert_refused(reply: &RawReply, what: &str) {
    assert!(
        [400, 401, 403, 404, 405].contains(&reply.status),
        "{what} answered {}: {}",
        reply.status,
        reply.body
    );
}

async fn send(app: &TestApp, secret: Option<&str>, method: &str, target: &str) -> RawReply {
    let bearer = secret.map(|s| format!("Bearer {s}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer.as_str()));
    }
    let body = match method {
        "POST" if target.contains("oken") || target.contains("OKEN") || target.contains("%6F") => {
            json!({"name": "minted", "scope": "admin"}).to_string()
        }
        "POST" => json!({"slug": "minted", "name": "Minted", "description": "x"}).to_string(),
        _ => String::new(),
    };
    app.raw(method, target, &headers, &body).await
}

/// The admin-only operations, with paths to existing things.
async fn admin_operations(app: &TestApp) -> Vec<(&'static str, String)> {
    app.create_timeline("kazakhstan-2022").await;
    let admin_id = app.admin.token.id.to_string();
    vec![
        ("GET", "/v1/tokens".to_owned()),
        ("POST", "/v1/tokens".to_owned()),
        ("GET", format!("/v1/tokens/{admin_id}")),
        ("DELETE", format!("/v1/tokens/{admin_id}")),
        ("POST", "/v1/event-types".to_owned()),
        ("DELETE", "/v1/timelines/kazakhstan-2022".to_owned()),
    ]
}

async fn state(app: &TestApp) -> (i64, i64, i64, i64) {
    (
        app.count("SELECT count(*) AS n FROM api_tokens").await,
        app.count("SELECT count(*) AS n FROM api_tokens WHERE revoked_at IS NOT NULL")
            .await,
        app.count("SELECT count(*) AS n FROM event_types").await,
        app.count("SELECT count(*) AS n FROM timelines").await,
    )
}

#[tokio::test]
async fn a_write_token_reaches_no_admin_operation_through_any_spelling_of_its_path() {
    let app = spawn_app().await;
    let write = app.secret(Scope::Write).await;
    let operations = admin_operations(&app).await;
    let before = state(&app).await;
    for (method, path) in &operations {
        for target in spellings(path) {
            let reply = send(&app, Some(&write), method, &target).await;
            assert_refused(&reply, &format!("{method} {target} with a write token"));
        }
    }
    assert_eq!(state(&app).await, before, "an admin operation ran");
    // The admin's token still works: nobody revoked it.
    assert_eq!(app.get("/v1/tokens").await.status, 200);
}

/// The spelling from the security review: it reaches the tokens route, so it gets the tokens rule.
#[tokio::test]
async fn a_percent_encoded_letter_reaches_the_route_it_names_and_its_rule() {
    let app = spawn_app().await;
    let write = app.secret(Scope::Write).await;
    let reply = send(&app, Some(&write), "POST", "/v1/%74okens").await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.body.contains("insufficient-scope"), "{}", reply.body);
    let reply = send(&app, None, "GET", "/v1/%74okens").await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    let admin = app.admin.secret.clone();
    let reply = send(&app, Some(&admin), "GET", "/v1/%74okens").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn anonymous_callers_reach_no_admin_operation_through_any_spelling_of_its_path() {
    let app = spawn_app().await;
    let operations = admin_operations(&app).await;
    let before = state(&app).await;
    for (method, path) in &operations {
        for target in spellings(path) {
            let reply = send(&app, None, method, &target).await;
            assert_refused(&reply, &format!("anonymous {method} {target}"));
        }
    }
    assert_eq!(state(&app).await, before, "an admin operation ran");
}

#[tokio::test]
async fn a_read_token_reaches_no_write_operation_through_any_spelling_of_its_path() {
    let app = spawn_app().await;
    let read = app.secret(Scope::Read).await;
    app.create_timeline("kazakhstan-2022").await;
    let event = app
        .create_event(&event("Protests in Zhanaozen", "2022-01-02T10:00:00+06:00"))
        .await;
    let id = event["id"].as_str().unwrap().to_owned();
    let operations = [
        ("POST", "/v1/events".to_owned()),
        ("DELETE", format!("/v1/events/{id}")),
        ("POST", format!("/v1/events/{id}/restore")),
        ("POST", "/v1/timelines".to_owned()),
        ("PUT", format!("/v1/timelines/kazakhstan-2022/events/{id}")),
        ("POST", "/v1/import".to_owned()),
    ];
    let events = app
        .count("SELECT count(*) AS n FROM events WHERE deleted_at IS NULL")
        .await;
    let memberships = app.count("SELECT count(*) AS n FROM event_timelines").await;
    for (method, path) in &operations {
        for target in spellings(path) {
            let reply = send(&app, Some(&read), method, &target).await;
            assert_refused(&reply, &format!("{method} {target} with a read token"));
        }
    }
    let now = app
        .count("SELECT count(*) AS n FROM events WHERE deleted_at IS NULL")
        .await;
    assert_eq!(now, events, "a write ran");
    let now = app.count("SELECT count(*) AS n FROM event_timelines").await;
    assert_eq!(now, memberships, "a write ran");
}

#[tokio::test]
async fn with_private_reads_no_spelling_of_a_read_path_is_served_anonymously() {
    let app = spawn_app_with(|config| config.public_reads = false).await;
    app.create_event(&event("Protests in Zhanaozen", "2022-01-02T10:00:00+06:00"))
        .await;
    for path in [
        "/v1/events",
        "/v1/timelines",
        "/v1/actors",
        "/v1/stats/histogram",
    ] {
        for target in spellings(path) {
            let reply = send(&app, None, "GET", &target).await;
            assert_refused(&reply, &format!("anonymous GET {target}"));
        }
    }
}

#[tokio::test]
async fn an_idempotency_key_is_refused_on_the_import_route_however_it_is_spelled() {
    let app = spawn_app().await;
    let write = format!("Bearer {}", app.secret(Scope::Write).await);
    for target in ["/v1/import", "/v1/%69mport", "/v1/%69%6D%70%6F%72%74"] {
        let reply = app
            .raw(
                "POST",
                target,
                &[
                    ("Authorization", &write),
                    ("Content-Type", "application/x-ndjson"),
                    ("Idempotency-Key", "k-1"),
                ],
                "",
            )
            .await;
        assert_eq!(reply.status, 400, "{target}: {}", reply.body);
        assert!(reply.body.contains("Idempotency-Key"), "{}", reply.body);
    }
}
