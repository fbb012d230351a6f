//! Stopping the real binary in the middle of work. SIGTERM: it accepts no new
//! connections, lets running requests finish within
//! `CHRONIK_SHUTDOWN_TIMEOUT`, cuts off the rest, and exits 0. An import
//! commits whole or leaves nothing; an export's client gets the whole body or
//! an incomplete transfer, never a short body that looks complete. SIGKILL:
//! Postgres rolls back what the process had not committed.

use std::os::unix::process::ExitStatusExt as _;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::binary::Served;
use crate::helpers::{TestApp, spawn_app};

/// Events of an import: more than one batch of the bulk writer (2,000).
const IMPORTED: usize = 6_000;
/// How many of them go out before the signal: at least one batch.
const SENT_FIRST: usize = 4_500;

/// The import's body, one NDJSON line per event.
fn import_body() -> Vec<u8> {
    (1..=IMPORTED)
        .map(|i| {
            format!(
                "{{\"title\": \"Imported {i}\", \"type\": \"protest\", \"occurred_start\": \"2022-01-05T00:00:00Z\"}}\n"
            )
        })
        .collect::<String>()
        .into_bytes()
}

/// An import whose body is sent in two parts, over a connection of its own.
struct Upload {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl Upload {
    /// Sends the head of `POST /v1/import` and the first [`SENT_FIRST`] lines.
    async fn begin(served: &Served, token: &str) -> Upload {
        let body = import_body();
        let split = body
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(SENT_FIRST - 1)
            .map(|(at, _)| at + 1)
            .unwrap();
        let mut stream = TcpStream::connect(&served.addr).await.unwrap();
        let head = format!(
            "POST /v1/import HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/x-ndjson\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            served.addr,
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..split]).await.unwrap();
        Upload {
            stream,
            rest: body[split..].to_vec(),
        }
    }

    /// Sends the rest of the body and reads the answer: its status and body.
    async fn finish(mut self) -> (u16, serde_json::Value) {
        self.stream.write_all(&self.rest).await.unwrap();
        let answer = read_to_end(&mut self.stream).await;
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or_default())
    }

    /// Reads what the server sends without sending the rest of the body.
    async fn abandon(mut self) -> String {
        read_to_end(&mut self.stream).await
    }
}

/// What the peer sends until it closes the connection (or breaks it).
async fn read_to_end(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buf = vec![0; 1 << 16];
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        received.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// Waits until some connection to the app's database has written inside a
/// transaction that is still open: the import has stored a batch, uncommitted.
async fn wait_until_import_wrote(app: &TestApp, served: &Served) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let writing = "SELECT count(*) AS n FROM pg_stat_activity \
                   WHERE datname = current_database() AND pid <> pg_backend_pid() \
                   AND backend_xid IS NOT NULL";
    while app.count(writing).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the import wrote no batch: {}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn events_stored(app: &TestApp) -> i64 {
    app.count("SELECT count(*) AS n FROM events").await
}

#[tokio::test]
async fn sigterm_lets_a_running_import_finish_and_commit_whole() {
    let app = spawn_app().await;
    let mut served = Served::start(
        &app.config.database_url,
        &[("CHRONIK_SHUTDOWN_TIMEOUT", "60s")],
    )
    .await;
    let upload = Upload::begin(&served, &app.admin.secret).await;
    wait_until_import_wrote(&app, &served).await;

    served.signal("TERM");
    served.wait_until_refusing(Duration::from_secs(10)).await;
    let (status, summary) = upload.finish().await;

    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["created"], IMPORTED);
    let exit = served.exit_status(Duration::from_secs(30)).await;
    assert!(exit.success(), "{exit:?}: {}", served.log());
    assert_eq!(events_stored(&app).await, IMPORTED as i64);
}

#[tokio::test]
async fn an_import_cut_off_by_the_shutdown_timeout_writes_nothing() {
    let app = spawn_app().await;
    let mut served = Served::start(
        &app.config.database_url,
        &[("CHRONIK_SHUTDOWN_TIMEOUT", "1s")],
    )
    .await;
    let upload = Upload::begin(&served, &app.admin.secret).await;
    wait_until_import_wrote(&app, &served).await;

    served.signal("TERM");
    // The rest of the body never comes: the import cannot finish in time.
    let answer = upload.abandon().await;

    assert_eq!(answer, "", "the connection closes without an answer");
    let exit = served.exit_status(Duration::from_secs(30)).await;
    assert!(exit.success(), "{exit:?}: {}", served.log());
    assert_eq!(events_stored(&app).await, 0);
}

