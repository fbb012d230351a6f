//! The change feed never skips a commit: writers whose transactions are held
//! open on purpose and commit out of order, and a reader polling throughout,
//! end with every change exactly once, and each event's versions in order.

use std::collections::HashMap;
use std::time::Duration;

use chronik::db;
use chronik::models::event::{EventInput, ValidEventInput};
use chronik::models::revision::ChangeMeta;
use chronik::models::values::{EventId, TimelineSlug};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::changes::{read_all, read_settled};
use crate::helpers::{TestApp, event, spawn_app};

/// A transaction on its own connection that takes its transaction id, then
/// runs `write` and waits for `release` before it commits.
fn held_open<W>(app: &TestApp, write: W) -> (oneshot::Receiver<()>, oneshot::Sender<()>)
where
    W: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, ()> + Send + 'static,
{
    let url = app.config.database_url.clone();
    let (written_tx, written) = oneshot::channel();
    let (release, release_rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
        conn.transaction::<_, diesel::result::Error, _>(async move |conn| {
            diesel::sql_query("SELECT pg_current_xact_id()")
                .execute(conn)
                .await?;
            write(conn).await;
            written_tx.send(()).unwrap();
            release_rx.await.unwrap();
            Ok(())
        })
        .await
        .unwrap();
    });
    (written, release)
}

async fn create(conn: &mut AsyncPgConnection, title: &str) {
    let input: EventInput = serde_json::from_value(event(title, "2022-01-05T00:00:00Z")).unwrap();
    let valid = ValidEventInput::try_from(input).unwrap();
    db::events::create(conn, valid, &ChangeMeta::default())
        .await
        .unwrap();
}

fn titles(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["event"]["title"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls until the feed after `cursor` yields something (other tests'
/// transactions on the same server may hold it back for a moment).
async fn poll_until_some(app: &TestApp, cursor: &str) -> (Vec<Value>, String) {
    for _ in 0..600 {
        let (entries, next) = read_all(app, "", Some(cursor)).await;
        if !entries.is_empty() {
            return (entries, next);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the feed served nothing after {cursor} for 30 s");
}

#[tokio::test]
async fn commits_out_of_order_reach_a_polling_reader_exactly_once() {
    let app = spawn_app().await;
    let (_, start) = read_all(&app, "", None).await;

    // Three writers take transaction ids in the order a, b, c and write.
    let mut held = Vec::new();
    for title in ["a", "b", "c"] {
        let (written, release) = held_open(&app, move |conn| Box::pin(create(conn, title)));
        written.await.unwrap();
        held.push(release);
    }
    // One more commits at once, through the API.
    app.create_event(&event("api", "2022-01-05T00:00:00Z"))
        .await;

    // They commit in reverse: c, then b. With a still open, nothing that
    // began writing after it may be served, or a cursor past it would skip a.
    let mut seen = Vec::new();
    let mut cursor = start;
    let release_a = held.remove(0);
    for release in held.into_iter().rev() {
        release.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (entries, next) = read_all(&app, "", Some(&cursor)).await;
        assert!(
            entries.is_empty(),
            "served past a running transaction: {entries:?}"
        );
        seen.extend(entries);
        cursor = next;
    }
    release_a.send(()).unwrap();
    let (entries, _) = read_settled(&app, "", Some(&cursor), 4).await;
    seen.extend(entries);

    let mut got = titles(&seen);
    got.sort();
    assert_eq!(got, ["a", "api", "b", "c"], "every change exactly once");
}

#[tokio::test]
async fn an_event_changed_by_an_older_transaction_after_a_younger_one_keeps_its_versions_in_order()
{
    let app = spawn_app().await;
    app.create_timeline("later").await;
    let created = app.create_event(&event("e", "2022-01-05T00:00:00Z")).await;
    let id: EventId = created["id"].as_str().unwrap().parse().unwrap();

    // The older transaction takes its id first, but changes the event only
    // after a younger one (the API's patch) has changed it and committed.
    let (go_tx, go) = oneshot::channel::<()>();
    let (written, release) = held_open(&app, move |conn| {
        Box::pin(async move {
            go.await.unwrap();
            let slug: TimelineSlug = "later".parse().unwrap();
            db::memberships::set_membership(conn, &slug, id, true, &ChangeMeta::default())
                .await
                .unwrap();
        })
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let patched = app
        .patch(
            &format!("/v1/events/{}", id.0),
            &serde_json::json!({"title": "patched"}),
        )
        .await;
    assert_eq!(patched.status, 200);
    go_tx.send(()).unwrap();
    written.await.unwrap();
    release.send(()).unwrap();

    let mut versions = HashMap::new();
    let mut cursor = "0-0".to_owned();
    let mut order = Vec::new();
    while order.len() < 3 {
        let (entries, next) = poll_until_some(&app, &cursor).await;
        for entry in entries {
            order.push(entry["version"].as_i64().unwrap());
            versions.insert(entry["version"].as_i64().unwrap(), entry);
        }
        cursor = next;
    }
    assert_eq!(order, [1, 2, 3], "versions in the order they were made");
    assert_eq!(
        versions[&3]["changed_fields"],
        serde_json::json!(["timelines"])
    );
}

#[tokio::test]
async fn forty_concurrent_writers_and_a_polling_reader_see_every_change_once() {
    let app = spawn_app().await;
    let (_, mut cursor) = read_all(&app, "", None).await;
    let writers: Vec<_> = (0..40)
        .map(|i| {
            let url = app.config.database_url.clone();
            tokio::spawn(async move {
                let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
                for j in 0..25 {
                    create(&mut conn, &format!("w{i}-{j}")).await;
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    let poll = async {
        loop {
            let (entries, next) = read_all(&app, "", Some(&cursor)).await;
            seen.extend(entries);
            cursor = next;
            if seen.len() >= 1000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let (_, results) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(120), poll),
        futures_util::future::join_all(writers)
    );
    assert!(results.iter().all(Result::is_ok));
    let mut got = titles(&seen);
    assert_eq!(got.len(), 1000);
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 1000, "no change twice");
}
