//! Event history: revisions, `known_at`, reads `as_of` an instant, restore,
//! conditional requests and the guarantees of the append-only history.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, event, spawn_app, spawn_app_with, with};

/// The story as it unfolded: the police claim dozens killed (known 06:00),
/// corrected to a confirmed 26 (known 09:30).
const FIRST_REPORT: &str = "2022-01-06T06:00:00Z";
const CORRECTION: &str = "2022-01-06T09:30:00Z";

fn death_toll() -> Value {
    with(
        event("Protesters killed in Almaty", "2022-01-05T18:00:00Z"),
        json!({
            "type": "casualties",
            "casualties": [{"kind": "killed", "party": "protesters", "min": 24, "max": null, "status": "claimed"}],
            "tags": ["almaty"],
            "actors": [{"name": "Almaty police", "role": "source of the claim"}],
        }),
    )
}

fn path_of(event: &Value) -> String {
    format!("/v1/events/{}", event["id"].as_str().unwrap())
}

async fn post_known_at(app: &TestApp, body: &Value, known_at: &str) -> Value {
    let reply = app
        .post(&format!("/v1/events?known_at={known_at}"), body)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.body
}

async fn patch_known_at(app: &TestApp, path: &str, patch: &Value, known_at: &str) -> Reply {
    app.patch(&format!("{path}?known_at={known_at}"), patch)
        .await
}

/// The death toll event, first reported and then corrected.
async fn reported_and_corrected(app: &TestApp) -> String {
    let created = post_known_at(app, &death_toll(), FIRST_REPORT).await;
    let path = path_of(&created);
    let correction = json!({
        "casualties": [{"kind": "killed", "party": "protesters", "min": 26, "max": 26, "status": "confirmed"}],
        "status": "confirmed",
    });
    let reply = patch_known_at(app, &path, &correction, CORRECTION).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    path
}

fn killed_min(event: &Value) -> &Value {
    &event["casualties"][0]["min"]
}

// --- revisions ---------------------------------------------------------------

