//! Who may do what: tokens, scopes, public and private reads, authors.

use chronik::db::tokens::TokenSpec;
use chronik::models::token::Scope;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, spawn_app, spawn_app_with};

const REALM: &str = "Bearer realm=\"chronik\"";

#[track_caller]
fn assert_unauthorized(reply: &Reply, challenge_error: Option<&str>) {
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.body["status"], 401);
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with(REALM), "{challenge}");
    match challenge_error {
        Some(error) => assert!(
            challenge.contains(&format!("error=\"{error}\"")),
            "{challenge}"
        ),
        None => assert_eq!(challenge, REALM),
    }
}

#[track_caller]
fn assert_forbidden(reply: &Reply, scope: &str) {
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.body["type"], "urn:chronik:problem:insufficient-scope");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(format!("{REALM}, error=\"insufficient_scope\", scope=\"{scope}\"").as_str())
    );
}

#[tokio::test]
async fn anonymous_writes_get_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let reply = app.post_event_with(&app.anonymous).await;
    assert_unauthorized(&reply, None);
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn reads_are_public_by_default() {
    let app = spawn_app().await;
    for path in [
        "/v1/events",
        "/v1/timelines",
        "/v1/event-types",
        "/v1/actors",
    ] {
        let reply = app.send(app.anonymous.get(app.url(path))).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    }
}

