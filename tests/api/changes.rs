//! The change feed (`GET /v1/changes`): every committed change once, in an
//! order a reader resumes from, narrowed by the list filters.

use serde_json::{Value, json};

use crate::helpers::{TestApp, event, spawn_app, with};

/// Reads the feed from `after` until it has caught up: the entries, and the cursor to resume from.
pub async fn read_all(app: &TestApp, query: &str, after: Option<&str>) -> (Vec<Value>, String) {
    let mut entries = Vec::new();
    let mut cursor = after.map(str::to_owned);
    loop {
        let mut path = format!("/v1/changes?limit=3{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&after={cursor}"));
        }
        let page = app.get(&path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        entries.extend(page.body["data"].as_array().unwrap().iter().cloned());
        let next = page.body["next_cursor"].as_str().unwrap().to_owned();
        cursor = Some(next.clone());
        if page.body["has_more"] == false {
            return (entries, next);
        }
    }
}

/// Reads the feed until it has served `count` entries. A change is served
/// once every transaction older than it has ended, on the whole Postgres
/// server: other tests' transactions may hold it back for a moment.
pub async fn read_settled(
    app: &TestApp,
    query: &str,
    after: Option<&str>,
    count: usize,
) -> (Vec<Value>, String) {
    let mut entries = Vec::new();
    let mut cursor = after.map(str::to_owned);
    for _ in 0..600 {
        let (more, next) = read_all(app, query, cursor.as_deref()).await;
        entries.extend(more);
        cursor = Some(next);
        if entries.len() >= count {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(entries.len(), count, "{entries:?}");
    (entries, cursor.unwrap_or_default())
}

/// `(kind, version)` of each entry.
fn kinds(entries: &[Value]) -> Vec<(String, i64)> {
    entries
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["version"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_empty_store_has_an_empty_feed_with_a_cursor_to_resume_from() {
    let app = spawn_app().await;
    let page = app.get("/v1/changes").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["data"], json!([]));
    assert_eq!(page.body["has_more"], false);
    assert!(page.body["next_cursor"].as_str().unwrap().contains('-'));
}

#[tokio::test]
async fn every_revision_is_one_entry_in_the_order_it_happened() {
    let app = spawn_app().await;
    let created = app
        .create_event(&with(
            event("a", "2022-01-05T00:00:00Z"),
            json!({"external_id": "KAZ1"}),
        ))
        .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/events/{id}");
    assert_eq!(app.patch(&path, &json!({"title": "b"})).await.status, 200);
    assert_eq!(app.delete(&path).await.status, 204);
    let restored = app.post(&format!("{path}/restore"), &json!({})).await;
    assert_eq!(restored.status, 200, "{}", restored.text);

    let (entries, _) = read_settled(&app, "", None, 4).await;
    assert_eq!(
        kinds(&entries),
        [
            ("created".into(), 1),
            ("updated".into(), 2),
            ("deleted".into(), 3),
            ("restored".into(), 4)
        ]
    );
    assert!(entries.iter().all(|e| e["event_id"] == id));
    assert_eq!(entries[1]["event"]["title"], "b");
    assert_eq!(entries[1]["changed_fields"], json!(["title"]));
    let tombstone = &entries[2];
    assert!(tombstone["event"].is_null(), "{tombstone}");
    assert_eq!(tombstone["external_id"], "KAZ1");
    assert_eq!(entries[3]["event"]["title"], "b");
    for entry in &entries {
        assert!(entry["known_at"].is_string() && entry["recorded_at"].is_string());
    }
}

#[tokio::test]
async fn a_caught_up_reader_gets_exactly_the_changes_made_since() {
    let app = spawn_app().await;
    app.create_event(&event("first", "2022-01-05T00:00:00Z"))
        .await;
    let (seen, cursor) = read_settled(&app, "", None, 1).await;
    assert_eq!(seen.len(), 1);
    // The cursor may move on (past transactions that wrote nothing here), never back.
    let (again, _) = read_all(&app, "", Some(&cursor)).await;
    assert!(again.is_empty());

    app.create_event(&event("second", "2022-01-06T00:00:00Z"))
        .await;
    app.create_event(&event("third", "2022-01-07T00:00:00Z"))
        .await;
    let (new, _) = read_settled(&app, "", Some(&cursor), 2).await;
    let titles: Vec<&str> = new
        .iter()
        .map(|e| e["event"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["second", "third"]);
}

#[tokio::test]
async fn pages_link_to_the_next_and_hand_out_each_change_once() {
    let app = spawn_app().await;
    for i in 0..7 {
        app.create_event(&event(&format!("e{i}"), "2022-01-05T00:00:00Z"))
            .await;
    }
    read_settled(&app, "", None, 7).await;
    let first = app.get("/v1/changes?limit=3").await;
    assert_eq!(first.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(first.body["has_more"], true);
    let link = first.header("link").unwrap();
    assert!(
        link.contains("after=") && link.contains("rel=\"next\""),
        "{link}"
    );
    let (all, _) = read_settled(&app, "", None, 7).await;
    let mut titles: Vec<&str> = all
        .iter()
        .map(|e| e["event"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 7);
    titles.dedup();
    assert_eq!(titles.len(), 7);
}

#[tokio::test]
async fn an_event_leaving_a_filtered_feed_arrives_once_as_left() {
    let app = spawn_app().await;
    app.create_timeline("almaty").await;
    let inside = app
        .create_event(&event("inside", "2022-01-05T00:00:00Z"))
        .await;
    app.create_event(&event("never on it", "2022-01-05T00:00:00Z"))
        .await;
    let id = inside["id"].as_str().unwrap();
    let member = format!("/v1/timelines/almaty/events/{id}");
    assert_eq!(app.put(&member, &json!({})).await.status, 204);
    assert_eq!(
        app.patch(
            &format!("/v1/events/{id}"),
            &json!({"title": "still inside"})
        )
        .await
        .status,
        200
    );
    assert_eq!(app.delete(&member).await.status, 204);
    assert_eq!(
        app.patch(&format!("/v1/events/{id}"), &json!({"title": "gone"}))
            .await
            .status,
        200
    );

    let (entries, _) = read_settled(&app, "&timeline=almaty", None, 3).await;
    assert_eq!(
        kinds(&entries),
        [
            ("updated".into(), 2),
            ("updated".into(), 3),
            ("left".into(), 4)
        ]
    );
    assert_eq!(entries[0]["changed_fields"], json!(["timelines"]));
    assert_eq!(entries[0]["timelines"], json!(["almaty"]));
    assert_eq!(
        entries[2]["timelines"],
        json!(["almaty"]),
        "a removal touches the timeline it left"
    );
    assert_eq!(entries[2]["event"]["timelines"], json!([]));
}

#[tokio::test]
async fn a_type_filter_sees_an_event_leave_when_its_type_changes() {
    let app = spawn_app().await;
    let created = app.create_event(&event("p", "2022-01-05T00:00:00Z")).await;
    let id = created["id"].as_str().unwrap();
    let changed = app
        .patch(&format!("/v1/events/{id}"), &json!({"type": "casualties"}))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let (protests, _) = read_settled(&app, "&type=protest", None, 2).await;
    assert_eq!(
        kinds(&protests),
        [("created".into(), 1), ("left".into(), 2)]
    );
    let (casualties, _) = read_settled(&app, "&type=casualties", None, 1).await;
    assert_eq!(kinds(&casualties), [("updated".into(), 2)]);
}

#[tokio::test]
async fn a_deleted_event_reaches_a_filtered_feed_as_a_tombstone() {
    let app = spawn_app().await;
    let created = app.create_event(&event("p", "2022-01-05T00:00:00Z")).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(app.delete(&format!("/v1/events/{id}")).await.status, 204);
    let (entries, _) = read_settled(&app, "&country=KZ", None, 2).await;
    assert_eq!(
        kinds(&entries),
        [("created".into(), 1), ("deleted".into(), 2)]
    );
    assert!(entries[1]["event"].is_null());
}

#[tokio::test]
async fn since_starts_a_first_sync_at_an_instant() {
    let app = spawn_app().await;
    app.create_event(&event("before", "2022-01-05T00:00:00Z"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let instant = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.create_event(&event("after", "2022-01-05T00:00:00Z"))
        .await;
    let since = format!("&since={}", instant.replace('+', "%2B"));
    let mut titles = Vec::new();
    for _ in 0..600 {
        let page = app.get(&format!("/v1/changes?limit=10{since}")).await;
        assert_eq!(page.status, 200, "{}", page.text);
        titles = page.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"]["title"].as_str().unwrap().to_owned())
            .collect();
        if !titles.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(titles, ["after"]);
}

#[tokio::test]
async fn since_after_every_change_starts_at_the_head() {
    let app = spawn_app().await;
    app.create_event(&event("old", "2022-01-05T00:00:00Z"))
        .await;
    // Once "old" is settled, a start after every change is the head.
    read_settled(&app, "", None, 1).await;
    let page = app.get("/v1/changes?since=2100-01-01T00:00:00Z").await;
    assert_eq!(page.body["data"], json!([]));
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    app.create_event(&event("new", "2022-01-05T00:00:00Z"))
        .await;
    let (entries, _) = read_settled(&app, "", Some(&cursor), 1).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["event"]["title"], "new");
}

#[tokio::test]
async fn bad_feed_parameters_are_refused_by_name() {
    let app = spawn_app().await;
    for (query, field) in [
        ("after=12", "after"),
        ("after=-1-2", "after"),
        ("after=1-2&since=2022-01-01T00:00:00Z", "since"),
        ("since=yesterday", "since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("as_of=2022-01-01T00:00:00Z", "as_of"),
        ("sort=desc", "sort"),
        ("type=protset", "type"),
        ("timeline=nowhere", "timeline"),
        ("format=csv", "format"),
        ("format=ndjson&limit=5", "limit"),
        // No cursor this store handed out is ahead of its feed.
        ("after=999999999999-0", "after"),
        ("after=999999999999-0&format=ndjson", "after"),
    ] {
        let reply = app.get(&format!("/v1/changes?{query}")).await;
        reply.assert_problem(400, field);
    }
}

#[tokio::test]
async fn ndjson_carries_every_change_and_says_where_to_resume() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.create_event(&event(&format!("e{i}"), "2022-01-05T00:00:00Z"))
            .await;
    }
    read_settled(&app, "", None, 3).await;
    let reply = app
        .send(
            app.client
                .get(app.url("/v1/changes"))
                .header("accept", "application/x-ndjson"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.content_type().starts_with("application/x-ndjson"));
    let lines: Vec<Value> = reply
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["event"]["title"], "e2");
    let resume = reply.header("chronik-next-cursor").unwrap().to_owned();
    app.create_event(&event("later", "2022-01-05T00:00:00Z"))
        .await;
    let (entries, _) = read_settled(&app, "", Some(&resume), 1).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["event"]["title"], "later");
}

#[tokio::test]
async fn an_import_appears_as_one_entry_per_record() {
    let app = spawn_app().await;
    let body: String = (0..5)
        .map(|i| {
            format!(
                "{}\n",
                event(&format!("imported {i}"), "2022-01-05T00:00:00Z")
            )
        })
        .collect();
    let reply = app
        .send(
            app.client
                .post(app.url("/v1/import"))
                .header("content-type", "application/x-ndjson")
                .body(body),
        )
        .await;
    assert!(reply.status < 300, "{}", reply.text);
    let (entries, _) = read_settled(&app, "", None, 5).await;
    assert_eq!(entries.len(), 5);
    assert!(entries.iter().all(|e| e["kind"] == "created"));
}

#[tokio::test]
async fn a_narrow_filter_over_a_busy_feed_pages_on_with_fewer_entries_than_its_limit() {
    let app = spawn_app().await;
    app.create_timeline("rare").await;
    for i in 0..30 {
        app.create_event(&event(&format!("busy {i}"), "2022-01-05T00:00:00Z"))
            .await;
    }
    let rare = app
        .create_event(&event("rare", "2022-01-05T00:00:00Z"))
        .await;
    let id = rare["id"].as_str().unwrap();
    let member = format!("/v1/timelines/rare/events/{id}");
    assert_eq!(app.put(&member, &json!({})).await.status, 204);
    read_settled(&app, "", None, 32).await;

    // A page of one looks at 20 revisions at most: the first says "more".
    let first = app.get("/v1/changes?timeline=rare&limit=1").await;
    assert_eq!(first.body["data"], json!([]));
    assert_eq!(first.body["has_more"], true);
    let (entries, _) = read_settled(&app, "&timeline=rare", None, 1).await;
    assert_eq!(entries[0]["event"]["title"], "rare");
}

#[tokio::test]
async fn deleting_a_timeline_makes_each_of_its_events_leave_its_feed() {
    let app = spawn_app().await;
    app.create_timeline("closing").await;
    for title in ["a", "b"] {
        let created = app
            .create_event(&with(
                event(title, "2022-01-05T00:00:00Z"),
                json!({"timelines": ["closing"]}),
            ))
            .await;
        assert!(created["id"].is_string());
    }
    assert_eq!(app.delete("/v1/timelines/closing").await.status, 204);
    let (entries, _) = read_settled(&app, "&timeline=closing", None, 4).await;
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "created", "left", "left"]);
    assert!(
        entries[2..]
            .iter()
            .all(|e| e["timelines"] == json!(["closing"]))
    );
}