#[tokio::test]
async fn revisions_list_every_change_with_its_kind_clocks_author_and_fields() {
    let app = spawn_app().await;
    let created = app.create_event(&death_toll()).await;
    let path = path_of(&created);
    assert_eq!(
        app.patch(&path, &json!({"title": "Dozens killed"}))
            .await
            .status,
        200
    );
    assert_eq!(app.delete(&path).await.status, 204);
    let restored = app.post(&format!("{path}/restore"), &json!({})).await;
    assert_eq!(restored.status, 200, "{}", restored.text);

    let reply = app.get(&format!("{path}/revisions")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let revisions = reply.body["data"].as_array().unwrap();
    let kinds: Vec<&str> = revisions
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "updated", "deleted", "restored"]);
    let versions: Vec<i64> = revisions
        .iter()
        .map(|r| r["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(revisions[1]["changed_fields"], json!(["title"]));
    assert!(
        revisions[0]["changed_fields"]
            .as_array()
            .unwrap()
            .contains(&json!("casualties"))
    );
    for revision in revisions {
        assert_eq!(revision["author"], app.admin.token.id.to_string());
        // Without a known_at, the information is known when it is recorded.
        assert_eq!(revision["known_at"], revision["recorded_at"]);
    }
    assert!(reply.body["next_cursor"].is_null());
}

#[tokio::test]
async fn a_revision_holds_the_event_exactly_as_that_version_left_it() {
    let app = spawn_app().await;
    let path = reported_and_corrected(&app).await;
    let first = app.get(&format!("{path}/revisions/1")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["version"], 1);
    assert_eq!(first.body["kind"], "created");
    assert_eq!(first.body["known_at"], FIRST_REPORT);
    assert_eq!(killed_min(&first.body["event"]), 24);
    assert_eq!(first.body["event"]["version"], 1);
    assert_eq!(first.body["event"]["status"], "reported");

    let second = app.get(&format!("{path}/revisions/2")).await;
    assert_eq!(second.body["known_at"], CORRECTION);
    assert_eq!(
        second.body["changed_fields"],
        json!(["casualties", "status"])
    );
    // The latest revision is the current event, field for field.
    assert_eq!(second.body["event"], app.get(&path).await.body);
}

#[tokio::test]
async fn an_unknown_version_is_404_and_a_malformed_one_400() {
    let app = spawn_app().await;
    let path = path_of(&app.create_event(&death_toll()).await);
    let missing = app.get(&format!("{path}/revisions/2")).await;
    assert_eq!(missing.status, 404, "{}", missing.text);
    assert_eq!(missing.content_type(), "application/problem+json");
    for bad in ["0", "-1", "two"] {
        app.get(&format!("{path}/revisions/{bad}"))
            .await
            .assert_problem(400, "version");
    }
}

#[tokio::test]
async fn revisions_of_an_event_that_never_existed_are_404() {
    let app = spawn_app().await;
    let reply = app
        .get("/v1/events/01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01/revisions")
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
}

#[tokio::test]
async fn a_deleted_event_keeps_its_history_readable() {
    let app = spawn_app().await;
    let path = path_of(&app.create_event(&death_toll()).await);
    assert_eq!(app.delete(&path).await.status, 204);
    assert_eq!(app.get(&path).await.status, 404);
    let reply = app.get(&format!("{path}/revisions")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.column("kind"), [json!("created"), json!("deleted")]);
    let deleted = app.get(&format!("{path}/revisions/2")).await;
    assert_eq!(
        deleted.body["event"]["title"],
        "Protesters killed in Almaty"
    );
}

#[tokio::test]
async fn revisions_page_with_a_cursor_to_the_last_version() {
    let app = spawn_app().await;
    let path = path_of(&app.create_event(&death_toll()).await);
    for i in 0..4 {
        let reply = app
            .patch(&path, &json!({"title": format!("v{}", i + 2)}))
            .await;
        assert_eq!(reply.status, 200);
    }
    let mut versions = Vec::new();
    let mut next = Some(format!("{path}/revisions?limit=2"));
    let mut pages = 0;
    while let Some(url) = next.take() {
        let reply = app.get(&url).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        pages += 1;
        versions.extend(reply.column("version"));
        if let Some(cursor) = reply.body["next_cursor"].as_str() {
            assert!(reply.header("link").unwrap().contains("rel=\"next\""));
            next = Some(format!("{path}/revisions?limit=2&cursor={cursor}"));
        } else {
            assert!(reply.header("link").is_none());
        }
    }
    assert_eq!(versions, [json!(1), json!(2), json!(3), json!(4), json!(5)]);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn bad_revision_paging_is_400_naming_the_parameter() {
    let app = spawn_app().await;
    let path = path_of(&app.create_event(&death_toll()).await);
    app.get(&format!("{path}/revisions?limit=0"))
        .await
        .assert_problem(400, "limit");
    app.get(&format!("{path}/revisions?limit=1001"))
        .await
        .assert_problem(400, "limit");
    app.get(&format!("{path}/revisions?cursor=nonsense"))
        .await
        .assert_problem(400, "cursor");
    app.get(&format!("{path}/revisions?sort=desc"))
        .await
        .assert_problem(400, "sort");
}

// --- known_at ----------------------------------------------------------------

#[tokio::test]
async fn known_at_records_when_a_change_became_public() {
    let app = spawn_app().await;
    let path = reported_and_corrected(&app).await;
    let reply = app.get(&format!("{path}/revisions")).await;
    assert_eq!(
        reply.column("known_at"),
        [json!(FIRST_REPORT), json!(CORRECTION)]
    );
    // recorded_at is the server's clock: today, not January 2022.
    for recorded in reply.column("recorded_at") {
        assert!(recorded.as_str().unwrap() > "2026", "{recorded}");
    }
}

#[tokio::test]
async fn known_at_in_the_future_is_422_and_writes_nothing() {
    let app = spawn_app().await;
    let reply = app
        .post("/v1/events?known_at=2999-01-01T00:00:00Z", &death_toll())
        .await;
    reply.assert_problem(422, "known_at");
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM event_revisions").await,
        0
    );
}

#[tokio::test]
async fn known_at_before_the_previous_revision_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let created = post_known_at(&app, &death_toll(), CORRECTION).await;
    let path = path_of(&created);
    let reply = patch_known_at(&app, &path, &json!({"title": "earlier"}), FIRST_REPORT).await;
    reply.assert_problem(422, "known_at");
    let now = app.get(&path).await.body;
    assert_eq!(now["title"], "Protesters killed in Almaty");
    assert_eq!(now["version"], 1);
    // The same instant as the previous revision is allowed.
    let same = patch_known_at(&app, &path, &json!({"title": "same"}), CORRECTION).await;
    assert_eq!(same.status, 200, "{}", same.text);
}

