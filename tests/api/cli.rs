//! The command line, run as a user runs it: the built binary, its output
//! piped as a shell pipes it.

use std::io::Read as _;
use std::process::{Command, Output, Stdio};

use crate::helpers::{drop_database, new_database_url};

fn chronik() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chronik"));
    // Settings of the environment the tests run in must not change what is checked.
    for name in [
        "NO_COLOR",
        "CHRONIK_LOG",
        "CHRONIK_LOG_FORMAT",
        "DATABASE_URL",
    ] {
        command.env_remove(name);
    }
    command
}

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

/// A port nothing listens on (yet).
fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a spare port")
        .port()
}

#[tokio::test]
async fn sigterm_ends_live_streams_with_resume_and_the_server_exits_cleanly() {
    let name = format!("chronik_cli_{}", uuid::Uuid::new_v4().simple());
    let token_file = std::env::temp_dir().join(format!("{name}-admin-token"));
    let port = spare_port();
    let mut server = chronik()
        .arg("serve")
        .env("DATABASE_URL", new_database_url(&name))
        .env("CHRONIK_ADDR", format!("127.0.0.1:{port}"))
        .env("CHRONIK_INITIAL_TOKEN_FILE", &token_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chronik serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = crate::helpers::client(None);
    let mut ready = false;
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "the server never became ready");
    let mut stream =
        crate::streams::Sse::open(client.get(format!("{base}/v1/events/stream"))).await;

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let last = stream
        .next(std::time::Duration::from_secs(10))
        .await
        .expect("a last message before the stream ends");
    assert_eq!(last.event, "resume");
    assert!(last.id.is_some(), "it says where to resume");

    let exited = tokio::task::spawn_blocking(move || {
        for _ in 0..100 {
            if let Some(status) = server.try_wait().expect("waiting") {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = server.kill();
        None
    })
    .await
    .expect("the waiting thread");
    drop_database(&name).await;
    let _ = std::fs::remove_file(&token_file);
    let status = exited.expect("the server exits within 10 s of SIGTERM, streams or not");
    assert!(status.success(), "{status:?}");
}
