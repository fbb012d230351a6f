//! Control characters in requests: in the URL every one is a 400 naming the
//! parameter; in bodies and imports a NUL (which Postgres cannot store) is a
//! 422 naming the field. None of them reaches the database as a 500.

use chronik::models::token::Scope;
use serde_json::json;

use crate::helpers::{Reply, TestApp, event, spawn_app, with};

impl TestApp {
    /// Posts `body` to `/v1/import` with a `write` token.
    async fn import_body(&self, content_type: &str, body: String) -> Reply {
        let writer = self.client_with(&self.secret(Scope::Write).await);
        self.send(
            writer
                .post(self.url("/v1/import"))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }
}

#[tokio::test]
async fn control_characters_in_query_parameters_are_400_naming_them() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    for (path, parameter) in [
        ("/v1/actors?q=%00", "q"),
        ("/v1/events?actor=a%00b", "actor"),
        ("/v1/events?tag=almaty%00", "tag"),
        ("/v1/events?q=a%0Ab", "q"),
        ("/v1/events?format=csv&actor=%7F", "actor"),
        ("/v1/timelines/kz/events?actor=x%1B", "actor"),
        ("/v1/stats/histogram?actor=%00", "actor"),
        ("/v1/stats/casualties?tag=%01", "tag"),
        ("/v1/events?from=2022-01-05&x%00y=1", "x\\u{0}y"),
        ("/v1/events/a%00b", "id"),
        ("/v1/timelines/k%00z", "slug"),
    ] {
        let reply = app.get(path).await;
        reply.assert_problem(400, parameter);
    }
    let write = app
        .send(
            app.client
                .post(app.url("/v1/events?known_at=%00"))
                .json(&event("t", "2022-01-05T00:00:00Z")),
        )
        .await;
    write.assert_problem(400, "known_at");
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
    // Text without control characters passes as ever (`+` is a space).
    let plain = app
        .get("/v1/events?actor=Almaty+police&tag=%C3%A9t%C3%A9")
        .await;
    assert_eq!(plain.status, 200, "{}", plain.text);
}

#[tokio::test]
async fn an_actor_cursor_that_decodes_to_a_nul_is_400() {
    let app = spawn_app().await;
    // `AA` is the cursor of a name that is one NUL: no actor can have it.
    let reply = app.get("/v1/actors?cursor=AA").await;
    reply.assert_problem(400, "cursor");
}

#[tokio::test]
async fn a_nul_in_a_json_body_is_422_naming_its_field() {
    let app = spawn_app().await;
    let nul = "a\u{0}b";
    let created = app
        .create_event(&event("Kept", "2022-01-05T00:00:00Z"))
        .await;
    let id = created["id"].as_str().expect("an id");
    let base = event("t", "2022-01-05T00:00:00Z");
    let cases = [
        (
            "/v1/events",
            with(base.clone(), json!({"title": nul})),
            "title",
        ),
        (
            "/v1/events",
            with(
                base.clone(),
                json!({"casualties": [{"kind": "killed", "party": nul, "min": 1, "max": 1, "status": "claimed"}]}),
            ),
            "casualties[0].party",
        ),
        (
            "/v1/timelines",
            json!({"slug": "kz", "title": nul}),
            "title",
        ),
        (
            "/v1/event-types",
            json!({"slug": "x", "label": "X", "description": nul}),
            "description",
        ),
        ("/v1/tokens", json!({"name": nul, "scope": "read"}), "name"),
    ];
    for (path, body, field) in cases {
        app.post(path, &body).await.assert_problem(422, field);
    }
    let path = format!("/v1/events/{id}");
    app.patch(&path, &json!({"summary": nul}))
        .await
        .assert_problem(422, "summary");
    app.put(&path, &with(base.clone(), json!({"tags": ["ok", nul]})))
        .await
        .assert_problem(422, "tags[1]");
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM timelines").await, 0);
    // Other control characters are text in a body: a summary keeps its tab and line break.
    let kept = app
        .post(
            "/v1/events",
            &with(base, json!({"summary": "one\ttwo\nthree\u{1b}"})),
        )
        .await;
    assert_eq!(kept.status, 201, "{}", kept.text);
}

#[tokio::test]
async fn a_nul_in_an_import_fails_it_naming_the_line_and_field() {
    let app = spawn_app().await;
    let record = |title: &str| event(title, "2022-01-05T00:00:00Z").to_string();
    let ndjson = format!("{}\n{}\n", record("ok"), record("a\u{0}b"));
    let reply = app.import_body("application/x-ndjson", ndjson).await;
    reply.assert_problem(422, "title");
    assert_eq!(reply.body["errors"][0]["line"], 2, "{}", reply.text);

    let csv = "title,type,occurred_start,summary\r\n\
               ok,protest,2022-01-05T00:00:00Z,fine\r\n\
               ok,protest,2022-01-05T00:00:00Z,a\u{0}b\r\n";
    let reply = app.import_body("text/csv", csv.to_owned()).await;
    reply.assert_problem(422, "summary");
    assert_eq!(reply.body["errors"][0]["line"], 3, "{}", reply.text);

    // Written out: `json!` would sort `events` before `timelines`.
    let bundle = r#"{"timelines": [{"slug": "kz", "title": "a\u0000b"}], "events": []}"#;
    let reply = app.import_body("application/json", bundle.to_owned()).await;
    reply.assert_problem(422, "timelines[0].title");
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM timelines").await, 0);
}
