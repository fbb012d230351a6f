use std::collections::HashSet;

use crate::helpers::{event, spawn_app};

#[tokio::test]
async fn paging_returns_every_event_exactly_once_in_order() {
    let app = spawn_app().await;
    // Several events share a start time, so the id breaks ties.
    for i in 0..23 {
        app.create_event(&event(
            &format!("e{i}"),
            &format!("2022-01-{:02}T00:00:00Z", 1 + i % 7),
        ))
        .await;
    }
    let ids = app.all_ids("/v1/events?limit=5").await;
    assert_eq!(ids.len(), 23);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 23);
    let desc = app.all_ids("/v1/events?limit=4&sort=desc").await;
    let mut reversed = desc.clone();
    reversed.reverse();
    assert_eq!(ids, reversed);
}

#[tokio::test]
async fn last_page_has_no_cursor_and_no_link() {
    let app = spawn_app().await;
    for i in 0..4 {
        app.create_event(&event(&format!("e{i}"), "2022-01-05T00:00:00Z"))
            .await;
    }
    let first = app.get("/v1/events?limit=2&type=protest").await;
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let link = first.header("link").expect("a Link header");
    assert_eq!(
        link,
        format!("</v1/events?limit=2&type=protest&cursor={cursor}>; rel=\"next\"")
    );
    let second = app
        .get(&format!("/v1/events?limit=2&type=protest&cursor={cursor}"))
        .await;
    assert_eq!(second.column("id").len(), 2);
    assert_eq!(second.body["next_cursor"], serde_json::Value::Null);
    assert!(second.header("link").is_none());
}

#[tokio::test]
async fn inserts_between_pages_neither_duplicate_nor_skip_existing_events() {
    let app = spawn_app().await;
    let mut originals = HashSet::new();
    for i in 0..10 {
        let e = app
            .create_event(&event(
                &format!("e{i}"),
                &format!("2022-01-{:02}T00:00:00Z", i + 1),
            ))
            .await;
        originals.insert(e["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut url = "/v1/events?limit=3".to_owned();
    let mut page = 0;
    loop {
        let reply = app.get(&url).await;
        seen.extend(
            reply
                .column("id")
                .into_iter()
                .map(|v| v.as_str().unwrap().to_owned()),
        );
        // Between pages, add one event before and one after the current position.
        app.create_event(&event(&format!("early{page}"), "2021-12-01T00:00:00Z"))
            .await;
        app.create_event(&event(&format!("late{page}"), "2022-02-01T00:00:00Z"))
            .await;
        page += 1;
        match reply.body["next_cursor"].as_str() {
            Some(cursor) => url = format!("/v1/events?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no event twice");
    assert!(originals.is_subset(&unique), "no existing event skipped");
}

#[tokio::test]
async fn a_cursor_for_the_other_sort_order_is_rejected() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.create_event(&event(&format!("e{i}"), "2022-01-05T00:00:00Z"))
            .await;
    }
    let first = app.get("/v1/events?limit=1").await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    app.get(&format!("/v1/events?limit=1&sort=desc&cursor={cursor}"))
        .await
        .assert_problem(400, "cursor");
}
