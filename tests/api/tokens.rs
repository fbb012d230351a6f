//! Token lifecycle through `/v1/tokens`, the `chronik token` CLI and the first start.

use chronik::db::tokens::TokenSpec;
use chronik::models::token::Scope;
use serde_json::json;
use std::path::PathBuf;
use tokio::process::Command;

use crate::helpers::{TestApp, spawn_app};

#[tokio::test]
async fn admins_create_a_token_whose_secret_is_shown_once_and_works() {
    let app = spawn_app().await;
    let reply = app
        .post(
            "/v1/tokens",
            &json!({"name": "newsroom importer", "scope": "write"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    let secret = reply.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("/v1/tokens/{id}").as_str())
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(
        secret.starts_with("chronik_") && secret.len() == 51,
        "{secret}"
    );
    assert_eq!(reply.body["scope"], "write");
    assert_eq!(reply.body["status"], "active");
    assert_eq!(reply.body["created_by"], app.admin.token.id.to_string());
    assert!(secret.starts_with(reply.body["prefix"].as_str().unwrap()));

    // Never shown again.
    let one = app.get(&format!("/v1/tokens/{id}")).await;
    assert_eq!(one.status, 200);
    assert!(one.body.get("secret").is_none());
    let list = app.get("/v1/tokens").await;
    assert!(!list.text.contains(&secret));
    assert!(list.column("id").contains(&json!(id)));

    // And it works.
    let created = app.post_event_with(&app.client_with(&secret)).await;
    assert_eq!(created.status, 201, "{}", created.text);
}

#[tokio::test]
async fn secrets_are_stored_only_as_their_hash() {
    let app = spawn_app().await;
    let created = app.token(TokenSpec::new("hashed", Scope::Read)).await;
    let secret = &created.secret;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM api_tokens WHERE secret_hash = sha256(convert_to('{secret}', 'UTF8'))"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM api_tokens t WHERE position('{secret}' IN row_to_json(t)::text) > 0"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn tokens_expire_after_a_lifetime_or_at_a_date() {
    let app = spawn_app().await;
    let in_30_days = app
        .post(
            "/v1/tokens",
            &json!({"name": "a", "scope": "read", "expires_in": "30d"}),
        )
        .await;
    assert_eq!(in_30_days.status, 201, "{}", in_30_days.text);
    let expires: chrono::DateTime<chrono::Utc> = in_30_days.body["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((29.9..=30.0).contains(&days), "{days}");

    let in_an_hour = app
        .post(
            "/v1/tokens",
            &json!({"name": "b", "scope": "read", "expires_in": 3600}),
        )
        .await;
    assert_eq!(in_an_hour.status, 201, "{}", in_an_hour.text);
    let at = app
        .post(
            "/v1/tokens",
            &json!({"name": "c", "scope": "read", "expires_at": "2099-01-01T00:00:00+01:00"}),
        )
        .await;
    assert_eq!(at.body["expires_at"], "2098-12-31T23:00:00Z");
    let never = app
        .post("/v1/tokens", &json!({"name": "d", "scope": "admin"}))
        .await;
    assert_eq!(never.body["expires_at"], serde_json::Value::Null);
}

#[tokio::test]
async fn invalid_token_requests_name_the_field() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"name": "", "scope": "read"}), "name"),
        (json!({"name": "x", "scope": "root"}), "scope"),
        (json!({"name": "x"}), "body"),
        (
            json!({"name": "x", "scope": "read", "expires_in": "30x"}),
            "expires_in",
        ),
        (
            json!({"name": "x", "scope": "read", "expires_in": 0}),
            "expires_in",
        ),
        (
            json!({"name": "x", "scope": "read", "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scope": "read", "expires_in": "1d", "expires_at": "2099-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "scope": "read", "secret": "mine"}),
            "secret",
        ),
    ] {
        let reply = app.post("/v1/tokens", &body).await;
        if field == "body" || field == "secret" {
            assert_eq!(reply.status, 422, "{body}: {}", reply.text);
        } else {
            reply.assert_problem(422, field);
        }
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM api_tokens").await, 1);
}

#[tokio::test]
async fn revoking_is_immediate_idempotent_and_listed() {
    let app = spawn_app().await;
    let token = app.token(TokenSpec::new("to revoke", Scope::Write)).await;
    let path = format!("/v1/tokens/{}", token.token.id);
    assert_eq!(app.delete(&path).await.status, 204);
    assert_eq!(app.delete(&path).await.status, 204);
    let shown = app.get(&path).await;
    assert_eq!(shown.body["status"], "revoked");
    assert!(shown.body["revoked_at"].is_string());
    let used = app
        .send(
            app.anonymous
                .get(app.url("/v1/events"))
                .bearer_auth(&token.secret),
        )
        .await;
    assert_eq!(used.status, 401);

    let unknown = format!("/v1/tokens/{}", uuid::Uuid::now_v7());
    let missing = app.delete(&unknown).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type(), "application/problem+json");
    assert_eq!(app.get(&unknown).await.status, 404);
    app.get("/v1/tokens/not-a-uuid")
        .await
        .assert_problem(400, "id");
}

/// Runs the real binary against the test's database.
async fn chronik(
    app: &TestApp,
    args: &[&str],
    token_file: Option<&PathBuf>,
) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chronik"));
    command
        .args(args)
        .env("DATABASE_URL", &app.config.database_url)
        .env("CHRONIK_LOG", "warn");
    if let Some(file) = token_file {
        command.env("CHRONIK_INITIAL_TOKEN_FILE", file);
    }
    let output = command.output().await.expect("running chronik");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_creates_lists_and_revokes_tokens() {
    let app = spawn_app().await;
    let (ok, stdout, stderr) = chronik(
        &app,
        &[
            "token",
            "create",
            "--name",
            "cli writer",
            "--scope",
            "write",
            "--expires",
            "30d",
        ],
        None,
    )
    .await;
    assert!(ok, "{stderr}");
    let secret = stdout.trim().to_owned();
    assert!(secret.starts_with("chronik_"), "{stdout}");
    assert!(stderr.contains("shown only now"), "{stderr}");
    let created = app.post_event_with(&app.client_with(&secret)).await;
    assert_eq!(created.status, 201, "{}", created.text);

    let (ok, list, _) = chronik(&app, &["token", "list"], None).await;
    assert!(ok);
    let line = list
        .lines()
        .find(|l| l.contains("cli writer"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(line.contains("write") && line.contains("active"), "{line}");
    assert!(!list.contains(&secret));
    let id = line.split_whitespace().next().unwrap().to_owned();

    let (ok, revoked, stderr) = chronik(&app, &["token", "revoke", &id], None).await;
    assert!(ok, "{stderr}");
    assert!(revoked.contains(&id));
    let refused = app
        .send(
            app.anonymous
                .get(app.url("/v1/events"))
                .bearer_auth(&secret),
        )
        .await;
    assert_eq!(refused.status, 401);

    let (ok, _, stderr) = chronik(
        &app,
        &["token", "revoke", &uuid::Uuid::now_v7().to_string()],
        None,
    )
    .await;
    assert!(!ok && stderr.contains("no token"), "{stderr}");
    let (ok, _, stderr) = chronik(
        &app,
        &["token", "create", "--name", "x", "--scope", "root"],
        None,
    )
    .await;
    assert!(!ok && stderr.contains("root"), "{stderr}");
}

#[tokio::test]
async fn the_first_start_writes_an_initial_admin_token_and_later_starts_do_not() {
    let app = spawn_app().await;
    // As on a fresh install: no live admin token.
    app.execute("UPDATE api_tokens SET revoked_at = now()")
        .await;
    let dir = std::env::temp_dir().join(format!("chronik-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("admin-token");

    let (ok, _, stderr) = chronik(&app, &["migrate"], Some(&file)).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    let tokens = app
        .send(
            app.anonymous
                .get(app.url("/v1/tokens"))
                .bearer_auth(&secret),
        )
        .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);

    std::fs::remove_file(&file).unwrap();
    let (ok, _, stderr) = chronik(&app, &["migrate"], Some(&file)).await;
    assert!(ok, "{stderr}");
    assert!(
        !file.exists(),
        "a second start wrote another token: {stderr}"
    );
    assert_eq!(
        app.count("SELECT count(*) AS n FROM api_tokens WHERE revoked_at IS NULL")
            .await,
        1
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The first start must not write its secret through a path that exists:
/// a file someone keeps, a symlink planted to truncate or leak another
/// file, or a dangling symlink that would create one elsewhere.
#[cfg(unix)]
#[tokio::test]
async fn the_initial_token_file_never_overwrites_nor_follows_an_existing_path() {
    let app = spawn_app().await;
    app.execute("UPDATE api_tokens SET revoked_at = now()")
        .await;
    let dir = std::env::temp_dir().join(format!("chronik-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let existing = dir.join("existing");
    std::fs::write(&existing, "kept\n").unwrap();
    let target = dir.join("target");
    std::fs::write(&target, "precious\n").unwrap();
    let link = dir.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let nowhere = dir.join("nowhere");
    let dangling = dir.join("dangling");
    std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();

    for file in [&existing, &link, &dangling] {
        let (ok, _, stderr) = chronik(&app, &["migrate"], Some(file)).await;
        assert!(!ok, "{} was written: {stderr}", file.display());
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
        assert!(stderr.contains("exists already"), "{stderr}");
    }
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "kept\n");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
    assert!(!nowhere.exists(), "the dangling symlink was followed");
    // Writing the file failed, so no token was made: none is unknown to all.
    assert_eq!(
        app.count("SELECT count(*) AS n FROM api_tokens WHERE revoked_at IS NULL")
            .await,
        0
    );

    let fresh = dir.join("fresh");
    let (ok, _, stderr) = chronik(&app, &["migrate"], Some(&fresh)).await;
    assert!(ok, "{stderr}");
    assert!(fresh.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
