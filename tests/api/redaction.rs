//! Redaction: an admin erases a deleted event's history for a legal
//! takedown; who did it and why stays on record.

use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde_json::{Value, json};

use crate::helpers::{TestApp, rich_event, spawn_app};

const REASON: &str = "Court order 2026-C-118: names a private person";

/// A rich event, known at 06:00, corrected at 09:30, deleted: three revisions.
async fn deleted_event(app: &TestApp) -> String {
    app.create_timeline("kz").await;
    // With a key: its stored response carries the event, and must go too.
    let created = app
        .send(
            app.client
                .post(app.url("/v1/events?known_at=2022-01-06T06:00:00Z"))
                .header("Idempotency-Key", "create-rich-event")
                .json(&rich_event()),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/events/{id}");
    let patched = app
        .patch(
            &format!("{path}?known_at=2022-01-06T09:30:00Z"),
            &json!({"status": "confirmed"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(app.delete(&path).await.status, 204);
    id
}

async fn redact(app: &TestApp, id: &str) -> crate::helpers::Reply {
    app.post(
        &format!("/v1/events/{id}/redaction"),
        &json!({ "reason": REASON }),
    )
    .await
}

#[tokio::test]
async fn a_redaction_records_who_redacted_when_and_why() {
    let app = spawn_app().await;
    let id = deleted_event(&app).await;
    let reply = redact(&app, &id).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.body["reason"], REASON);
    assert_eq!(reply.body["redacted_by"], app.admin.token.id.to_string());
    assert_eq!(reply.body["revisions"], 3);
    assert!(reply.body["redacted_at"].is_string());
    let revisions = app.get(&format!("/v1/events/{id}/revisions")).await;
    assert_eq!(revisions.status, 200);
    assert_eq!(revisions.body["redaction"], reply.body);
}

#[tokio::test]
async fn every_revision_keeps_its_metadata_but_loses_the_content() {
    let app = spawn_app().await;
    let id = deleted_event(&app).await;
    let before = app.get(&format!("/v1/events/{id}/revisions")).await.body["data"].clone();
    assert_eq!(redact(&app, &id).await.status, 201);
    let after = app.get(&format!("/v1/events/{id}/revisions")).await.body["data"].clone();
    assert_eq!(after, before, "the revisions' metadata changed");
    for version in 1..=3 {
        let reply = app
            .get(&format!("/v1/events/{id}/revisions/{version}"))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let event = &reply.body["event"];
        assert_eq!(event["title"], "[redacted]");
        for field in ["summary", "external_id", "location", "language", "timezone"] {
            assert_eq!(event[field], Value::Null, "{field} of version {version}");
        }
        for field in ["actors", "sources", "casualties", "tags", "timelines"] {
            assert_eq!(event[field], json!([]), "{field} of version {version}");
        }
        assert_eq!(event["id"], id.as_str());
        assert_eq!(event["version"], version);
        assert_eq!(event["type"], "casualties");
        assert_eq!(reply.body["redaction"]["reason"], REASON);
    }
}

#[tokio::test]
async fn no_as_of_read_finds_a_redacted_event() {
    let app = spawn_app().await;
    let id = deleted_event(&app).await;
    let as_of = "as_of=2022-01-06T10:00:00Z";
    assert_eq!(
        app.get(&format!("/v1/events/{id}?{as_of}")).await.status,
        200
    );
    assert_eq!(redact(&app, &id).await.status, 201);
    assert_eq!(
        app.get(&format!("/v1/events/{id}?{as_of}")).await.status,
        404
    );
    for list in [
        format!("/v1/events?{as_of}"),
        format!("/v1/events?{as_of}&q=Anführungszeichen"),
        format!("/v1/timelines/kz/events?{as_of}"),
        format!("/v1/events?{as_of}&actor=Saltanat%20Azirbek"),
    ] {
        let reply = app.get(&list).await;
        assert_eq!(reply.status, 200, "{list}: {}", reply.text);
        assert_eq!(reply.body["data"], json!([]), "{list}");
    }
}

#[tokio::test]
async fn nothing_of_the_content_is_left_in_the_database() {
    let app = spawn_app().await;
    let id = deleted_event(&app).await;
    let stored = "SELECT count(*) AS n FROM idempotency_keys WHERE body IS NOT NULL";
    assert_eq!(
        app.count(stored).await,
        1,
        "the create's response was not stored"
    );
    assert_eq!(redact(&app, &id).await.status, 201);
    for needle in [
        "Anführungszeichen",
        "Saltanat",
        "example.org",
        "kz-2022-rich",
        "Republic Square",
    ] {
        let sql = format!(
            "SELECT ((SELECT count(*) FROM event_revisions WHERE snapshot::text LIKE '%{needle}%') \
             + (SELECT count(*) FROM events e WHERE row_to_json(e)::text LIKE '%{needle}%') \
             + (SELECT count(*) FROM actors WHERE name LIKE '%{needle}%') \
             + (SELECT count(*) FROM sources WHERE url LIKE '%{needle}%') \
             + (SELECT count(*) FROM idempotency_keys WHERE convert_from(body, 'UTF8') LIKE '%{needle}%')) AS n"
        );
        assert_eq!(app.count(&sql).await, 0, "`{needle}` is still stored");
    }
    for table in ["event_actors", "event_sources", "event_timelines"] {
        let sql = format!("SELECT count(*) AS n FROM {table} WHERE event_id = '{id}'");
        assert_eq!(app.count(&sql).await, 0, "{table}");
    }
}

#[tokio::test]
async fn actors_and_sources_that_other_events_cite_stay() {
    let app = spawn_app().await;
    let id = deleted_event(&app).await;
    let mut other = rich_event();
    other["external_id"] = json!("kz-2022-other");
    other["actors"] = json!([{"name": "Saltanat Azirbek"}]);
    app.create_event(&other).await;
    assert_eq!(redact(&app, &id).await.status, 201);
    let actors = app.get("/v1/actors?q=Saltanat").await;
    assert_eq!(
        actors.body["data"][0]["name"], "Saltanat Azirbek",
        "{}",
        actors.text
    );
    let sources = "SELECT count(*) AS n FROM sources WHERE url = 'https://example.org/a?x=1,2'";
    assert_eq!(app.count(sources).await, 1);
}

#[tokio::test]
async fn a_live_event_is_not_redacted_but_must_be_deleted_first() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    let event = app.create_event(&rich_event()).await;
    let id = event["id"].as_str().unwrap();
    let reply = redact(&app, id).await;
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert!(reply.text.contains("delete it first"), "{}", reply.text);
    assert_eq!(app.get(&format!("/v1/events/{id}")).await.body, event);
    let redactions = "SELECT count(*) AS n FROM event_redactions";
    assert_eq!(app.count(redactions).await, 0);
}

#[tokio::test]
async fn a_redacted_event_cannot_be_restored_or_redacted_again() {
    let app = spawn_app().await;
    let id = deleted_event(&app).await;
    assert_eq!(redact(&app, &id).await.status, 201);
    let again = redact(&app, &id).await;
    assert_eq!(again.status, 409, "{}", again.text);
    let restore = app
        .post(&format!("/v1/events/{id}/restore"), &json!({}))
        .await;
    assert_eq!(restore.status, 409, "{}", restore.text);
    assert!(restore.text.contains("redacted"), "{}", restore.text);
}

#[tokio::test]
async fn a_redaction_needs_a_reason() {
    let app = spawn_app().await;
    let id = deleted_event(&app).await;
    for body in [
        json!({}),
        json!({"reason": "  "}),
        json!({"reason": "a\u{0}b"}),
    ] {
        let reply = app.post(&format!("/v1/events/{id}/redaction"), &body).await;
        reply.assert_problem(422, "reason");
    }
    let unknown = uuid::Uuid::now_v7();
    assert_eq!(redact(&app, &unknown.to_string()).await.status, 404);
    redact(&app, "not-an-id").await.assert_problem(400, "id");
    let revisions = app.get(&format!("/v1/events/{id}/revisions/1")).await;
    assert_ne!(revisions.body["event"]["title"], "[redacted]");
}

/// The trigger's one exception needs both a recorded redaction and the
/// transaction's announcement: no other SQL can rewrite history.
#[tokio::test]
async fn history_stays_append_only_outside_a_redaction() {
    let app = spawn_app().await;
    let id = deleted_event(&app).await;
    let rewrite = format!("UPDATE event_revisions SET author = 'x' WHERE event_id = '{id}'");
    let mut conn = app.pool.get().await.unwrap();
    assert!(
        diesel::sql_query(&rewrite)
            .execute(&mut conn)
            .await
            .is_err()
    );
    let announced = format!("BEGIN; SET LOCAL chronik.redacting = '{id}'; {rewrite}; COMMIT;");
    assert!(conn.batch_execute(&announced).await.is_err());
    let _ = conn.batch_execute("ROLLBACK").await;
    let authors = "SELECT count(*) AS n FROM event_revisions WHERE author = 'x'";
    assert_eq!(app.count(authors).await, 0);
}
