//! CORS: any origin may read; listed origins (or `*`) may also write.

use chronik::cors::CorsOrigins;
use reqwest::Method;

use crate::helpers::{Reply, TestApp, event, spawn_app, spawn_app_with};

const NEWSROOM: &str = "https://newsroom.example";
const ELSEWHERE: &str = "https://elsewhere.example";

async fn preflight(app: &TestApp, origin: &str, method: &str, headers: &str) -> Reply {
    app.send(
        app.anonymous
            .request(Method::OPTIONS, app.url("/v1/events"))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers),
    )
    .await
}

fn list(reply: &Reply, header: &str) -> Vec<String> {
    reply
        .header(header)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

async fn write_from(app: &TestApp, origin: &str) -> Reply {
    app.send(
        app.client
            .post(app.url("/v1/events"))
            .header("origin", origin)
            .json(&event("t", "2022-01-05T00:00:00Z")),
    )
    .await
}

#[tokio::test]
async fn any_origin_may_read_and_see_the_headers_clients_need() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.anonymous
                .get(app.url("/v1/events?limit=1"))
                .header("origin", ELSEWHERE),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ELSEWHERE));
    assert_eq!(reply.header("access-control-allow-credentials"), None);
    let exposed = list(&reply, "access-control-expose-headers");
    for header in [
        "etag",
        "link",
        "location",
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "idempotent-replayed",
    ] {
        assert!(
            exposed.contains(&header.to_owned()),
            "{header}: {exposed:?}"
        );
    }
}

#[tokio::test]
async fn a_read_preflight_is_answered_for_any_origin() {
    let app = spawn_app().await;
    let reply = preflight(&app, ELSEWHERE, "GET", "authorization").await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ELSEWHERE));
    assert!(list(&reply, "access-control-allow-methods").contains(&"get".to_owned()));
    assert!(list(&reply, "access-control-allow-headers").contains(&"authorization".to_owned()));
    assert_eq!(reply.header("access-control-max-age"), Some("3600"));
}

#[tokio::test]
async fn without_configuration_no_origin_may_write() {
    let app = spawn_app().await;
    let reply = preflight(&app, ELSEWHERE, "POST", "authorization, content-type").await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.header("access-control-allow-origin"), None);
    // A write that needs no preflight still gets no CORS headers: the browser hides the answer.
    let write = write_from(&app, ELSEWHERE).await;
    assert_eq!(write.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn listed_origins_may_write_and_others_still_read() {
    let app =
        spawn_app_with(|c| c.cors_origins = Some(CorsOrigins::List(vec![NEWSROOM.into()]))).await;
    let reply = preflight(
        &app,
        NEWSROOM,
        "POST",
        "authorization, content-type, idempotency-key",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("access-control-allow-origin"), Some(NEWSROOM));
    for method in ["post", "put", "patch", "delete"] {
        assert!(list(&reply, "access-control-allow-methods").contains(&method.to_owned()));
    }
    let write = write_from(&app, NEWSROOM).await;
    assert_eq!(write.status, 201);
    assert_eq!(write.header("access-control-allow-origin"), Some(NEWSROOM));

    assert_eq!(
        preflight(&app, ELSEWHERE, "DELETE", "authorization")
            .await
            .status,
        400
    );
    let read = preflight(&app, ELSEWHERE, "GET", "authorization").await;
    assert_eq!(read.header("access-control-allow-origin"), Some(ELSEWHERE));
}

#[tokio::test]
async fn a_star_lets_every_origin_write() {
    let app = spawn_app_with(|c| c.cors_origins = Some(CorsOrigins::Any)).await;
    let reply = preflight(
        &app,
        ELSEWHERE,
        "PATCH",
        "authorization, content-type, if-match",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let write = write_from(&app, ELSEWHERE).await;
    assert_eq!(write.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn errors_carry_cors_headers_so_browsers_can_read_them() {
    let app = spawn_app_with(|c| c.public_reads = false).await;
    let unauthorized = app
        .send(
            app.anonymous
                .get(app.url("/v1/events"))
                .header("origin", ELSEWHERE),
        )
        .await;
    assert_eq!(unauthorized.status, 401);
    assert_eq!(
        unauthorized.header("access-control-allow-origin"),
        Some(ELSEWHERE)
    );
    let missing = app
        .send(
            app.client
                .get(app.url("/v1/nothing-here"))
                .header("origin", ELSEWHERE),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type(), "application/problem+json");
    assert_eq!(
        missing.header("access-control-allow-origin"),
        Some(ELSEWHERE)
    );
}
