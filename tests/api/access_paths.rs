//! Access is decided on the route that runs, whatever spelling of its path
//! reached it: percent-encoded letters and slashes, doubled and trailing
//! slashes, `.` and `..` segments, upper case, `;` parameters. Each spelling
//! is refused, or lands on the route it names and gets exactly that route's
//! rule; none gets another rule or a default.

use chronik::auth::policy::{ADMIN, Access, READ, WRITE};
use chronik::models::token::Scope;
use chronik::routes::table;
use serde_json::json;

use crate::helpers::{RawReply, TestApp, event, spawn_app, spawn_app_with};

/// `path` (`/v1/…`, or an operator's path at the root such as `/metrics`)
/// spelled in every way that must not change who may call it.
fn spellings(path: &str) -> Vec<String> {
    let (prefix, rest) = match path.strip_prefix("/v1/") {
        Some(rest) => ("/v1", rest),
        None => ("", path.strip_prefix('/').expect("an absolute path")),
    };
    let (first, tail) = rest.split_once('/').map_or((rest, ""), |(f, t)| (f, t));
    let tail = if tail.is_empty() {
        String::new()
    } else {
        format!("/{tail}")
    };
    let encoded_first_letter = format!("%{:02X}{}", first.as_bytes()[0], &first[1..]);
    let encoded_lower_hex = format!("%{:02x}{}", first.as_bytes()[0], &first[1..]);
    let encoded_whole: String = first.bytes().map(|b| format!("%{b:02X}")).collect();
    let mut spellings = vec![
        path.to_owned(),
        format!("{prefix}/{encoded_first_letter}{tail}"),
        format!("{prefix}/{encoded_lower_hex}{tail}"),
        format!("{prefix}/{encoded_whole}{tail}"),
        format!("{prefix}/{first}{}", tail.replacen('/', "%2F", 1)),
        format!("/{path}"),
        format!("{prefix}//{first}{tail}"),
        format!("{path}/"),
        format!("{path}//"),
        format!("{prefix}/./{first}{tail}"),
        format!("{prefix}/events/../{first}{tail}"),
        format!("{prefix}/%2e/{first}{tail}"),
        format!("{prefix}/events/%2E%2E/{first}{tail}"),
        format!("{prefix}/{}{tail}", first.to_uppercase()),
        format!("{prefix}/{first};x=1{tail}"),
        format!("{path};"),
        format!("{path}?{}", "x=%74"),
        format!("{path}#frag"),
    ];
    if prefix == "/v1" {
        spellings.extend([
            format!("/%761/{first}{tail}"),
            format!("/v1%2F{first}{tail}"),
            format!("/V1/{first}{tail}"),
            format!("/v1;x=1/{first}{tail}"),
        ]);
    }
    spellings
}

/// A refusal: the rule of the route the spelling reaches (`401`/`403`), or no route at all (`404`).
#[track_caller]
fn assert_refused(reply: &RawReply, what: &str) {
    assert!(
        [401, 403, 404].contains(&reply.status),
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
    // What the review's attacker sent; any write that got through shows in `state`.
    let body = match method {
        "POST" | "PUT" | "PATCH" => json!({"name": "minted", "scope": "admin"}).to_string(),
        _ => String::new(),
    };
    app.raw(method, target, &headers, &body).await
}

/// Things for every route's parameters to name: an event, a timeline, the admin's token.
struct Fixture {
    event: String,
    token: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    app.create_timeline("kazakhstan-2022").await;
    let event = app
        .create_event(&event("Protests in Zhanaozen", "2022-01-02T10:00:00+06:00"))
        .await;
    Fixture {
        event: event["id"].as_str().unwrap().to_owned(),
        token: app.admin.token.id.to_string(),
    }
}

/// `path` of the route table with its parameters filled in from `fixture`.
fn concrete(path: &str, fixture: &Fixture) -> String {
    let id = if path.starts_with("/v1/tokens") {
        &fixture.token
    } else {
        &fixture.event
    };
    path.replace("{id}", id)
        .replace("{slug}", "kazakhstan-2022")
        .replace("{version}", "1")
        .replace("{external_id}", "KAZ9002")
}

/// Every operation of the route table that needs `access`, at a concrete path.
fn operations_needing(access: Access, fixture: &Fixture) -> Vec<(String, String)> {
    let operations: Vec<_> = table::operations()
        .into_iter()
        .filter(|op| op.access == access)
        .map(|op| (op.method.to_string(), concrete(&op.path, fixture)))
        .collect();
    assert!(!operations.is_empty(), "no operation needs {access:?}");
    operations
}

/// Row counts of everything an operation could change.
async fn state(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for sql in [
        "SELECT count(*) AS n FROM api_tokens",
        "SELECT count(*) AS n FROM api_tokens WHERE revoked_at IS NOT NULL",
        "SELECT count(*) AS n FROM event_types",
        "SELECT count(*) AS n FROM timelines",
        "SELECT count(*) AS n FROM events",
        "SELECT count(*) AS n FROM events WHERE deleted_at IS NOT NULL",
        "SELECT count(*) AS n FROM event_timelines",
        "SELECT count(*) AS n FROM event_revisions",
        "SELECT count(*) AS n FROM event_redactions",
    ] {
        counts.push(app.count(sql).await);
    }
    counts
}

/// Sends every spelling of every operation needing `access` as `secret`,
/// and checks each is refused with nothing changed.
async fn assert_no_spelling_admits(app: &TestApp, access: Access, secret: Option<&str>) {
    let fixture = fixture(app).await;
    let before = state(app).await;
    for (method, path) in operations_needing(access, &fixture) {
        for target in spellings(&path) {
            let reply = send(app, secret, &method, &target).await;
            assert_refused(&reply, &format!("{method} {target} (needs {access:?})"));
        }
    }
    assert_eq!(state(app).await, before, "an operation ran");
}

#[tokio::test]
async fn no_spelling_of_an_admin_operation_admits_a_write_token() {
    let app = spawn_app().await;
    let write = app.secret(Scope::Write).await;
    assert_no_spelling_admits(&app, ADMIN, Some(&write)).await;
    // The admin's token still works: nobody revoked it.
    assert_eq!(app.get("/v1/tokens").await.status, 200);
}

#[tokio::test]
async fn no_spelling_of_an_admin_operation_admits_an_anonymous_caller() {
    let app = spawn_app().await;
    assert_no_spelling_admits(&app, ADMIN, None).await;
}

#[tokio::test]
async fn no_spelling_of_a_write_operation_admits_a_read_token() {
    let app = spawn_app().await;
    let read = app.secret(Scope::Read).await;
    assert_no_spelling_admits(&app, WRITE, Some(&read)).await;
}

#[tokio::test]
async fn no_spelling_of_a_write_operation_admits_an_anonymous_caller() {
    let app = spawn_app().await;
    assert_no_spelling_admits(&app, WRITE, None).await;
}

#[tokio::test]
async fn with_private_reads_no_spelling_of_a_read_operation_admits_an_anonymous_caller() {
    let app = spawn_app_with(|config| config.public_reads = false).await;
    assert_no_spelling_admits(&app, READ, None).await;
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