#[tokio::test]
async fn private_reads_need_a_token_of_any_scope() {
    let app = spawn_app_with(|config| config.public_reads = false).await;
    let anonymous = app.send(app.anonymous.get(app.url("/v1/events"))).await;
    assert_unauthorized(&anonymous, None);
    let reader = app.secret(Scope::Read).await;
    let reply = app
        .send(
            app.anonymous
                .get(app.url("/v1/events"))
                .bearer_auth(&reader),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // Service endpoints stay public.
    for path in ["/healthz", "/readyz", "/openapi.json", "/docs/"] {
        let reply = app.send(app.anonymous.get(app.url(path))).await;
        assert_eq!(reply.status, 200, "{path}");
    }
}

#[tokio::test]
async fn unknown_and_malformed_tokens_get_401_invalid_token_even_on_public_reads() {
    let app = spawn_app().await;
    let unknown = format!("chronik_{}", "A".repeat(43));
    for authorization in [
        format!("Bearer {unknown}"),
        "Bearer not-a-chronik-token".to_owned(),
        "Basic dXNlcjpwYXNz".to_owned(),
        "Bearer".to_owned(),
    ] {
        let reply = app
            .send(
                app.anonymous
                    .get(app.url("/v1/events"))
                    .header("authorization", &authorization),
            )
            .await;
        assert_unauthorized(&reply, Some("invalid_token"));
    }
}

#[tokio::test]
async fn expired_tokens_get_401() {
    let app = spawn_app().await;
    let token = app.token(TokenSpec::new("soon gone", Scope::Write)).await;
    app.execute(&format!(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = '{}'",
        token.token.id
    ))
    .await;
    let reply = app.post_event_with(&app.client_with(&token.secret)).await;
    assert_unauthorized(&reply, Some("invalid_token"));
    assert!(reply.text.contains("expired"), "{}", reply.text);
}

#[tokio::test]
async fn revoked_tokens_get_401() {
    let app = spawn_app().await;
    let token = app.token(TokenSpec::new("leaked", Scope::Read)).await;
    let revoked = app.delete(&format!("/v1/tokens/{}", token.token.id)).await;
    assert_eq!(revoked.status, 204);
    let reply = app
        .send(
            app.anonymous
                .get(app.url("/v1/events"))
                .bearer_auth(&token.secret),
        )
        .await;
    assert_unauthorized(&reply, Some("invalid_token"));
    assert!(reply.text.contains("revoked"), "{}", reply.text);
}

#[tokio::test]
async fn a_read_token_cannot_write() {
    let app = spawn_app().await;
    let reader = app.client_with(&app.secret(Scope::Read).await);
    let reply = app.post_event_with(&reader).await;
    assert_forbidden(&reply, "write");
    assert_eq!(
        app.send(reader.get(app.url("/v1/events"))).await.status,
        200
    );
}

#[tokio::test]
async fn a_write_token_writes_events_and_timelines_but_cannot_administer() {
    let app = spawn_app().await;
    let writer = app.client_with(&app.secret(Scope::Write).await);
    let timeline = app
        .send(
            writer
                .post(app.url("/v1/timelines"))
                .json(&json!({"slug": "t1", "title": "T1"})),
        )
        .await;
    assert_eq!(timeline.status, 201, "{}", timeline.text);
    let created = app.post_event_with(&writer).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    let member = app
        .send(writer.put(app.url(&format!("/v1/timelines/t1/events/{id}"))))
        .await;
    assert_eq!(member.status, 204, "{}", member.text);

    let new_type = app
        .send(
            writer
                .post(app.url("/v1/event-types"))
                .json(&json!({"slug": "strike", "label": "Strike"})),
        )
        .await;
    assert_forbidden(&new_type, "admin");
    let delete_timeline = app.send(writer.delete(app.url("/v1/timelines/t1"))).await;
    assert_forbidden(&delete_timeline, "admin");
    let tokens = app.send(writer.get(app.url("/v1/tokens"))).await;
    assert_forbidden(&tokens, "admin");
    // Nothing of it happened.
    assert_eq!(app.get("/v1/timelines/t1").await.status, 200);
}

#[tokio::test]
async fn revisions_record_the_token_that_made_them() {
    let app = spawn_app().await;
    let first = app.token(TokenSpec::new("reporter", Scope::Write)).await;
    let second = app.token(TokenSpec::new("editor", Scope::Write)).await;
    let created = app.post_event_with(&app.client_with(&first.secret)).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let patched = app
        .send(
            app.client_with(&second.secret)
                .patch(app.url(&format!("/v1/events/{id}")))
                .header("content-type", "application/merge-patch+json")
                .body(json!({"status": "confirmed"}).to_string()),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let authors = app
        .strings(&format!(
            "SELECT author AS value FROM event_revisions WHERE event_id = '{id}' ORDER BY version"
        ))
        .await;
    assert_eq!(
        authors,
        vec![
            Some(first.token.id.to_string()),
            Some(second.token.id.to_string())
        ]
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM event_revisions WHERE author LIKE 'chronik_%'")
            .await,
        0,
        "a secret ended up in the history"
    );
}

#[tokio::test]
async fn cli_imports_record_no_author() {
    let app = spawn_app().await;
    let mut conn = app.pool.get().await.unwrap();
    crate::helpers::load_demo(&mut conn).await;
    assert!(app.count("SELECT count(*) AS n FROM event_revisions").await > 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM event_revisions WHERE author IS NOT NULL")
            .await,
        0
    );
}

/// `last_used_at` of the token at `path`, once it is set (waiting for the
/// task that writes it, at most ten seconds).
async fn last_used_at(app: &TestApp, path: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let used = app.get(path).await.body["last_used_at"].clone();
        if used.is_string() {
            return used;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "last_used_at never set"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn using_a_token_records_when_it_was_last_used() {
    let app = spawn_app().await;
    let token = app.token(TokenSpec::new("reader", Scope::Read)).await;
    let path = format!("/v1/tokens/{}", token.token.id);
    assert_eq!(app.get(&path).await.body["last_used_at"], Value::Null);
    let reader = app.client_with(&token.secret);
    app.send(reader.get(app.url("/v1/events"))).await;
    let first = last_used_at(&app, &path).await;
    // Within the minute, another use writes nothing.
    app.send(reader.get(app.url("/v1/events"))).await;
    tokio::time::sleep(chronik::auth::usage::WRITE_EVERY * 3).await;
    assert_eq!(app.get(&path).await.body["last_used_at"], first);
}

/// Authentication reads and never writes (`last_used_at` is written apart),
/// so a token is accepted on a database that refuses every write, as a
/// read replica does.
#[tokio::test]
async fn tokens_are_accepted_where_the_database_refuses_writes() {
    let app = spawn_app().await;
    let reader = app.client_with(&app.secret(Scope::Read).await);
    let database = app.strings("SELECT current_database() AS value").await;
    let database = database[0].clone().unwrap();
    // The server's pools open their connections at their first request, after this.
    app.execute(&format!(
        "ALTER DATABASE {database} SET default_transaction_read_only = on"
    ))
    .await;
    let read = app.send(reader.get(app.url("/v1/events"))).await;
    assert_eq!(read.status, 200, "{}", read.text);
    // The server's connections do refuse writes.
    let write = app
        .post(
            "/v1/events",
            &crate::helpers::event("t", "2022-01-05T00:00:00Z"),
        )
        .await;
    assert!(write.status >= 500, "{}", write.text);
}

/// Fills in a route's path parameters with values that exist nowhere.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{id}" => uuid::Uuid::now_v7().to_string(),
            "{slug}" => "no-such-timeline".to_owned(),
            s if s.starts_with('{') => "x".to_owned(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every operation of the served spec, with the scope its `security` demands
/// (`None`: callable without a token while reads are public).
async fn operations(app: &TestApp) -> Vec<(String, String, Option<Scope>)> {
    let spec = app.get("/openapi.json").await.body;
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let security = operation["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} declares no security"));
            let anonymous_ok = security.iter().any(|r| r.as_object().unwrap().is_empty());
            let scope = security
                .iter()
                .find_map(|r| r["bearer_token"][0].as_str())
                .map(|s| s.parse::<Scope>().unwrap());
            if !path.starts_with("/v1/") && !is_operator(path) {
                assert_eq!(
                    security,
                    &vec![json!({})],
                    "{method} {path} should be public"
                );
            }
            let required = if anonymous_ok { None } else { scope };
            assert!(anonymous_ok || scope.is_some(), "{method} {path}");
            operations.push((method.to_uppercase(), path.clone(), required));
        }
    }
    assert!(operations.len() >= 20, "{operations:?}");
    operations
}

/// An operation outside `/v1` that the route table states a rule for (`/metrics`).
fn is_operator(path: &str) -> bool {
    chronik::routes::table::operations()
        .iter()
        .any(|op| op.path == path && !op.path.starts_with("/v1/"))
}

async fn call(app: &TestApp, client: &reqwest::Client, method: &str, path: &str) -> Reply {
    call_at(app, client, method, &concrete(path)).await
}

/// Calls `method` on `target`, a path as sent (its parameters filled in).
async fn call_at(app: &TestApp, client: &reqwest::Client, method: &str, target: &str) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method.clone(), app.url(target));
    if method == reqwest::Method::PATCH {
        request = request
            .header("content-type", "application/merge-patch+json")
            .body("{}");
    } else if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
        request = request.json(&json!({}));
    }
    app.send(request).await
}

