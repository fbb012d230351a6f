//! What wakes a live stream: the `NOTIFY` a writer sends after its commit,
//! whichever instance or command wrote. Polling is off in these tests, so
//! a change that nothing announced would never arrive.

use std::process::Command;

use chronik::config::TimeLimit;

use crate::helpers::{TestApp, event, spawn_app_with};
use crate::streams::Sse;

async fn app_without_polling() -> TestApp {
    spawn_app_with(|config| config.streams.stream_poll = TimeLimit(None)).await
}

async fn open_stream(base: &str, app: &TestApp) -> Sse {
    Sse::open(app.anonymous.get(format!("{base}/v1/events/stream"))).await
}

#[tokio::test]
async fn a_write_through_another_instance_wakes_a_stream_without_polling() {
    let app = app_without_polling().await;
    let other = app.another_instance();
    let mut sse = open_stream(&app.address, &app).await;
    let created = app
        .send(
            app.client
                .post(other.url("/v1/events"))
                .json(&event("announced by B", "2022-01-05T00:00:00Z")),
        )
        .await;
    assert_eq!(created.status, 201);
    let got = sse.take(1).await;
    assert_eq!(got[0].data["event"]["title"], "announced by B");
}

#[tokio::test]
async fn a_command_line_import_wakes_the_streams_of_a_running_server() {
    let app = app_without_polling().await;
    let mut sse = open_stream(&app.address, &app).await;
    let dir = tempfile_dir();
    let file = dir.join("one.ndjson");
    let record = event("imported on the command line", "2022-01-06T00:00:00Z");
    std::fs::write(&file, format!("{record}\n")).expect("writing the import file");
    let output = Command::new(env!("CARGO_BIN_EXE_chronik"))
        .env("DATABASE_URL", &app.config.database_url)
        .env_remove("CHRONIK_LOG_FORMAT")
        .arg("import")
        .arg(&file)
        .output()
        .expect("running chronik import");
    std::fs::remove_dir_all(&dir).ok();
    assert!(output.status.success(), "{output:?}");
    let got = sse.take(1).await;
    assert_eq!(got[0].event, "created");
    assert_eq!(
        got[0].data["event"]["title"],
        "imported on the command line"
    );
}

/// A directory of this test's own under the system's temporary directory.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chronik-wakeups-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("creating a temporary directory");
    dir
}
