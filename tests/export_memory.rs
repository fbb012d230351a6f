//! A whole-result export streams in constant memory: the server's memory does
//! not grow with the size of the result. Its own test binary, so that no
//! other test in the process moves the measurement.

// Tests may panic on what they did not expect: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use helpers::spawn_app;

const EVENTS: usize = 100_000;

/// This process's resident set size, in bytes (server and client both live here).
fn resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| {
            kb.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map(|kb| kb * 1024)
        .expect("VmRSS in /proc/self/status")
}

#[tokio::test]
async fn a_100k_event_ndjson_export_streams_in_constant_memory() {
    let app = spawn_app().await;
    app.insert_bulk_events(EVENTS as i64, 1_000).await;
    let before = resident_bytes();
    let mut response = app
        .client
        .get(app.url("/v1/events?format=ndjson"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    let (mut lines, mut bytes) = (0usize, 0usize);
    let mut pending: Vec<u8> = Vec::new();
    let mut warm: Option<usize> = None;
    let mut peak = 0usize;
    while let Some(chunk) = response.chunk().await.expect("reading the body") {
        bytes += chunk.len();
        pending.extend_from_slice(&chunk);
        let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
            continue;
        };
        for line in pending[..end].split(|b| *b == b'\n') {
            let event: serde_json::Value = serde_json::from_slice(line).expect("a JSON line");
            lines += 1;
            assert_eq!(event["title"], format!("Bulk event {lines}"), "in order");
        }
        pending.drain(..=end);
        // After the first batches every buffer has reached its working size.
        if warm.is_none() && lines >= 10_000 {
            warm = Some(resident_bytes());
        }
        peak = peak.max(resident_bytes());
    }
    assert!(pending.is_empty(), "the body ends with a complete line");
    assert_eq!(lines, EVENTS);
    let warm = warm.expect("a measurement after warm-up");
    let growth = peak.saturating_sub(warm);
    eprintln!(
        "exported {bytes} bytes in {lines} lines; resident {} MiB before, {} MiB after warm-up, peak {} MiB",
        before >> 20,
        warm >> 20,
        peak >> 20
    );
    assert!(bytes > 100 << 20, "the result is large: {bytes} bytes");
    // Holding the result would grow memory by at least its size; streaming
    // needs a few working buffers, and nothing more as the export goes on.
    assert!(
        peak.saturating_sub(before) < bytes / 5,
        "resident memory grew by {} bytes while streaming {bytes} bytes",
        peak.saturating_sub(before)
    );
    assert!(
        growth < bytes / 20,
        "resident memory grew by {growth} bytes after warm-up while streaming {bytes} bytes"
    );
}
