//! The README's Python mirror script, run as a reader would run it: a first
//! full sync, then only the changes, deletions applied.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::helpers::{TestApp, load_demo, spawn_app};

/// The README's `python` block, pointed at `app`.
fn mirror_script(app: &TestApp) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let start = readme
        .find("```python\n")
        .expect("a python block in the README")
        + 10;
    let end = start + readme[start..].find("```").expect("its end");
    readme[start..end].replace("http://127.0.0.1:8080", &app.address)
}

/// Runs the script in `dir` until its mirror holds `count` events (a change
/// is served once older transactions of other tests have ended).
fn sync_until(dir: &Path, count: usize) -> Vec<serde_json::Value> {
    for _ in 0..300 {
        let output = Command::new("python3")
            .arg("mirror.py")
            .current_dir(dir)
            .output()
            .expect("running python3");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let events: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("events.ndjson"))
            .expect("the mirror")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON event"))
            .collect();
        if events.len() == count {
            return events;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the mirror never held {count} events");
}

#[tokio::test]
async fn the_readme_mirror_script_syncs_in_full_then_applies_changes_and_deletions() {
    let app = spawn_app().await;
    let mut conn = app.pool.get().await.unwrap();
    load_demo(&mut conn).await;
    drop(conn);
    let live = app.all_ids("/v1/events").await;
    let dir =
        std::env::temp_dir().join(format!("chronik-mirror-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mirror.py"), mirror_script(&app)).unwrap();

    let first = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let count = live.len();
        move || sync_until(&dir, count)
    })
    .await
    .unwrap();
    assert!(first.len() >= 5, "the demo timeline is there");

    let gone = &live[0];
    assert_eq!(app.delete(&format!("/v1/events/{gone}")).await.status, 204);
    let then = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let count = live.len() - 1;
        move || sync_until(&dir, count)
    })
    .await
    .unwrap();
    assert!(
        then.iter().all(|e| e["id"] != gone.as_str()),
        "the deletion is applied"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