/// The spec's `security` is what the server enforces, for every operation:
/// a route registered outside the access rules fails here.
#[tokio::test]
async fn every_operation_enforces_the_security_its_spec_declares() {
    enforces_declared_security(concrete).await;
}

/// `/v1/events/…` as `/v1/%65vents/…`: the router decodes it to the same
/// route, so the same rule must hold (it did not while the rule was chosen
/// from the raw path).
fn with_a_percent_encoded_letter(path: &str) -> String {
    let path = concrete(path);
    match path.strip_prefix("/v1/") {
        Some(rest) => format!("/v1/%{:02X}{}", rest.as_bytes()[0], &rest[1..]),
        None => path,
    }
}

#[tokio::test]
async fn every_operation_enforces_its_declared_security_under_a_percent_encoded_path() {
    enforces_declared_security(with_a_percent_encoded_letter).await;
}

/// Calls every operation of the spec at `spell(path)` without a token and
/// with each scope, and checks who is refused against its `security`.
async fn enforces_declared_security(spell: fn(&str) -> String) {
    let app = spawn_app().await;
    let clients = [
        (None, app.anonymous.clone()),
        (
            Some(Scope::Read),
            app.client_with(&app.secret(Scope::Read).await),
        ),
        (
            Some(Scope::Write),
            app.client_with(&app.secret(Scope::Write).await),
        ),
        (Some(Scope::Admin), app.client.clone()),
    ];
    for (method, path, required) in operations(&app).await {
        let target = spell(&path);
        for (scope, client) in &clients {
            let reply = call_at(&app, client, &method, &target).await;
            let what = format!("{method} {target} with {scope:?}: {}", reply.text);
            match (required, scope) {
                (None, _) => assert!(![401, 403].contains(&reply.status), "{what}"),
                (Some(_), None) => assert_eq!(reply.status, 401, "{what}"),
                (Some(required), Some(scope)) if !scope.includes(required) => {
                    assert_eq!(reply.status, 403, "{what}")
                }
                (Some(_), Some(_)) => assert!(![401, 403].contains(&reply.status), "{what}"),
            }
        }
    }
}

#[tokio::test]
async fn with_private_reads_every_v1_operation_rejects_anonymous_callers() {
    let app = spawn_app_with(|config| config.public_reads = false).await;
    for (method, path, _) in operations(&app).await {
        let reply = call(&app, &app.anonymous, &method, &path).await;
        if path.starts_with("/v1/") || is_operator(&path) {
            assert_unauthorized(&reply, None);
        } else {
            assert_ne!(reply.status, 401, "{method} {path}");
        }
    }
}
