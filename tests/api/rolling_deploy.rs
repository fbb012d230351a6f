//! Rolling deploys: `chronik migrate` runs once, and servers started with
//! `--no-migrate` serve only a database whose migrations are exactly theirs.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::binary::{Served, chronik, spare_port};
use crate::helpers::{TestApp, new_database_url, spawn_app};

/// Runs `chronik serve --no-migrate` on `database_url`, which must end by
/// itself within 30 seconds: its exit status's success and its standard error.
async fn refused_start(database_url: &str) -> (bool, String) {
    let name = format!("chronik-refused-{}", uuid::Uuid::new_v4().simple());
    let log = std::env::temp_dir().join(format!("{name}.log"));
    let token_file = std::env::temp_dir().join(format!("{name}-admin-token"));
    let mut child = chronik()
        .args(["serve", "--no-migrate"])
        .env("DATABASE_URL", database_url)
        .env("CHRONIK_ADDR", format!("127.0.0.1:{}", spare_port()))
        .env("CHRONIK_INITIAL_TOKEN_FILE", &token_file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the server started: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&token_file);
    (status.success(), stderr)
}

/// The newest migration the database records.
async fn newest_migration(app: &TestApp) -> String {
    app.strings("SELECT max(version) AS value FROM __diesel_schema_migrations")
        .await[0]
        .clone()
        .unwrap()
}

#[tokio::test]
async fn a_server_that_does_not_migrate_serves_a_database_migrated_to_its_version() {
    let app = spawn_app().await;
    let server = Served::start(&app.config.database_url, &[("CHRONIK_NO_MIGRATE", "true")]).await;
    let client = crate::helpers::client(None);
    let page = client.get(server.url("/v1/events")).send().await.unwrap();
    assert_eq!(page.status(), 200);
}

#[tokio::test]
async fn a_server_that_does_not_migrate_refuses_a_database_with_pending_migrations() {
    let app = spawn_app().await;
    let newest = newest_migration(&app).await;
    // As the database of the previous version looks to this one.
    app.execute(&format!(
        "DELETE FROM __diesel_schema_migrations WHERE version = '{newest}'"
    ))
    .await;
    let (success, stderr) = refused_start(&app.config.database_url).await;
    assert!(!success, "{stderr}");
    assert!(stderr.contains(&newest), "{stderr}");
    assert!(stderr.contains("run `chronik migrate` first"), "{stderr}");
    // It applied nothing.
    assert_ne!(newest_migration(&app).await, newest);
}

#[tokio::test]
async fn a_server_that_does_not_migrate_refuses_a_database_a_newer_version_migrated() {
    let app = spawn_app().await;
    app.execute("INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')")
        .await;
    let (success, stderr) = refused_start(&app.config.database_url).await;
    assert!(!success, "{stderr}");
    assert!(stderr.contains("29991231000000"), "{stderr}");
    assert!(stderr.contains("does not know"), "{stderr}");
}

#[tokio::test]
async fn a_server_that_does_not_migrate_refuses_a_database_that_does_not_exist() {
    let name = format!("chronik_nomigrate_{}", uuid::Uuid::new_v4().simple());
    let (success, stderr) = refused_start(&new_database_url(&name)).await;
    assert!(!success, "{stderr}");
    assert!(stderr.contains("run `chronik migrate` first"), "{stderr}");
}
