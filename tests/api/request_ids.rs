//! `X-Request-Id` on every response: generated, or kept from a trusted
//! proxy (only a valid one); repeated as `request_id` in problem bodies.

use crate::helpers::{Reply, TestApp, spawn_app, spawn_app_with};

/// A test app that trusts its clients on 127.0.0.1 as a reverse proxy.
async fn behind_a_proxy() -> TestApp {
    spawn_app_with(|config| {
        config.trusted_proxies = "127.0.0.1".parse().expect("an address");
    })
    .await
}

async fn get_with_id(app: &TestApp, path: &str, id: &str) -> Reply {
    app.send(app.anonymous.get(app.url(path)).header("x-request-id", id))
        .await
}

#[track_caller]
fn request_id(reply: &Reply) -> String {
    let ids: Vec<_> = reply.headers.get_all("x-request-id").iter().collect();
    assert_eq!(ids.len(), 1, "one X-Request-Id: {:?}", reply.headers);
    ids[0].to_str().unwrap().to_owned()
}

#[track_caller]
fn assert_generated(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("not a UUID: {id}"));
    assert_eq!(uuid.get_version_num(), 7, "{id}");
}

#[tokio::test]
async fn a_request_id_is_generated_when_none_is_sent() {
    let app = spawn_app().await;
    let first = request_id(&app.get("/healthz").await);
    let second = request_id(&app.get("/v1/events").await);
    assert_generated(&first);
    assert_generated(&second);
    assert_ne!(first, second);
}

#[tokio::test]
async fn a_request_id_from_a_trusted_proxy_is_kept() {
    let app = behind_a_proxy().await;
    let reply = get_with_id(&app, "/v1/events", "edge-7f3a:42").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(request_id(&reply), "edge-7f3a:42");
}

#[tokio::test]
async fn a_request_id_spoofed_by_an_untrusted_client_is_replaced() {
    let app = spawn_app().await;
    let reply = get_with_id(&app, "/v1/events", "someone-elses-request").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let id = request_id(&reply);
    assert_ne!(id, "someone-elses-request");
    assert_generated(&id);
}

#[tokio::test]
async fn an_invalid_request_id_from_a_trusted_proxy_is_replaced() {
    let app = behind_a_proxy().await;
    let too_long = "a".repeat(129);
    for invalid in [
        too_long.as_str(),
        "two words",
        "quote\"d",
        "back\\slash",
        "caf\u{e9}",
    ] {
        let reply = app
            .send(
                app.anonymous
                    .get(app.url("/v1/events"))
                    .header("x-request-id", invalid.as_bytes()),
            )
            .await;
        assert_eq!(reply.status, 200, "{invalid}: {}", reply.text);
        assert_generated(&request_id(&reply));
    }
    let longest = "a".repeat(128);
    assert_eq!(
        request_id(&get_with_id(&app, "/v1/events", &longest).await),
        longest
    );
}

/// Problems made by a handler, by the access middleware, for an unknown
/// route and by actix (a wrong method) all name the request.
#[tokio::test]
async fn problem_bodies_carry_the_request_id_of_their_header() {
    let app = spawn_app().await;
    let post_without_token = app
        .send(app.anonymous.post(app.url("/v1/events")).body("{}"))
        .await;
    for reply in [
        app.get("/v1/events/not-an-id").await,
        post_without_token,
        app.get("/no/such/route").await,
        app.send(app.client.put(app.url("/v1/events"))).await,
    ] {
        assert!(reply.status >= 400, "{}", reply.text);
        assert_eq!(reply.content_type(), "application/problem+json");
        let id = request_id(&reply);
        assert_eq!(reply.body["request_id"], id.as_str(), "{}", reply.text);
        assert_generated(&id);
    }
}

#[tokio::test]
async fn a_problem_names_the_id_the_trusted_proxy_sent() {
    let app = behind_a_proxy().await;
    let reply = get_with_id(&app, "/v1/events?limit=0", "edge-1234").await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(request_id(&reply), "edge-1234");
    assert_eq!(reply.body["request_id"], "edge-1234");
}