#[tokio::test]
async fn malformed_known_at_and_unknown_write_parameters_are_400() {
    let app = spawn_app().await;
    app.post("/v1/events?known_at=yesterday", &death_toll())
        .await
        .assert_problem(400, "known_at");
    app.post("/v1/events?knwon_at=2022-01-06T06:00:00Z", &death_toll())
        .await
        .assert_problem(400, "knwon_at");
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn delete_and_timeline_membership_take_known_at_too() {
    let app = spawn_app().await;
    app.create_timeline("unrest").await;
    let created = post_known_at(&app, &death_toll(), FIRST_REPORT).await;
    let path = path_of(&created);
    let id = created["id"].as_str().unwrap();
    let added = app
        .send(app.client.put(app.url(&format!(
            "/v1/timelines/unrest/events/{id}?known_at=2022-01-06T07:00:00Z"
        ))))
        .await;
    assert_eq!(added.status, 204, "{}", added.text);
    let deleted = app
        .delete(&format!("{path}?known_at=2022-01-07T00:00:00Z"))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let reply = app.get(&format!("{path}/revisions")).await;
    assert_eq!(
        reply.column("known_at"),
        [
            json!(FIRST_REPORT),
            json!("2022-01-06T07:00:00Z"),
            json!("2022-01-07T00:00:00Z")
        ]
    );
}

// --- as_of -------------------------------------------------------------------

#[tokio::test]
async fn as_of_shows_the_values_known_at_that_instant() {
    let app = spawn_app().await;
    let path = reported_and_corrected(&app).await;

    let before = app.get(&format!("{path}?as_of=2022-01-06T08:00:00Z")).await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(killed_min(&before.body), 24);
    assert_eq!(before.body["status"], "reported");
    assert_eq!(before.body["version"], 1);
    assert_eq!(before.header("etag"), Some("\"1\""));

    let after = app.get(&format!("{path}?as_of=2022-01-06T10:00:00Z")).await;
    assert_eq!(killed_min(&after.body), 26);
    assert_eq!(after.body["version"], 2);

    let list = app.get("/v1/events?as_of=2022-01-06T08:00:00Z").await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(killed_min(&list.body["data"][0]), 24);
}

#[tokio::test]
async fn as_of_at_the_very_instant_a_change_became_known_includes_it() {
    let app = spawn_app().await;
    let path = reported_and_corrected(&app).await;
    let at_report = app.get(&format!("{path}?as_of={FIRST_REPORT}")).await;
    assert_eq!(at_report.status, 200);
    assert_eq!(killed_min(&at_report.body), 24);
    let at_correction = app.get(&format!("{path}?as_of={CORRECTION}")).await;
    assert_eq!(killed_min(&at_correction.body), 26);
    // One microsecond before the correction, the claim still stood.
    let just_before = app
        .get(&format!("{path}?as_of=2022-01-06T09:29:59.999999Z"))
        .await;
    assert_eq!(killed_min(&just_before.body), 24);
}

#[tokio::test]
async fn as_of_before_an_event_was_known_finds_nothing() {
    let app = spawn_app().await;
    let path = reported_and_corrected(&app).await;
    let single = app.get(&format!("{path}?as_of=2022-01-06T05:59:59Z")).await;
    assert_eq!(single.status, 404, "{}", single.text);
    assert_eq!(single.content_type(), "application/problem+json");
    assert!(app.titles("as_of=2022-01-06T05:59:59Z").await.is_empty());
}

#[tokio::test]
async fn as_of_before_an_event_was_known_says_when_it_became_known() {
    let app = spawn_app().await;
    let path = reported_and_corrected(&app).await;
    let single = app.get(&format!("{path}?as_of=2022-01-06T05:59:59Z")).await;
    assert_eq!(single.status, 404, "{}", single.text);
    let detail = single.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("was not known yet at 2022-01-06T05:59:59+00:00"),
        "{detail}"
    );
    assert!(
        detail.contains("first revision is known at 2022-01-06T06:00:00+00:00"),
        "{detail}"
    );
}