#[tokio::test]
async fn sigkill_during_an_import_writes_nothing() {
    let app = spawn_app().await;
    let mut served = Served::start(&app.config.database_url, &[]).await;
    let upload = Upload::begin(&served, &app.admin.secret).await;
    wait_until_import_wrote(&app, &served).await;

    served.signal("KILL");

    let exit = served.exit_status(Duration::from_secs(10)).await;
    assert_eq!(exit.signal(), Some(9), "{exit:?}");
    assert_eq!(upload.abandon().await, "");
    // Postgres notices the closed connection and rolls its transaction back.
    let deadline = Instant::now() + Duration::from_secs(30);
    let open = "SELECT count(*) AS n FROM pg_stat_activity \
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL";
    while app.count(open).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the import's transaction stayed open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(events_stored(&app).await, 0);
}

/// Events of an export: far more than socket buffers hold (about 40 MB).
const EXPORTED: i64 = 30_000;

#[tokio::test]
async fn an_export_running_at_sigterm_is_finished_whole() {
    let app = spawn_app().await;
    app.insert_bulk_events(EXPORTED, 1_000).await;
    let mut served = Served::start(
        &app.config.database_url,
        &[("CHRONIK_SHUTDOWN_TIMEOUT", "60s")],
    )
    .await;
    let mut response = crate::helpers::client(None)
        .get(served.url("/v1/events?format=ndjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.chunk().await.unwrap().unwrap().to_vec();

    served.signal("TERM");
    while let Some(chunk) = response.chunk().await.expect("the whole body") {
        body.extend_from_slice(&chunk);
    }

    assert!(body.ends_with(b"\n"));
    let lines = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(lines as i64, EXPORTED);
    let exit = served.exit_status(Duration::from_secs(30)).await;
    assert!(exit.success(), "{exit:?}: {}", served.log());
}

/// What a client of a chunked body got: whether the zero-length chunk that
/// ends it came, and the body's bytes.
struct Chunked {
    terminated: bool,
    body: Vec<u8>,
}

/// Decodes a chunked HTTP/1.1 answer read whole (until the connection ended).
fn dechunk(answer: &[u8]) -> Chunked {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut rest = &answer[split + 4..];
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Chunked {
                terminated: false,
                body,
            };
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                .unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Chunked {
                terminated: true,
                body,
            };
        }
        if rest.len() < size + 2 {
            body.extend_from_slice(rest);
            return Chunked {
                terminated: false,
                body,
            };
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// Starts the export at `target` with a client that stops reading after its
/// first bytes; sends SIGTERM; waits for the server to exit (after a
/// shutdown timeout of 1 s the export cannot have finished); then reads what
/// the connection still holds.
async fn export_cut_off_by_the_shutdown_timeout(target: &str) -> Chunked {
    let app = spawn_app().await;
    app.insert_bulk_events(EXPORTED, 1_000).await;
    let mut served = Served::start(
        &app.config.database_url,
        &[("CHRONIK_SHUTDOWN_TIMEOUT", "1s")],
    )
    .await;
    let mut stream = TcpStream::connect(&served.addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n", served.addr);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0; 1 << 16];
    let n = stream.read(&mut answer).await.unwrap();
    answer.truncate(n);

    served.signal("TERM");
    let exit = served.exit_status(Duration::from_secs(30)).await;
    assert!(exit.success(), "{exit:?}: {}", served.log());

    let mut buf = vec![0; 1 << 16];
    while let Ok(n @ 1..) = stream.read(&mut buf).await {
        answer.extend_from_slice(&buf[..n]);
    }
    dechunk(&answer)
}

#[tokio::test]
async fn an_ndjson_export_cut_off_by_the_shutdown_timeout_lacks_its_last_chunk() {
    let cut = export_cut_off_by_the_shutdown_timeout("/v1/events?format=ndjson").await;
    assert!(!cut.terminated, "the body ended as if complete");
    let lines = cut
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert!((lines as i64) < EXPORTED, "all {lines} lines came");
}

#[tokio::test]
async fn a_csv_export_cut_off_by_the_shutdown_timeout_lacks_its_last_chunk() {
    let cut = export_cut_off_by_the_shutdown_timeout("/v1/events?format=csv&stream=all").await;
    assert!(!cut.terminated, "the body ended as if complete");
    let rows = cut
        .body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert!((rows as i64) < EXPORTED + 1, "all {rows} rows came");
}
