//! `chronik bench-sql`: the statement it prints is the one the API runs, so
//! running it (as pgbench does, binds as text) returns the API's page.

use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::{TestApp, event, spawn_app, with};

async fn bench_sql(app: &TestApp, target: &str) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_chronik"))
        .args(["bench-sql", target])
        .env("DATABASE_URL", &app.config.database_url)
        .env("CHRONIK_LOG", "warn")
        .output()
        .await
        .expect("running chronik");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The statement with each `$n` replaced by its text value as an untyped
/// literal, which Postgres types from context just as it types pgbench's
/// text parameters (a NULL bind as `NULL`, as bench/scenarios.py inlines it).
fn inline(statement: &Value) -> String {
    let params: Vec<String> = statement["params"]
        .as_array()
        .expect("params")
        .iter()
        .map(|p| match p {
            Value::Null => "NULL".to_owned(),
            p => format!("'{}'", p.as_str().expect("text param").replace('\'', "''")),
        })
        .collect();
    let sql = statement["sql"].as_str().expect("sql");
    // Highest numbers first, so that `$1` does not match the start of `$10`.
    (1..=params.len()).rev().fold(sql.to_owned(), |sql, n| {
        sql.replace(&format!("${n}"), &params[n - 1])
    })
}

#[tokio::test]
async fn bench_sql_prints_the_statement_a_list_request_runs() {
    let app = spawn_app().await;
    for (i, day) in ["2022-01-04", "2022-01-05", "2022-01-06", "2022-01-09"]
        .iter()
        .enumerate()
    {
        let body = with(
            event(&format!("event {i}"), &format!("{day}T10:00:00Z")),
            json!({"tags": ["almaty", format!("t{}", i % 2)]}),
        );
        app.create_event(&body).await;
    }
    let target =
        "/v1/events?from=2022-01-05&to=2022-01-09&type=protest&country=KZ&tag=almaty&limit=2";
    let page = app.get(target).await;
    assert_eq!(page.status, 200);
    let api_ids: Vec<Value> = page.column("id");

    let (ok, stdout, stderr) = bench_sql(&app, target).await;
    assert!(ok, "{stderr}");
    let statement: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert!(statement["sql"].as_str().unwrap().contains("LIMIT $"));
    assert_eq!(
        statement["cached"], false,
        "filters beyond a window are planned per execution"
    );
    // The page asks for one row more than its limit, to know whether another follows.
    let sql_ids = app
        .strings(&format!(
            "SELECT id::text AS value FROM ({}) page",
            inline(&statement)
        ))
        .await;
    assert_eq!(sql_ids.len(), 3);
    let sql_ids: Vec<Value> = sql_ids[..2].iter().map(|id| json!(id)).collect();
    assert_eq!(sql_ids, api_ids);
}

#[tokio::test]
async fn bench_sql_prints_the_statement_for_one_event_and_rejects_what_the_api_rejects() {
    let app = spawn_app().await;
    let created = app
        .create_event(&event("one", "2022-01-05T10:00:00Z"))
        .await;
    let id = created["id"].as_str().unwrap();
    let (ok, stdout, stderr) = bench_sql(&app, &format!("/v1/events/{id}")).await;
    assert!(ok, "{stderr}");
    let statement: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(statement["params"], json!([id]));
    assert_eq!(statement["cached"], true);
    let found = app
        .strings(&format!(
            "SELECT snapshot ->> 'title' AS value FROM ({}) e",
            inline(&statement)
        ))
        .await;
    assert_eq!(found, vec![Some("one".to_owned())]);

    let (ok, _, stderr) = bench_sql(&app, "/v1/events?nonsense=1").await;
    assert!(!ok);
    assert!(stderr.contains("unknown parameter `nonsense`"), "{stderr}");
    // An export reads every matching event: the same statement, without LIMIT.
    let (ok, stdout, stderr) = bench_sql(&app, "/v1/events?format=ndjson").await;
    assert!(ok, "{stderr}");
    let statement: Value = serde_json::from_str(&stdout).unwrap();
    assert!(!statement["sql"].as_str().unwrap().contains("LIMIT"));
    let all = app
        .strings(&format!(
            "SELECT snapshot ->> 'title' AS value FROM ({}) e",
            inline(&statement)
        ))
        .await;
    assert_eq!(all, vec![Some("one".to_owned())]);
}

#[tokio::test]
async fn bench_sql_prints_the_statement_of_a_feed_page() {
    let app = spawn_app().await;
    for i in 0..3 {
        app.create_event(&event(&format!("e{i}"), "2022-01-05T10:00:00Z"))
            .await;
    }
    // The feed serves a change once every older transaction has ended, in
    // any database of the cluster: tests running beside this one hold it back.
    for _ in 0..200 {
        let all = app.get("/v1/changes?limit=10").await;
        if all.body["data"].as_array().map_or(0, Vec::len) == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let first = app.get("/v1/changes?limit=2").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let next = first.body["next_cursor"].as_str().unwrap().to_owned();
    for (target, expected) in [
        ("/v1/changes?limit=2".to_owned(), 2),
        (format!("/v1/changes?after={next}&limit=2"), 1),
    ] {
        let page = app.get(&target).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let api: Vec<Option<String>> = page.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["cursor"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(api.len(), expected);

        let (ok, stdout, stderr) = bench_sql(&app, &target).await;
        assert!(ok, "{stderr}");
        let statement: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(statement["cached"], true);
        // The page reads one revision more than its limit, to know whether another follows.
        let sql = app
            .strings(&format!(
                "SELECT feed_xid::text || '-' || feed_seq::text AS value FROM ({}) page \
                 WHERE feed_xid IS NOT NULL",
                inline(&statement)
            ))
            .await;
        assert_eq!(sql.len(), expected + usize::from(expected == 2));
        assert_eq!(sql[..expected], api[..]);
    }

    for refused in [
        "/v1/changes?type=protest",
        "/v1/changes?since=2022-01-01T00:00:00Z",
        "/v1/changes?limit=1001",
    ] {
        let (ok, _, stderr) = bench_sql(&app, refused).await;
        assert!(!ok, "{refused} was captured");
        assert!(!stderr.is_empty());
    }
}
