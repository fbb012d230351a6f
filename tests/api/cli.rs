//! The command line, run as a user runs it: the built binary, its output
//! piped as a shell pipes it.

use std::io::Read as _;
use std::process::{Output, Stdio};

use crate::binary::{Served, chronik};
use crate::helpers::{drop_database, new_database_url};

/// Ended as a quiet tool ends on a closed pipe: successfully, or by SIGPIPE.
fn ended_quietly(output: &Output) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if output.status.signal() == Some(13) {
            return true;
        }
    }
    output.status.success()
}

#[test]
fn output_into_a_pipe_closed_early_ends_quietly() {
    // `chronik openapi | head -c 16`: the spec is far larger than a pipe's buffer.
    let mut child = chronik()
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running chronik");
    let mut stdout = child.stdout.take().expect("its stdout");
    let mut head = [0u8; 16];
    stdout
        .read_exact(&mut head)
        .expect("the spec's first bytes");
    drop(stdout);
    let output = child.wait_with_output().expect("its end");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(ended_quietly(&output), "{:?}: {stderr}", output.status);
}

#[tokio::test]
async fn logs_written_to_a_pipe_have_no_colour_codes() {
    let name = format!("chronik_cli_{}", uuid::Uuid::new_v4().simple());
    let token_file = std::env::temp_dir().join(format!("{name}-admin-token"));
    // `migrate` on a database that does not exist yet logs that it created it.
    let output = tokio::task::spawn_blocking({
        let url = new_database_url(&name);
        let token_file = token_file.clone();
        move || {
            chronik()
                .arg("migrate")
                .env("DATABASE_URL", url)
                .env("CHRONIK_INITIAL_TOKEN_FILE", token_file)
                .output()
                .expect("running chronik")
        }
    })
    .await
    .expect("the migration's thread");
    drop_database(&name).await;
    let _ = std::fs::remove_file(&token_file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("created database"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[tokio::test]
async fn sigterm_ends_live_streams_with_resume_and_the_server_exits_cleanly() {
    let name = format!("chronik_cli_{}", uuid::Uuid::new_v4().simple());
    let mut server = Served::start(&new_database_url(&name), &[]).await;
    let client = crate::helpers::client(None);
    let mut stream = crate::streams::Sse::open(client.get(server.url("/v1/events/stream"))).await;

    server.signal("TERM");
    let last = stream
        .next(std::time::Duration::from_secs(10))
        .await
        .expect("a last message before the stream ends");
    assert_eq!(last.event, "resume");
    assert!(last.id.is_some(), "it says where to resume");

    // Within 10 s of SIGTERM, streams or not.
    let status = server.exit_status(std::time::Duration::from_secs(10)).await;
    drop(server);
    drop_database(&name).await;
    assert!(status.success(), "{status:?}");
}