#[tokio::test]
async fn as_of_after_a_deletion_says_it_was_deleted_by_then() {
    let app = spawn_app().await;
    let path = path_of(&post_known_at(&app, &death_toll(), FIRST_REPORT).await);
    let deleted = app
        .delete(&format!("{path}?known_at=2022-01-07T00:00:00Z"))
        .await;
    assert_eq!(deleted.status, 204);
    let reply = app.get(&format!("{path}?as_of=2022-01-08T00:00:00Z")).await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("was deleted by 2022-01-08T00:00:00+00:00"),
        "{detail}"
    );
}

#[tokio::test]
async fn as_of_of_an_event_that_never_existed_is_a_plain_404() {
    let app = spawn_app().await;
    let reply = app
        .get("/v1/events/01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01?as_of=2022-01-08T00:00:00Z")
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("no event with id"), "{detail}");
}

#[tokio::test]
async fn as_of_in_another_offset_means_the_same_instant() {
    let app = spawn_app().await;
    let path = reported_and_corrected(&app).await;
    // 15:00 in Almaty (+06:00) is 09:00 UTC: before the correction.
    let reply = app
        .get(&format!("{path}?as_of=2022-01-06T15:00:00%2B06:00"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(killed_min(&reply.body), 24);
}

#[tokio::test]
async fn an_event_deleted_later_is_visible_before_and_gone_after() {
    let app = spawn_app().await;
    let path = path_of(&post_known_at(&app, &death_toll(), FIRST_REPORT).await);
    let deleted = app
        .delete(&format!("{path}?known_at=2022-01-07T00:00:00Z"))
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        app.titles("as_of=2022-01-06T12:00:00Z").await,
        ["Protesters killed in Almaty"]
    );
    assert_eq!(
        app.get(&format!("{path}?as_of=2022-01-06T12:00:00Z"))
            .await
            .status,
        200
    );
    assert!(app.titles("as_of=2022-01-07T00:00:00Z").await.is_empty());
    assert_eq!(
        app.get(&format!("{path}?as_of=2022-01-07T00:00:00Z"))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_restored_event_is_visible_again_from_its_restore_on() {
    let app = spawn_app().await;
    let path = path_of(&post_known_at(&app, &death_toll(), FIRST_REPORT).await);
    assert_eq!(
        app.delete(&format!("{path}?known_at=2022-01-07T00:00:00Z"))
            .await
            .status,
        204
    );
    let restored = app
        .post(
            &format!("{path}/restore?known_at=2022-01-08T00:00:00Z"),
            &json!({}),
        )
        .await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(restored.body["version"], 3);
    assert_eq!(restored.header("etag"), Some("\"3\""));
    assert_eq!(app.get(&path).await.status, 200);
    for (instant, visible) in [
        ("2022-01-06T12:00:00Z", true),
        ("2022-01-07T12:00:00Z", false),
        ("2022-01-08T00:00:00Z", true),
    ] {
        let titles = app.titles(&format!("as_of={instant}")).await;
        assert_eq!(!titles.is_empty(), visible, "as of {instant}");
    }
    let history = app.get(&format!("{path}/revisions")).await;
    assert_eq!(history.column("kind").last(), Some(&json!("restored")));
}

#[tokio::test]
async fn as_of_filters_apply_to_the_values_known_then() {
    let app = spawn_app().await;
    let path = path_of(&post_known_at(&app, &death_toll(), FIRST_REPORT).await);
    let reclassified = json!({
        "type": "armed_clash",
        "tags": ["republic-square"],
        "actors": [{"name": "Kazakh army"}],
        "location": {"name": "Astana", "lat": 51.1694, "lon": 71.4491},
    });
    let reply = patch_known_at(&app, &path, &reclassified, CORRECTION).await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let then = "as_of=2022-01-06T08:00:00Z";
    for (filter, expected) in [
        ("type=casualties", 1),
        ("type=armed_clash", 0),
        ("tag=almaty", 1),
        ("tag=republic-square", 0),
        ("actor=almaty%20police", 1),
        ("actor=Kazakh%20army", 0),
        ("bbox=76,43,77,44", 1),
        ("q=Almaty", 1),
        ("from=2022-01-05&to=2022-01-05&country=KZ", 1),
        ("status=confirmed", 0),
    ] {
        let titles = app.titles(&format!("{then}&{filter}")).await;
        assert_eq!(titles.len(), expected, "{filter} as of then");
    }
    let now = "as_of=2022-01-06T10:00:00Z";
    for (filter, expected) in [
        ("type=armed_clash", 1),
        ("actor=kazakh%20army", 1),
        ("bbox=76,43,77,44", 0),
    ] {
        let titles = app.titles(&format!("{now}&{filter}")).await;
        assert_eq!(titles.len(), expected, "{filter} after the correction");
    }
}

#[tokio::test]
async fn as_of_pages_through_every_event_exactly_once() {
    let app = spawn_app().await;
    let mut expected = Vec::new();
    for day in 1..=7 {
        let body = event(&format!("day {day}"), &format!("2022-01-0{day}T12:00:00Z"));
        let created = post_known_at(&app, &body, "2022-01-08T00:00:00Z").await;
        expected.push(created["id"].as_str().unwrap().to_owned());
        // Later changes and later events must not disturb the old view.
        let path = path_of(&created);
        assert_eq!(
            app.patch(&path, &json!({"title": "changed"})).await.status,
            200
        );
    }
    app.create_event(&event("too late", "2022-01-03T00:00:00Z"))
        .await;
    let ids = app
        .all_ids("/v1/events?as_of=2022-01-08T00:00:00Z&limit=3")
        .await;
    assert_eq!(ids, expected);
    expected.reverse();
    let ids = app
        .all_ids("/v1/events?as_of=2022-01-08T00:00:00Z&limit=2&sort=desc")
        .await;
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn as_of_searches_the_words_known_then_ranked_and_paged() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for title in [
        "Almaty police report",
        "Police in Almaty, police say",
        "Curfew",
    ] {
        let body = with(
            event(title, "2022-01-05T12:00:00Z"),
            json!({"language": "en"}),
        );
        let created = post_known_at(&app, &body, FIRST_REPORT).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    // Later, the curfew report mentions the police too; then it did not.
    let curfew = format!("/v1/events/{}", ids[2]);
    let reply = patch_known_at(
        &app,
        &curfew,
        &json!({"title": "Curfew, police say"}),
        CORRECTION,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let then = "as_of=2022-01-06T08:00:00Z&q=police&sort=relevance&limit=1";
    let found = app.all_ids(&format!("/v1/events?{then}")).await;
    assert_eq!(
        found,
        [ids[1].clone(), ids[0].clone()],
        "best match first, the curfew not yet"
    );
    let later = app
        .all_ids("/v1/events?as_of=2022-01-06T10:00:00Z&q=police&sort=relevance&limit=1")
        .await;
    assert_eq!(later.len(), 3);
}

#[tokio::test]
async fn as_of_reads_a_timelines_membership_as_it_was() {
    let app = spawn_app().await;
    app.create_timeline("unrest").await;
    let created = post_known_at(&app, &death_toll(), FIRST_REPORT).await;
    let id = created["id"].as_str().unwrap();
    let added = app
        .send(app.client.put(app.url(&format!(
            "/v1/timelines/unrest/events/{id}?known_at={CORRECTION}"
        ))))
        .await;
    assert_eq!(added.status, 204, "{}", added.text);
    let list = |instant: &str| format!("/v1/timelines/unrest/events?as_of={instant}");
    let before = app.get(&list("2022-01-06T08:00:00Z")).await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(before.body["data"], json!([]));
    let after = app.get(&list(CORRECTION)).await;
    assert_eq!(after.column("id"), [json!(id)]);
    assert_eq!(after.body["data"][0]["timelines"], json!(["unrest"]));
}

#[tokio::test]
async fn as_of_filters_by_the_actors_an_event_named_then_in_any_casing() {
    let app = spawn_app().await;
    let created = post_known_at(&app, &death_toll(), FIRST_REPORT).await;
    let path = path_of(&created);
    let reattributed =
        json!({"actors": [{"name": "Interior Ministry", "role": "source of the claim"}]});
    let reply = patch_known_at(&app, &path, &reattributed, CORRECTION).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // A second writer's casing is stored as the first writer's.
    let other = with(death_toll(), json!({"actors": [{"name": "ALMATY POLICE"}]}));
    post_known_at(&app, &other, CORRECTION).await;
    let url = |actor: &str, instant: &str| format!("/v1/events?as_of={instant}&actor={actor}");
    let then = "2022-01-06T08:00:00Z";
    assert_eq!(app.all_ids(&url("almaty%20Police", then)).await.len(), 1);
    assert!(
        app.all_ids(&url("interior%20ministry", then))
            .await
            .is_empty()
    );
    let now = app.all_ids(&url("almaty%20police", CORRECTION)).await;
    assert_eq!(now.len(), 1, "only the second event");
    assert_ne!(now[0], created["id"].as_str().unwrap());
    let moved = app.all_ids(&url("INTERIOR%20MINISTRY", CORRECTION)).await;
    assert_eq!(moved, [created["id"].as_str().unwrap()]);
}

#[tokio::test]
async fn as_of_applies_to_exports_and_statistics() {
    let app = spawn_app().await;
    reported_and_corrected(&app).await;
    let then = "as_of=2022-01-06T08:00:00Z";

    let ndjson = app.get(&format!("/v1/events?format=ndjson&{then}")).await;
    assert_eq!(ndjson.status, 200, "{}", ndjson.text);
    let lines: Vec<Value> = ndjson
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(killed_min(&lines[0]), 24);

    let csv = app.get(&format!("/v1/events?format=csv&{then}")).await;
    let table = crate::helpers::Table::parse(&csv.text);
    assert_eq!(table.column("killed_claimed_min"), ["24"]);
    assert_eq!(table.column("killed_confirmed_min"), [""]);

    let stats = app
        .get(&format!("/v1/stats/casualties?group_by=kind&{then}"))
        .await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    let rows = stats.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", stats.text);
    assert_eq!(rows[0]["status"], "claimed");
    assert_eq!(rows[0]["min_sum"], 24);

    let earlier = app
        .get("/v1/stats/histogram?bucket=day&from=2022-01-05&to=2022-01-06&as_of=2022-01-06T05:00:00Z")
        .await;
    assert_eq!(earlier.status, 200, "{}", earlier.text);
    let counts: Vec<i64> = earlier.body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [0, 0]);
}

#[tokio::test]
async fn malformed_as_of_is_400_naming_it() {
    let app = spawn_app().await;
    let path = path_of(&app.create_event(&death_toll()).await);
    for url in [
        "/v1/events?as_of=2022-01-06".to_owned(),
        "/v1/events?as_of=now".to_owned(),
        format!("{path}?as_of=2022-13-01T00:00:00Z"),
        "/v1/stats/histogram?as_of=yesterday".to_owned(),
    ] {
        app.get(&url).await.assert_problem(400, "as_of");
    }
}

// --- restore -----------------------------------------------------------------

#[tokio::test]
async fn restoring_a_live_event_is_409_and_an_unknown_one_404() {
    let app = spawn_app().await;
    let path = path_of(&app.create_event(&death_toll()).await);
    let live = app.post(&format!("{path}/restore"), &json!({})).await;
    assert_eq!(live.status, 409, "{}", live.text);
    assert_eq!(live.content_type(), "application/problem+json");
    let unknown = app
        .post(
            "/v1/events/01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01/restore",
            &json!({}),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM event_revisions").await,
        1
    );
}

#[tokio::test]
async fn restore_honours_if_match() {
    let app = spawn_app().await;
    let path = path_of(&app.create_event(&death_toll()).await);
    assert_eq!(app.delete(&path).await.status, 204);
    let stale = app
        .send(
            app.client
                .post(app.url(&format!("{path}/restore")))
                .header("if-match", "\"1\""),
        )
        .await;
    assert_eq!(stale.status, 412, "{}", stale.text);
    assert_eq!(stale.body["current_version"], 2);
    let fresh = app
        .send(
            app.client
                .post(app.url(&format!("{path}/restore")))
                .header("if-match", "\"2\""),
        )
        .await;
    assert_eq!(fresh.status, 200, "{}", fresh.text);
}

#[tokio::test]
async fn restore_needs_a_write_token() {
    let app = spawn_app().await;
    let path = path_of(&app.create_event(&death_toll()).await);
    assert_eq!(app.delete(&path).await.status, 204);
    let anonymous = app
        .send(app.anonymous.post(app.url(&format!("{path}/restore"))))
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(app.get(&path).await.status, 404);
}

// --- conditional requests ----------------------------------------------------

async fn get_if_none_match(app: &TestApp, path: &str, tag: &str) -> Reply {
    app.send(app.client.get(app.url(path)).header("if-none-match", tag))
        .await
}

#[tokio::test]
async fn an_unchanged_event_answers_if_none_match_with_304() {
    let app = spawn_app().await;
    let path = path_of(&app.create_event(&death_toll()).await);
    let unchanged = get_if_none_match(&app, &path, "\"1\"").await;
    assert_eq!(unchanged.status, 304);
    assert_eq!(unchanged.header("etag"), Some("\"1\""));
    assert!(unchanged.text.is_empty());
    assert_eq!(app.patch(&path, &json!({"title": "x"})).await.status, 200);
    let changed = get_if_none_match(&app, &path, "\"1\"").await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.header("etag"), Some("\"2\""));
    assert_eq!(changed.body["title"], "x");
}

#[tokio::test]
async fn lists_answer_if_none_match_with_304_until_something_changes() {
    let app = spawn_app().await;
    app.create_timeline("unrest").await;
    let created = app
        .create_event(&with(death_toll(), json!({"timelines": ["unrest"]})))
        .await;
    for list in [
        "/v1/events?sort=asc",
        "/v1/timelines/unrest/events",
        "/v1/events?format=csv",
        "/v1/stats/histogram?bucket=day",
    ] {
        let first = app.get(list).await;
        assert_eq!(first.status, 200, "{list}: {}", first.text);
        let tag = first.header("etag").expect("an ETag").to_owned();
        let again = get_if_none_match(&app, list, &tag).await;
        assert_eq!(again.status, 304, "{list}");
        assert_eq!(again.header("etag"), Some(tag.as_str()));
        assert!(again.vary().contains(&"accept".to_owned()), "{list}");
        let weak = get_if_none_match(&app, list, &format!("W/{tag}")).await;
        assert_eq!(weak.status, 304, "{list}: If-None-Match compares weakly");
        let other = get_if_none_match(&app, list, "\"something-else\"").await;
        assert_eq!(other.status, 200, "{list}");
    }
    let tag = app
        .get("/v1/events")
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let patched = app
        .patch(&path_of(&created), &json!({"title": "changed"}))
        .await;
    assert_eq!(patched.status, 200);
    let after = get_if_none_match(&app, "/v1/events", &tag).await;
    assert_eq!(after.status, 200);
    assert_ne!(after.header("etag"), Some(tag.as_str()));
}

/// Issue 17: streamed exports once carried no `ETag`; now a weak one, and a
/// `304` for it while nothing changed.
#[tokio::test]
async fn streamed_exports_carry_a_weak_etag() {
    let app = spawn_app().await;
    app.create_event(&death_toll()).await;
    let reply = app.get("/v1/events?format=ndjson").await;
    assert_eq!(reply.status, 200);
    let tag = reply.header("etag").expect("an ETag");
    assert!(tag.starts_with("W/\""), "{tag}");
    let again = get_if_none_match(&app, "/v1/events?format=ndjson", tag).await;
    assert_eq!(again.status, 304);
}

#[tokio::test]
async fn require_if_match_turns_blind_changes_into_428() {
    let app = spawn_app_with(|config| config.require_if_match = true).await;
    let created = app.create_event(&death_toll()).await;
    let path = path_of(&created);
    let blind = app.patch(&path, &json!({"title": "blind"})).await;
    assert_eq!(blind.status, 428, "{}", blind.text);
    assert_eq!(blind.content_type(), "application/problem+json");
    assert_eq!(app.delete(&path).await.status, 428);
    assert_eq!(app.put(&path, &death_toll()).await.status, 428, "PUT too");
    let current = app.get(&path).await.body;
    assert_eq!(current["version"], 1);
    let careful = app
        .send(
            app.client
                .patch(app.url(&path))
                .header("content-type", "application/merge-patch+json")
                .header("if-match", "\"1\"")
                .body(json!({"title": "careful"}).to_string()),
        )
        .await;
    assert_eq!(careful.status, 200, "{}", careful.text);
}

// --- guarantees --------------------------------------------------------------

#[tokio::test]
async fn after_a_storm_of_concurrent_writes_every_event_equals_its_latest_revision() {
    let app = spawn_app().await;
    app.create_timeline("storm").await;
    let mut paths = Vec::new();
    for i in 0..4 {
        let created = app
            .create_event(&event(&format!("event {i}"), "2022-01-05T00:00:00Z"))
            .await;
        paths.push((
            path_of(&created),
            created["id"].as_str().unwrap().to_owned(),
        ));
    }
    let writes = (0..48).map(|i| {
        let (path, id) = &paths[i % paths.len()];
        let request = match i % 6 {
            0 => app
                .client
                .patch(app.url(path))
                .header("content-type", "application/merge-patch+json")
                .body(json!({"title": format!("title {i}")}).to_string()),
            1 => app.client.put(app.url(path)).json(&with(
                event(&format!("replaced {i}"), "2022-01-06T00:00:00Z"),
                json!({"tags": [format!("t{i}")]}),
            )),
            2 => app.client.delete(app.url(path)),
            3 => app.client.post(app.url(&format!("{path}/restore"))),
            4 => app
                .client
                .put(app.url(&format!("/v1/timelines/storm/events/{id}"))),
            _ => app
                .client
                .delete(app.url(&format!("/v1/timelines/storm/events/{id}"))),
        };
        app.send(request)
    });
    let replies = join_all(writes).await;
    for reply in &replies {
        // Losing a race is a clean 404 or 409 (deleted or not deleted), never a 500.
        assert!(
            [200, 204, 404, 409].contains(&reply.status),
            "{}: {}",
            reply.status,
            reply.text
        );
    }
    for (path, _) in &paths {
        let history = app.get(&format!("{path}/revisions?limit=1000")).await;
        let versions: Vec<i64> = history
            .column("version")
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected, "gapless versions");
        let latest = app
            .get(&format!("{path}/revisions/{}", versions.len()))
            .await;
        let current = app.get(path).await;
        if latest.body["kind"] == "deleted" {
            assert_eq!(current.status, 404);
        } else {
            assert_eq!(current.status, 200);
            assert_eq!(latest.body["event"], current.body, "{path}");
        }
    }
    // And in the tables themselves, deleted events included.
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM events e JOIN LATERAL (SELECT * FROM event_revisions r \
             WHERE r.event_id = e.id ORDER BY r.version DESC LIMIT 1) r ON true \
             WHERE r.version = e.version AND r.deleted = (e.deleted_at IS NOT NULL) \
             AND r.snapshot ->> 'title' = e.title"
        )
        .await,
        4
    );
}

