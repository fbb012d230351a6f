//! Methods a path does not have: `405 Method Not Allowed` with `Allow`
//! naming the methods routed on it (the route table), as problem+json;
//! unknown paths stay `404`, and CORS preflights are answered as before.

use reqwest::Method;
use std::collections::BTreeSet;

use crate::helpers::{Reply, TestApp, spawn_app};

const AN_ID: &str = "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01";

async fn call(app: &TestApp, method: &str, path: &str) -> Reply {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    app.send(app.client.request(method, app.url(path))).await
}

/// The methods `Allow` names.
fn allowed(reply: &Reply) -> BTreeSet<String> {
    reply
        .header("allow")
        .unwrap_or_default()
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

fn set(methods: &[&str]) -> BTreeSet<String> {
    methods.iter().map(|m| (*m).to_owned()).collect()
}

#[track_caller]
fn assert_not_allowed(reply: &Reply, methods: &[&str]) {
    assert_eq!(reply.status, 405, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.body["status"], 405);
    assert_eq!(allowed(reply), set(methods), "{:?}", reply.header("allow"));
}

#[tokio::test]
async fn delete_on_the_change_feed_is_405_allowing_get() {
    let app = spawn_app().await;
    let reply = call(&app, "DELETE", "/v1/changes").await;
    assert_not_allowed(&reply, &["GET"]);
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("DELETE") && detail.contains("/v1/changes"),
        "{detail}"
    );
}

#[tokio::test]
async fn trace_on_the_health_checks_is_405_allowing_get() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        assert_not_allowed(&call(&app, "TRACE", path).await, &["GET"]);
    }
}

#[tokio::test]
async fn allow_names_every_method_routed_on_the_path() {
    let app = spawn_app().await;
    assert_not_allowed(&call(&app, "PUT", "/v1/events").await, &["GET", "POST"]);
    let one_event = format!("/v1/events/{AN_ID}");
    assert_not_allowed(
        &call(&app, "POST", &one_event).await,
        &["GET", "PATCH", "PUT", "DELETE"],
    );
    assert_not_allowed(
        &call(&app, "PATCH", "/v1/timelines/kazakhstan-2022-unrest/events").await,
        &["GET"],
    );
}

#[tokio::test]
async fn head_and_options_are_405_like_any_method_a_path_lacks() {
    let app = spawn_app().await;
    // A HEAD answer has no body; its status and headers are those of the 405.
    let head = call(&app, "HEAD", "/v1/event-types").await;
    assert_eq!(head.status, 405);
    assert_eq!(head.content_type(), "application/problem+json");
    assert_eq!(allowed(&head), set(&["GET", "POST"]));
    assert_not_allowed(&call(&app, "OPTIONS", "/v1/tokens").await, &["GET", "POST"]);
}

#[tokio::test]
async fn a_percent_encoded_path_gets_the_405_of_the_path_it_spells() {
    let app = spawn_app().await;
    assert_not_allowed(&call(&app, "TRACE", "/v1/%65vents").await, &["GET", "POST"]);
    assert_not_allowed(&call(&app, "DELETE", "/%68ealthz").await, &["GET"]);
}

#[tokio::test]
async fn the_docs_and_the_spec_answer_other_methods_with_405() {
    let app = spawn_app().await;
    assert_not_allowed(&call(&app, "POST", "/openapi.json").await, &["GET"]);
    assert_not_allowed(&call(&app, "DELETE", "/docs/").await, &["GET"]);
    assert_not_allowed(&call(&app, "PUT", "/docs").await, &["GET"]);
    assert_eq!(call(&app, "GET", "/openapi.json").await.status, 200);
}

#[tokio::test]
async fn an_unknown_path_is_404_whatever_the_method() {
    let app = spawn_app().await;
    for (method, path) in [
        ("TRACE", "/nothing-here"),
        ("GET", "/v1/nothing-here"),
        ("DELETE", "/v1/nothing-here"),
        ("POST", "/v1/events/stream/more"),
    ] {
        let reply = call(&app, method, path).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text);
        assert_eq!(reply.header("allow"), None, "{method} {path}");
        assert_eq!(reply.content_type(), "application/problem+json");
    }
}

#[tokio::test]
async fn a_cors_preflight_is_still_answered_by_cors_not_405() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.anonymous
                .request(Method::OPTIONS, app.url("/v1/changes"))
                .header("origin", "https://newsroom.example")
                .header("access-control-request-method", "GET"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://newsroom.example")
    );
    assert!(
        reply
            .header("access-control-allow-methods")
            .unwrap_or_default()
            .contains("GET")
    );
}

/// The spec and the server agree: on every path of the spec, a method it
/// does not list is a 405 whose `Allow` names exactly the methods it lists.
#[tokio::test]
async fn every_path_of_the_spec_allows_exactly_its_documented_methods() {
    let app = spawn_app().await;
    let spec = app.get("/openapi.json").await.body;
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() > 20, "{}", paths.len());
    for (path, item) in paths {
        let documented: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
            .map(|k| k.to_ascii_uppercase())
            .collect();
        let concrete = path
            .replace("{id}", AN_ID)
            .replace("{slug}", "kazakhstan-2022-unrest")
            .replace("{version}", "1")
            .replace("{external_id}", "KAZ9002");
        let reply = call(&app, "TRACE", &concrete).await;
        assert_eq!(reply.status, 405, "TRACE {concrete}: {}", reply.text);
        assert_eq!(allowed(&reply), documented, "{path}");
    }
}
