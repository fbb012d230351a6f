use serde_json::json;

use crate::helpers::{event, spawn_app, with};

#[tokio::test]
async fn create_returns_201_with_location_etag_and_the_stored_event() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    let input = with(
        event("Protest in Almaty", "2022-01-05T10:00:00+06:00"),
        json!({
            "external_id": "ext-1",
            "summary": "Thousands gathered.",
            "language": "de",
            "occurred_end": "2022-01-05T14:00:00+06:00",
            "precision": "hour",
            "timezone": "Asia/Almaty",
            "actors": [{"name": "Protesters", "role": "organizer"}],
            "casualties": [{"kind": "injured", "party": "police", "min": 3, "max": 10, "status": "claimed"}],
            "sources": [{"url": "https://example.org/a", "title": "A", "publisher": "Example", "published_at": "2022-01-05T12:00:00Z", "via": ["TASS"], "quote": "q"}],
            "status": "confirmed",
            "tags": ["almaty"],
            "timelines": ["kz"]
        }),
    );
    let reply = app.post("/v1/events", &input).await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let id = reply.body["id"].as_str().unwrap();
    assert_eq!(
        reply.header("location").unwrap(),
        format!("/v1/events/{id}")
    );
    assert_eq!(reply.header("etag"), Some("\"1\""));
    let body = &reply.body;
    assert_eq!(body["version"], 1);
    assert_eq!(body["occurred_start"], "2022-01-05T04:00:00Z");
    assert_eq!(body["occurred_end"], "2022-01-05T08:00:00Z");
    assert_eq!(body["precision"], "hour");
    assert_eq!(body["timezone"], "Asia/Almaty");
    assert_eq!(body["location"]["country_code"], "KZ");
    assert_eq!(
        body["actors"],
        json!([{"name": "Protesters", "role": "organizer"}])
    );
    assert_eq!(body["casualties"][0]["max"], 10);
    assert_eq!(body["sources"][0]["via"], json!(["TASS"]));
    assert_eq!(body["sources"][0]["published_at"], "2022-01-05T12:00:00Z");
    assert_eq!(body["timelines"], json!(["kz"]));
    assert_eq!(body["tags"], json!(["almaty"]));

    let fetched = app.get(&format!("/v1/events/{id}")).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, reply.body);
}

#[tokio::test]
async fn defaults_apply_to_omitted_fields() {
    let app = spawn_app().await;
    let body = app
        .create_event(
            &json!({"title": "t", "type": "riot", "occurred_start": "2022-01-05T00:00:00Z"}),
        )
        .await;
    assert_eq!(body["precision"], "day");
    assert_eq!(body["status"], "reported");
    assert_eq!(body["location"], json!(null));
    assert_eq!(body["actors"], json!([]));
    assert_eq!(body["casualties"], json!([]));
}