#[tokio::test]
async fn the_database_refuses_revisions_out_of_order() {
    let app = spawn_app().await;
    let path = reported_and_corrected(&app).await;
    let id = path.trim_start_matches("/v1/events/");
    let copy = |version: i32, known_at: &str| {
        format!(
            "INSERT INTO event_revisions (event_id, version, kind, known_at, snapshot, deleted, occurred_start, \
             occurred_until, event_type, status, tags, actor_keys, timeline_slugs) \
             SELECT event_id, {version}, 'updated', '{known_at}', snapshot, deleted, occurred_start, occurred_until, \
             event_type, status, tags, actor_keys, timeline_slugs FROM event_revisions \
             WHERE event_id = '{id}' AND version = 2"
        )
    };
    let mut conn = app.pool.get().await.unwrap();
    use diesel_async::RunQueryDsl;
    for (sql, why) in [
        (copy(4, "2022-01-07T00:00:00Z"), "a gap in the versions"),
        (copy(3, "2022-01-06T07:00:00Z"), "known_at going backwards"),
    ] {
        let result = diesel::sql_query(&sql).execute(&mut conn).await;
        assert!(result.is_err(), "{why} was accepted");
    }
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM event_revisions WHERE event_id = '{id}'"
        ))
        .await,
        2
    );
}
