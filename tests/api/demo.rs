use serde_json::json;

use chronik::import::{InputFormat, Mode, import};

use crate::helpers::{load_demo, spawn_app};

#[tokio::test]
async fn the_demo_timeline_loads_and_reloading_changes_nothing() {
    let app = spawn_app().await;
    let mut conn = app.pool.get().await.unwrap();
    let first = load_demo(&mut conn).await;
    assert_eq!(first.created, 8);
    assert_eq!(first.timelines_created, 1);
    let again = load_demo(&mut conn).await;
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 8));

    let timeline = app.get("/v1/timelines/kazakhstan-2022-unrest").await;
    assert_eq!(timeline.body["event_count"], 8);
    let deaths = app
        .get("/v1/timelines/kazakhstan-2022-unrest/events?type=casualties&sort=asc")
        .await;
    assert_eq!(deaths.column("casualties").len(), 2);
    let claimed = &deaths.body["data"][1]["casualties"][0];
    assert_eq!(
        *claimed,
        json!({"kind": "killed", "party": "protesters", "min": 24, "max": null, "status": "claimed"})
    );
    assert_eq!(
        deaths.body["data"][1]["sources"][0]["via"],
        json!(["Interfax-Kazakhstan", "TASS", "RIA Novosti"])
    );
}

#[tokio::test]
async fn the_demo_is_dated_to_when_the_report_was_public() {
    let app = spawn_app().await;
    let mut conn = app.pool.get().await.unwrap();
    load_demo(&mut conn).await;
    let list = |as_of: &str| format!("/v1/timelines/kazakhstan-2022-unrest/events?as_of={as_of}");
    let before = app.get(&list("2022-01-06T05:59:59Z")).await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(before.body["data"], json!([]));
    let known = app.get(&list("2022-01-06T06:00:00Z")).await;
    assert_eq!(known.column("id").len(), 8);
}

#[tokio::test]
async fn import_is_all_or_nothing() {
    let app = spawn_app().await;
    let text = r#"{"external_id": "a", "title": "ok", "type": "riot", "occurred_start": "2022-01-05T00:00:00Z"}
{"external_id": "b", "title": "bad", "type": "no_such_type", "occurred_start": "2022-01-05T00:00:00Z"}"#;
    let mut conn = app.pool.get().await.unwrap();
    let err = import(
        &mut conn,
        InputFormat::Ndjson,
        std::io::Cursor::new(text),
        Mode::Create,
        Default::default(),
        Default::default(),
    )
    .await
    .unwrap_err();
    let chronik::error::ApiError::ImportInvalid { errors, .. } = err else {
        panic!("expected an invalid import, got {err}");
    };
    assert_eq!(
        (errors[0].line, errors[0].field.as_str()),
        (Some(2), "type")
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}
