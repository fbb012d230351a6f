//! `POST /v1/import` runs on connections of its own, at most
//! `CHRONIK_MAX_IMPORTS` at once: running imports never take the
//! connections requests need, and one too many is refused at once.

use chronik::models::token::Scope;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Reply, TestApp, event, spawn_app_with};

/// An import whose upload stays open until [`finish`] ends it.
struct OpenImport {
    stream: TcpStream,
}

/// Imports in progress: backends in a transaction other than the one asking.
async fn running_imports(app: &TestApp) -> i64 {
    app.count(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND xact_start IS NOT NULL \
         AND pid <> pg_backend_pid()",
    )
    .await
}

/// Sends an import's head and one record, and waits until the server runs
/// it (its transaction is open, waiting for the rest of the body).
async fn start_import(app: &TestApp, secret: &str, external_id: &str) -> OpenImport {
    let running = running_imports(app).await;
    let address = app.address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connecting");
    let record = format!(
        "{}\n",
        crate::helpers::with(
            event("Held open", "2022-01-05T00:00:00Z"),
            serde_json::json!({"external_id": external_id}),
        )
    );
    let head = format!(
        "POST /v1/import HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {secret}\r\n\
         Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{record}\r\n",
        record.len()
    );
    stream.write_all(head.as_bytes()).await.expect("writing");
    let deadline = Instant::now() + Duration::from_secs(30);
    while running_imports(app).await <= running {
        assert!(Instant::now() < deadline, "the import never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    OpenImport { stream }
}

/// Ends the upload and returns the response's status.
async fn finish(mut import: OpenImport) -> u16 {
    import.stream.write_all(b"0\r\n\r\n").await.expect("ending");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = import.stream.read(&mut byte).await.expect("reading");
        assert!(n > 0, "the server closed without a response");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    head.split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"))
}

/// Imports one event, uploaded whole.
async fn import_one(app: &TestApp, secret: &str, title: &str) -> Reply {
    app.send(
        app.client_with(secret)
            .post(app.url("/v1/import"))
            .header("content-type", "application/x-ndjson")
            .body(format!("{}\n", event(title, "2022-01-05T00:00:00Z"))),
    )
    .await
}

#[tokio::test]
async fn imports_beyond_the_limit_get_503_until_one_finishes() {
    let app = spawn_app_with(|config| config.max_imports = 1).await;
    let secret = app.secret(Scope::Write).await;
    let running = start_import(&app, &secret, "held").await;

    let refused = import_one(&app, &secret, "Too many").await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert_eq!(refused.content_type(), "application/problem+json");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(
        refused.text.contains("CHRONIK_MAX_IMPORTS"),
        "{}",
        refused.text
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);

    assert_eq!(finish(running).await, 200);
    let after = import_one(&app, &secret, "Next").await;
    assert_eq!(after.status, 200, "the finished import gave back its slot");
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 2);
}

#[tokio::test]
async fn running_imports_leave_the_pool_to_requests() {
    // As many imports as the whole request pool has connections (one per
    // worker): they run on connections of their own, so requests are served.
    let app = spawn_app_with(|config| {
        config.db_pool_size = 2;
        config.max_imports = 2;
    })
    .await;
    let secret = app.secret(Scope::Write).await;
    let first = start_import(&app, &secret, "first").await;
    let second = start_import(&app, &secret, "second").await;
    app.assert_requests_served("During the imports").await;
    assert_eq!(finish(first).await, 200);
    assert_eq!(finish(second).await, 200);
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 3);
}

/// A record with a summary of `size` bytes.
fn sized(title: &str, size: usize) -> serde_json::Value {
    crate::helpers::with(
        event(title, "2022-01-05T00:00:00Z"),
        serde_json::json!({"summary": "s".repeat(size)}),
    )
}

/// Posts an import with a write token.
async fn import_as(app: &TestApp, content_type: &str, body: String) -> Reply {
    let writer = app.client_with(&app.secret(Scope::Write).await);
    app.send(
        writer
            .post(app.url("/v1/import"))
            .header("content-type", content_type)
            .body(body),
    )
    .await
}

#[tokio::test]
async fn a_record_over_the_record_limit_fails_the_import_naming_its_line() {
    let app = spawn_app_with(|config| config.max_import_record_bytes = 4096).await;
    let (small, large) = (sized("Small", 100), sized("Large", 10_000));
    let csv_row =
        |summary: usize| format!("t,protest,2022-01-05T00:00:00Z,{}\r\n", "s".repeat(summary));
    let bodies = [
        (
            "application/x-ndjson",
            format!("{small}\n{small}\n{large}\n{small}\n"),
            3,
        ),
        (
            "application/json",
            format!("[\n{small},\n{small},\n{large}\n]"),
            4,
        ),
        (
            "application/json",
            format!(
                "{{\"timelines\": [\n{{\"slug\": \"kz\", \"title\": \"KZ\", \"description\": \"{}\"}}\n], \"events\": [{small}]}}",
                "d".repeat(10_000)
            ),
            2,
        ),
        (
            "text/csv",
            format!(
                "title,type,occurred_start,summary\r\n{}{}",
                csv_row(10),
                csv_row(10_000)
            ),
            3,
        ),
    ];
    for (content_type, body, line) in bodies {
        let reply = import_as(&app, content_type, body).await;
        reply.assert_problem(422, "body");
        assert_eq!(reply.body["type"], "urn:chronik:problem:import-invalid");
        let error = &reply.body["errors"][0];
        assert_eq!(error["line"], line, "{content_type}: {}", reply.text);
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("4096 bytes") && message.contains("CHRONIK_MAX_IMPORT_RECORD_BYTES"),
            "{content_type}: {message}"
        );
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM timelines").await, 0);
}

#[tokio::test]
async fn records_within_the_record_limit_import_in_any_number() {
    let app = spawn_app_with(|config| config.max_import_record_bytes = 4096).await;
    let record = sized("Within", 3000).to_string();
    assert!(record.len() < 4096);
    let body = format!("{record}\n").repeat(50);
    let reply = import_as(&app, "application/x-ndjson", body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["created"], 50);
}