#[tokio::test]
async fn unknown_type_is_422_listing_the_valid_types() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/events",
            &with(
                event("t", "2022-01-05T00:00:00Z"),
                json!({"type": "battle"}),
            ),
        )
        .await;
    reply.assert_problem(422, "type");
    let message = reply.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("military_deployment") && message.contains("armed_clash"),
        "{message}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn invalid_fields_are_422_naming_the_field() {
    let app = spawn_app().await;
    let base = event("t", "2022-01-05T00:00:00Z");
    let cases = [
        (json!({"title": ""}), "title"),
        (json!({"title": "x".repeat(301)}), "title"),
        (json!({"occurred_start": "2022-01-05"}), "occurred_start"),
        (
            json!({"occurred_start": "2022-01-05T10:00:00"}),
            "occurred_start",
        ),
        (
            json!({"occurred_end": "2022-01-04T00:00:00Z"}),
            "occurred_end",
        ),
        (json!({"precision": "week"}), "precision"),
        (json!({"timezone": "Asia/Nowhere"}), "timezone"),
        (json!({"language": "not a language"}), "language"),
        (json!({"status": "rumoured"}), "status"),
        (
            json!({"location": {"name": "X", "country_code": "XX"}}),
            "location.country_code",
        ),
        (
            json!({"location": {"name": "X", "country_code": "KZ", "lat": 91, "lon": 0}}),
            "location.lat",
        ),
        (
            json!({"location": {"name": "X", "country_code": "KZ", "lat": 1}}),
            "location.lon",
        ),
        (
            json!({"casualties": [{"kind": "killed", "min": 5, "max": 2}]}),
            "casualties[0].max",
        ),
        (
            json!({"casualties": [{"kind": "eaten", "min": 5}]}),
            "casualties[0].kind",
        ),
        (
            json!({"casualties": [{"kind": "killed", "min": -1}]}),
            "casualties[0].min",
        ),
        (json!({"sources": [{"url": "not a url"}]}), "sources[0].url"),
        (json!({"tags": ["a,b"]}), "tags[0]"),
        (json!({"timelines": ["missing"]}), "timelines[0]"),
        (json!({"colour": "red"}), "colour"),
        (json!({"id": "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01"}), "id"),
        (json!({"title": 5}), "title"),
    ];
    for (overrides, field) in cases {
        let reply = app
            .post("/v1/events", &with(base.clone(), overrides.clone()))
            .await;
        assert_eq!(reply.status, 422, "{overrides}: {}", reply.text);
        reply.assert_problem(422, field);
    }
    let missing = app
        .post(
            "/v1/events",
            &json!({"type": "riot", "occurred_start": "2022-01-05T00:00:00Z"}),
        )
        .await;
    assert_eq!(missing.status, 422);
    assert!(
        missing.body["detail"].as_str().unwrap().contains("title"),
        "{}",
        missing.text
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn unknown_field_error_names_the_field() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/events",
            &with(event("t", "2022-01-05T00:00:00Z"), json!({"colour": "red"})),
        )
        .await;
    reply.assert_problem(422, "colour");
    assert!(
        reply.body["detail"].as_str().unwrap().contains("colour"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client
                .post(app.url("/v1/events"))
                .header("content-type", "application/json")
                .body("{\"title\": "),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.body["type"], "urn:chronik:problem:malformed-json");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client
                .post(app.url("/v1/events"))
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.content_type(), "application/problem+json");
}

#[tokio::test]
async fn oversized_body_is_413_problem() {
    let app = spawn_app().await;
    let big = with(
        event("t", "2022-01-05T00:00:00Z"),
        json!({"summary": "x".repeat(2 << 20)}),
    );
    let reply = app.post("/v1/events", &big).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.content_type(), "application/problem+json");
    let limit = format!(
        "larger than {} bytes, the limit set by CHRONIK_MAX_BODY_BYTES",
        app.config.max_body_bytes
    );
    assert!(reply.text.contains(&limit), "{}", reply.text);
    // The same words when the body is read for an `Idempotency-Key`.
    let keyed = app
        .send(
            app.client
                .post(app.url("/v1/events"))
                .header("idempotency-key", "big-1")
                .json(&big),
        )
        .await;
    assert_eq!(keyed.status, 413, "{}", keyed.text);
    assert!(keyed.text.contains(&limit), "{}", keyed.text);
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn duplicate_external_id_is_409_and_writes_nothing() {
    let app = spawn_app().await;
    let first = with(
        event("a", "2022-01-05T00:00:00Z"),
        json!({"external_id": "same"}),
    );
    app.create_event(&first).await;
    let second = with(
        event("b", "2022-01-06T00:00:00Z"),
        json!({"external_id": "same", "actors": [{"name": "Only In Second"}]}),
    );
    let reply = app.post("/v1/events", &second).await;
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM actors").await,
        0,
        "no partial write"
    );
}

/// Patching in another event's `external_id` is the `409` the spec lists
/// for `PATCH` (found by schemathesis), and changes nothing.
#[tokio::test]
async fn patching_in_a_taken_external_id_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_event(&with(
        event("a", "2022-01-05T00:00:00Z"),
        json!({"external_id": "taken"}),
    ))
    .await;
    let other = app.create_event(&event("b", "2022-01-06T00:00:00Z")).await;
    let path = format!("/v1/events/{}", other["id"].as_str().unwrap());
    let reply = app.patch(&path, &json!({"external_id": "taken"})).await;
    assert_eq!(reply.status, 409, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(app.get(&path).await.body, other);
}

