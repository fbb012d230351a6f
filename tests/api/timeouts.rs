//! Time limits on database work: `statement_timeout` on every connection the
//! server uses for requests, exports and imports, and
//! `idle_in_transaction_session_timeout` on those of exports.

use chronik::bulk::{Limits, Slots};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use std::time::Duration;

use crate::helpers::{Reply, TestApp, event, spawn_app_with};

/// Longer than any limit a test sets: a request that waits this long was
/// never cut short by the server.
const CLIENT_PATIENCE: Duration = Duration::from_secs(20);

/// A connection holding an ACCESS EXCLUSIVE lock on `events`: every
/// statement that reads or writes events waits for it, as for a slow query,
/// until the guard is dropped (closing the connection ends the transaction).
struct EventsLocked {
    _conn: AsyncPgConnection,
}

async fn lock_events(app: &TestApp) -> EventsLocked {
    let mut conn = AsyncPgConnection::establish(&app.config.database_url)
        .await
        .expect("connecting");
    conn.batch_execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("locking events");
    EventsLocked { _conn: conn }
}

/// GETs `path` without a token, giving up (failing the test) after `CLIENT_PATIENCE`.
async fn get_patiently(app: &TestApp, path: &str) -> Reply {
    app.send(app.anonymous.get(app.url(path)).timeout(CLIENT_PATIENCE))
        .await
}

#[track_caller]
fn assert_timed_out(reply: &Reply) {
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.body["type"], "urn:chronik:problem:timeout");
    assert_eq!(reply.header("retry-after"), Some("1"));
    // Chronik's words, not Postgres's.
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("took longer than this server allows"),
        "{detail}"
    );
    assert!(!detail.contains("canceling"), "{detail}");
}

#[tokio::test]
async fn a_query_past_the_statement_timeout_is_503_and_the_server_keeps_serving() {
    let app = spawn_app_with(|config| {
        config.statement_timeout = "200ms".parse().expect("a time limit");
    })
    .await;
    app.create_event(&event("Before the lock", "2022-01-05T00:00:00Z"))
        .await;
    let locked = lock_events(&app).await;
    assert_timed_out(&get_patiently(&app, "/v1/events").await);
    drop(locked);
    let page = get_patiently(&app, "/v1/events").await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.column("title"), ["Before the lock"]);
    app.assert_requests_served("After the timeout").await;
}

#[tokio::test]
async fn exports_are_cut_short_by_their_own_statement_timeout() {
    // Requests keep the default (30 s): the export's limit is the bulk one.
    let app = spawn_app_with(|config| {
        config.bulk_statement_timeout = "200ms".parse().expect("a time limit");
    })
    .await;
    app.create_event(&event("Exported", "2022-01-05T00:00:00Z"))
        .await;
    let locked = lock_events(&app).await;
    assert_timed_out(&get_patiently(&app, "/v1/events?format=ndjson").await);
    drop(locked);
    let export = get_patiently(&app, "/v1/events?format=ndjson").await;
    assert_eq!(export.status, 200, "{}", export.text);
    assert_eq!(export.text.lines().count(), 1, "{}", export.text);
}

#[tokio::test]
async fn imports_are_cut_short_by_the_bulk_statement_timeout_and_write_nothing() {
    let app = spawn_app_with(|config| {
        config.bulk_statement_timeout = "200ms".parse().expect("a time limit");
    })
    .await;
    let import = || {
        app.client
            .post(app.url("/v1/import"))
            .header("content-type", "application/x-ndjson")
            .body(format!("{}\n", event("Imported", "2022-01-05T00:00:00Z")))
            .timeout(CLIENT_PATIENCE)
    };
    let locked = lock_events(&app).await;
    assert_timed_out(&app.send(import()).await);
    drop(locked);
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
    let retry = app.send(import()).await;
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.body["created"], 1);
}

/// A setting of the session `conn` is in.
async fn setting(conn: &mut AsyncPgConnection, name: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let row: Setting = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query("SELECT current_setting($1) AS value")
            .bind::<diesel::sql_types::Text, _>(name),
        conn,
    )
    .await
    .expect("reading a setting");
    row.value
}

#[tokio::test]
async fn postgres_ends_an_export_transaction_the_server_left_idle() {
    // Exports end themselves when their reader stalls or their time is up;
    // should the server fail to, Postgres ends the session after a while.
    let app = spawn_app_with(|_| {}).await;
    let exports =
        Slots::new(&app.config.database_url, Limits::exports(&app.config)).expect("export slots");
    let client = chronik::auth::Caller::Anonymous {
        ip: std::net::Ipv4Addr::LOCALHOST.into(),
    };
    let mut slot = exports.acquire(&client).await.expect("an export slot");
    assert_eq!(
        setting(&mut slot.conn, "idle_in_transaction_session_timeout").await,
        "3min"
    );
    assert_eq!(setting(&mut slot.conn, "statement_timeout").await, "5min");
}