#[tokio::test]
async fn actors_match_case_insensitively_and_sources_dedupe_by_url_keeping_each_citation() {
    let app = spawn_app().await;
    let a = app
        .create_event(&with(
            event("a", "2022-01-05T00:00:00Z"),
            json!({"actors": [{"name": "TASS"}], "sources": [{"url": "https://example.org/x", "title": "Old"}]}),
        ))
        .await;
    app.create_event(&with(
        event("b", "2022-01-06T00:00:00Z"),
        json!({"actors": [{"name": "tass", "role": "agency"}], "sources": [{"url": "https://example.org/x", "title": "New"}]}),
    ))
    .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM actors").await, 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM sources").await, 1);
    let a = app
        .get(&format!("/v1/events/{}", a["id"].as_str().unwrap()))
        .await;
    assert_eq!(a.body["actors"][0]["name"], "TASS");
    // Another event's citation of the URL does not rewrite this one's: it
    // reads as its own version (and ETag, and latest revision) say.
    assert_eq!(a.body["sources"][0]["title"], "Old");
    assert_eq!(a.body["version"], 1);
    let latest = app
        .get(&format!(
            "/v1/events/{}/revisions/1",
            a.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(latest.body["event"], a.body);
}

#[tokio::test]
async fn an_unchanged_event_keeps_its_etag_when_another_cites_its_source_anew() {
    let app = spawn_app().await;
    let cited = json!({"sources": [{"url": "https://example.org/x", "title": "Old"}]});
    let a = app
        .create_event(&with(event("a", "2022-01-05T00:00:00Z"), cited))
        .await;
    let path = format!("/v1/events/{}", a["id"].as_str().unwrap());
    let before = app.get(&path).await;
    app.create_event(&with(
        event("b", "2022-01-06T00:00:00Z"),
        json!({"sources": [{"url": "https://example.org/x", "title": "New", "publisher": "P"}]}),
    ))
    .await;
    let after = app.get(&path).await;
    assert_eq!(after.header("etag"), before.header("etag"));
    assert_eq!(after.body, before.body, "same ETag, same representation");
}

#[tokio::test]
async fn patch_changes_only_the_given_fields_and_null_clears() {
    let app = spawn_app().await;
    let created = app
        .create_event(&with(
            event("t", "2022-01-05T00:00:00Z"),
            json!({"summary": "s", "tags": ["a"], "casualties": [{"kind": "killed", "min": 8, "max": 8}]}),
        ))
        .await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let reply = app
        .patch(&path, &json!({"title": "new", "summary": null, "casualties": [{"kind": "killed", "min": 24}]}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["title"], "new");
    assert_eq!(reply.body["summary"], json!(null));
    assert_eq!(reply.body["tags"], json!(["a"]));
    assert_eq!(reply.body["casualties"][0]["min"], 24);
    assert_eq!(reply.body["casualties"][0]["max"], json!(null));
    assert_eq!(reply.body["version"], 2);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    assert_eq!(reply.body["created_at"], created["created_at"]);
}

#[tokio::test]
async fn patch_accepts_plain_json_content_type() {
    let app = spawn_app().await;
    let created = app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let reply = app
        .send(
            app.client
                .patch(app.url(&path))
                .json(&json!({"status": "confirmed"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["status"], "confirmed");
}

#[tokio::test]
async fn patch_that_changes_nothing_keeps_the_version() {
    let app = spawn_app().await;
    let created = app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let reply = app.patch(&path, &json!({"title": "t"})).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["version"], 1);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM event_revisions").await,
        1
    );
}

#[tokio::test]
async fn invalid_patch_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let created = app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    app.patch(&path, &json!({"occurred_end": "2021-01-01T00:00:00Z"}))
        .await
        .assert_problem(422, "occurred_end");
    app.patch(&path, &json!({"version": 7}))
        .await
        .assert_problem(422, "version");
    app.patch(&path, &json!({"title": null}))
        .await
        .assert_problem(422, "body");
    let now = app.get(&path).await;
    assert_eq!(now.body, created);
}

/// What the spec's `EventPatch` declares nullable, the server takes: `null`
/// resets a field that has a default.
#[tokio::test]
async fn patch_null_resets_every_field_with_a_default() {
    let app = spawn_app().await;
    let created = app
        .create_event(&with(
            event("t", "2022-01-05T00:00:00Z"),
            json!({"tags": ["a"], "precision": "hour", "status": "confirmed",
                   "location": {"name": "Almaty", "country_code": "KZ"}}),
        ))
        .await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let reply = app
        .patch(
            &path,
            &json!({"tags": null, "precision": null, "status": null, "location": null,
                    "actors": null, "casualties": null, "sources": null, "timelines": null}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["tags"], json!([]));
    assert_eq!(reply.body["precision"], "day");
    assert_eq!(reply.body["status"], "reported");
    assert_eq!(reply.body["location"], json!(null));
}

/// A patch's `location` is merged into the stored one (RFC 7396), as the
/// spec's `EventPatch` says.
#[tokio::test]
async fn patch_merges_into_the_stored_location() {
    let app = spawn_app().await;
    let created = app
        .create_event(&with(
            event("t", "2022-01-05T00:00:00Z"),
            json!({"location": {"name": "Almaty", "country_code": "KZ"}}),
        ))
        .await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let reply = app
        .patch(&path, &json!({"location": {"name": "Almaty airport"}}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["location"]["name"], "Almaty airport");
    assert_eq!(reply.body["location"]["country_code"], "KZ");
}

#[tokio::test]
async fn put_replaces_every_writable_field() {
    let app = spawn_app().await;
    let created = app
        .create_event(&with(
            event("t", "2022-01-05T00:00:00Z"),
            json!({"tags": ["a"], "summary": "s"}),
        ))
        .await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let reply = app
        .put(
            &path,
            &json!({"title": "u", "type": "riot", "occurred_start": "2022-01-06T00:00:00Z"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["tags"], json!([]));
    assert_eq!(reply.body["summary"], json!(null));
    assert_eq!(reply.body["location"], json!(null));
    assert_eq!(reply.body["type"], "riot");
    assert_eq!(reply.body["version"], 2);
}

#[tokio::test]
async fn if_match_with_an_old_version_is_412_naming_the_current_one() {
    let app = spawn_app().await;
    let created = app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    app.patch(&path, &json!({"title": "v2"})).await;
    let stale = app
        .send(
            app.client
                .patch(app.url(&path))
                .header("content-type", "application/merge-patch+json")
                .header("if-match", "\"1\"")
                .body(r#"{"title": "v3"}"#),
        )
        .await;
    assert_eq!(stale.status, 412);
    assert_eq!(stale.content_type(), "application/problem+json");
    assert_eq!(stale.body["current_version"], 2);
    let fresh = app
        .send(
            app.client
                .patch(app.url(&path))
                .header("content-type", "application/merge-patch+json")
                .header("if-match", "\"2\"")
                .body(r#"{"title": "v3"}"#),
        )
        .await;
    assert_eq!(fresh.status, 200);
    assert_eq!(fresh.body["version"], 3);
}

#[tokio::test]
async fn malformed_if_match_is_400() {
    let app = spawn_app().await;
    let created = app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let reply = app
        .send(
            app.client
                .delete(app.url(&path))
                .header("if-match", "version one"),
        )
        .await;
    reply.assert_problem(400, "If-Match");
}

#[tokio::test]
async fn delete_hides_the_event_but_keeps_its_history() {
    let app = spawn_app().await;
    let created = app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let reply = app.delete(&path).await;
    assert_eq!(reply.status, 204);
    assert_eq!(app.get(&path).await.status, 404);
    assert_eq!(app.delete(&path).await.status, 404);
    assert_eq!(app.patch(&path, &json!({"title": "x"})).await.status, 404);
    assert!(app.get("/v1/events").await.column("id").is_empty());
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM event_revisions WHERE kind = 'deleted' AND version = 2"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn every_write_appends_a_revision_matching_the_current_state() {
    let app = spawn_app().await;
    let created = app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    app.patch(&path, &json!({"title": "two"})).await;
    app.put(&path, &event("three", "2022-01-05T00:00:00Z"))
        .await;
    assert_eq!(
        app.count("SELECT count(*) AS n FROM event_revisions").await,
        3
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM events e JOIN event_revisions r ON r.event_id = e.id AND r.version = e.version \
             WHERE r.snapshot->>'title' = e.title AND r.changed_fields = ARRAY['title']"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn revisions_cannot_be_rewritten() {
    let app = spawn_app().await;
    app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let mut conn = app.pool.get().await.unwrap();
    use diesel_async::RunQueryDsl;
    for sql in [
        "UPDATE event_revisions SET kind = 'updated'",
        "DELETE FROM event_revisions",
        "TRUNCATE event_revisions",
    ] {
        let result = diesel::sql_query(sql).execute(&mut conn).await;
        assert!(result.is_err(), "{sql} must fail");
    }
    assert_eq!(
        app.count("SELECT count(*) AS n FROM event_revisions").await,
        1
    );
}

#[tokio::test]
async fn the_source_catalogue_keeps_the_latest_metadata_seen_for_a_url() {
    let app = spawn_app().await;
    let cite = |title: Option<&str>, publisher: Option<&str>| json!({"sources": [{"url": "https://example.org/live", "title": title, "publisher": publisher}]});
    for (day, overrides) in [
        ("05", cite(Some("Live"), None)),
        ("06", cite(None, Some("Example"))),
        ("07", cite(Some("Live, updated"), None)),
    ] {
        app.create_event(&with(
            event("e", &format!("2022-01-{day}T00:00:00Z")),
            overrides,
        ))
        .await;
    }
    let catalogue = app
        .strings("SELECT title || ' / ' || publisher AS value FROM sources")
        .await;
    assert_eq!(catalogue, vec![Some("Live, updated / Example".to_owned())]);
}

#[tokio::test]
async fn citing_a_known_url_again_with_nothing_new_leaves_its_catalogue_row_untouched() {
    let app = spawn_app().await;
    let citation = json!({"sources": [{"url": "https://example.org/live", "title": "Live"}]});
    app.create_event(&with(event("a", "2022-01-05T00:00:00Z"), citation.clone()))
        .await;
    let row_version = "SELECT xmin::text AS value FROM sources";
    let before = app.strings(row_version).await;
    app.create_event(&with(event("b", "2022-01-06T00:00:00Z"), citation))
        .await;
    app.create_event(&with(
        event("c", "2022-01-07T00:00:00Z"),
        json!({"sources": [{"url": "https://example.org/live"}]}),
    ))
    .await;
    assert_eq!(app.strings(row_version).await, before);
}

/// The input checks mirror the schema's rules, so no request reaches one of
/// them today; these rules, added to this test's own database, stand for a
/// check the code might miss tomorrow. The answer must then speak of the
/// request, never name Postgres's tables, constraints or rows.
#[tokio::test]
async fn a_rule_of_the_schema_the_checks_missed_is_answered_in_our_words() {
    let app = spawn_app().await;
    app.execute(
        "ALTER TABLE events ADD CONSTRAINT events_secret_rule CHECK (title <> 'Refused by a rule')",
    )
    .await;
    app.execute("ALTER TABLE events ALTER COLUMN summary SET NOT NULL")
        .await;
    app.execute(
        "ALTER TABLE events ADD CONSTRAINT events_secret_reference \
         FOREIGN KEY (summary) REFERENCES event_types (slug)",
    )
    .await;
    let cases = [
        (
            json!({"title": "Refused by a rule", "summary": "protest"}),
            422,
        ),
        (json!({"title": "No summary"}), 422),
        (
            json!({"title": "Unknown reference", "summary": "nothing"}),
            409,
        ),
    ];
    for (fields, status) in cases {
        let reply = app
            .post(
                "/v1/events",
                &with(event("x", "2022-01-05T00:00:00Z"), fields.clone()),
            )
            .await;
        assert_eq!(reply.status, status, "{fields}: {}", reply.text);
        assert_eq!(reply.content_type(), "application/problem+json");
        for postgres in [
            "events",
            "event_types",
            "summary",
            "secret",
            "constraint",
            "violates",
            "relation",
            "row",
        ] {
            assert!(
                !reply.text.contains(postgres),
                "{fields}: the answer names `{postgres}`: {}",
                reply.text
            );
        }
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
    // What the rules allow is written as ever.
    let allowed = app
        .post(
            "/v1/events",
            &with(
                event("Allowed", "2022-01-05T00:00:00Z"),
                json!({"summary": "protest"}),
            ),
        )
        .await;
    assert_eq!(allowed.status, 201, "{}", allowed.text);
}

#[tokio::test]
async fn every_type_error_of_a_body_is_listed() {
    let app = spawn_app().await;
    let body = with(
        event("t", "2022-01-05T00:00:00Z"),
        json!({
            "title": 5,
            "location": {"name": "Almaty", "country_code": 7},
            "casualties": [
                {"kind": "killed", "min": 1},
                {"kind": "killed", "min": "many"},
            ],
        }),
    );
    let reply = app.post("/v1/events", &body).await;
    for field in ["title", "location.country_code", "casualties[1].min"] {
        reply.assert_problem(422, field);
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn type_errors_and_failed_checks_come_in_one_answer() {
    let app = spawn_app().await;
    let body = with(
        event("", "2022-01-06T00:00:00Z"),
        json!({
            "occurred_end": "2022-01-05T00:00:00Z",
            "location": {"name": "Almaty", "country_code": "Kazakhstan"},
        }),
    );
    let reply = app.post("/v1/events", &body).await;
    for field in ["title", "location.country_code", "occurred_end"] {
        reply.assert_problem(422, field);
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn an_unknown_type_and_timeline_are_listed_with_the_other_errors() {
    let app = spawn_app().await;
    let body = with(
        event("t", "2022-01-06T00:00:00Z"),
        json!({
            "type": "battle",
            "timelines": ["nope"],
            "occurred_end": "2022-01-05T00:00:00Z",
        }),
    );
    let reply = app.post("/v1/events", &body).await;
    for field in ["type", "timelines[0]", "occurred_end"] {
        reply.assert_problem(422, field);
    }
    let path = "/v1/events/01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01";
    let replaced = app.put(path, &body).await;
    for field in ["type", "timelines[0]", "occurred_end"] {
        replaced.assert_problem(422, field);
    }
}

#[tokio::test]
async fn a_stand_in_for_a_wrong_value_causes_no_error_of_its_own() {
    let app = spawn_app().await;
    // `occurred_start` of the wrong type: the interval check must not
    // compare `occurred_end` with the stand-in put in its place.
    let body = with(
        event("t", "2022-01-06T00:00:00Z"),
        json!({"occurred_start": 5, "occurred_end": "2022-01-05T00:00:00Z"}),
    );
    let reply = app.post("/v1/events", &body).await;
    reply.assert_problem(422, "occurred_start");
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["occurred_start"], "{}", reply.text);
}

#[tokio::test]
async fn every_json_body_has_the_same_size_limit() {
    let app = spawn_app().await;
    let created = app.create_event(&event("t", "2022-01-05T00:00:00Z")).await;
    let path = format!("/v1/events/{}", created["id"].as_str().unwrap());
    let big = json!({"summary": "x".repeat(2 << 20)});
    for reply in [
        app.patch(&path, &big).await,
        app.post(
            "/v1/timelines",
            &json!({"slug": "big", "title": "x".repeat(2 << 20)}),
        )
        .await,
    ] {
        assert_eq!(reply.status, 413, "{}", reply.text);
        assert_eq!(reply.content_type(), "application/problem+json");
        assert!(
            reply.text.contains("CHRONIK_MAX_BODY_BYTES"),
            "{}",
            reply.text
        );
    }
}
