//! A vague date covers its whole period: an event of month precision shows
//! up in every window that overlaps its month, one of day precision in every
//! window that overlaps its day (in its time zone), from any source, now
//! and `as_of`.

use serde_json::json;

use crate::helpers::{TestApp, event, spawn_app};

const ACLED_FIXTURE: &str = include_str!("../fixtures/acled-sample.csv");

fn titles_in(reply: &crate::helpers::Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
        .column("title")
        .into_iter()
        .map(|t| t.as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn titles(app: &TestApp, query: &str) -> Vec<String> {
    titles_in(&app.get(&format!("/v1/events?{query}")).await)
}

async fn vague(app: &TestApp, title: &str, start: &str, precision: &str, tz: Option<&str>) {
    let mut e = event(title, start);
    e["precision"] = json!(precision);
    e["timezone"] = json!(tz);
    app.create_event(&e).await;
}

#[tokio::test]
async fn a_month_event_matches_a_window_late_in_its_month() {
    let app = spawn_app().await;
    vague(&app, "July", "2022-07-01T00:00:00Z", "month", None).await;
    assert_eq!(
        titles(&app, "from=2022-07-20&to=2022-07-31").await,
        ["July"]
    );
    assert!(
        titles(&app, "from=2022-08-01&to=2022-08-31")
            .await
            .is_empty()
    );
    assert!(
        titles(&app, "from=2022-06-01&to=2022-06-30")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_year_event_matches_any_window_of_its_year() {
    let app = spawn_app().await;
    vague(&app, "2022", "2022-01-01T00:00:00Z", "year", None).await;
    assert_eq!(
        titles(&app, "from=2022-12-24&to=2022-12-26").await,
        ["2022"]
    );
    assert!(titles(&app, "from=2023-01-01").await.is_empty());
}

#[tokio::test]
async fn a_day_event_covers_its_day_in_its_own_time_zone() {
    let app = spawn_app().await;
    vague(
        &app,
        "Thursday",
        "2022-01-06T00:00:00+06:00",
        "day",
        Some("Asia/Almaty"),
    )
    .await;
    let afternoon = "from=2022-01-06T14:00:00%2B06:00&to=2022-01-06T15:00:00%2B06:00";
    assert_eq!(titles(&app, afternoon).await, ["Thursday"]);
    // Friday in Almaty starts at 18:00 UTC on Thursday.
    assert!(titles(&app, "from=2022-01-06T18:00:00Z").await.is_empty());
    assert_eq!(
        titles(&app, "from=2022-01-06T17:59:00Z").await,
        ["Thursday"]
    );
}

#[tokio::test]
async fn an_interval_of_days_covers_its_last_day_whole() {
    let app = spawn_app().await;
    let mut e = event("5 to 6 January", "2022-01-05T00:00:00Z");
    e["occurred_end"] = json!("2022-01-06T00:00:00Z");
    e["precision"] = json!("day");
    app.create_event(&e).await;
    assert_eq!(
        titles(&app, "from=2022-01-06T20:00:00Z").await,
        ["5 to 6 January"]
    );
    assert!(titles(&app, "from=2022-01-07").await.is_empty());
}

#[tokio::test]
async fn a_precise_event_keeps_its_instant() {
    let app = spawn_app().await;
    vague(&app, "18:05:30", "2022-01-05T18:05:30Z", "second", None).await;
    assert!(titles(&app, "from=2022-01-05T18:05:31Z").await.is_empty());
    assert_eq!(
        titles(&app, "from=2022-01-05T18:05:30.5Z").await,
        ["18:05:30"]
    );
}

#[tokio::test]
async fn an_acled_month_event_matches_late_in_its_month_in_lists_stats_exports_and_as_of() {
    let app = spawn_app().await;
    let mut lines = ACLED_FIXTURE.lines();
    let header = lines.next().unwrap_or("");
    let row = lines
        .next()
        .unwrap_or("")
        .replacen(",2022-01-02,2022,1,", ",2022-07-14,2022,3,", 1);
    let reply = app
        .send(
            app.client
                .post(app.url("/v1/import?format=acled"))
                .header("content-type", "text/csv")
                .body(format!("{header}\n{row}\n")),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let window = "from=2022-07-20&to=2022-07-31";
    assert_eq!(titles(&app, window).await.len(), 1, "list");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let as_of = format!("{window}&as_of={}", now.replace('+', "%2B"));
    assert_eq!(titles(&app, &as_of).await.len(), 1, "as_of");
    let ndjson = app.get(&format!("/v1/events?{window}&format=ndjson")).await;
    assert_eq!(ndjson.text.lines().count(), 1, "export: {}", ndjson.text);
    let stats = app.get(&format!("/v1/stats/casualties?{window}")).await;
    assert_eq!(stats.status, 200, "{}", stats.text);
    let matched = app.get(&format!("/v1/events?{window}&count=exact")).await;
    assert_eq!(matched.body["total"]["value"], 1);
}

#[tokio::test]
async fn a_day_event_stored_in_the_afternoon_matches_a_morning_window() {
    let app = spawn_app().await;
    vague(&app, "Afternoon", "2022-01-06T15:00:00Z", "day", None).await;
    assert_eq!(
        titles(&app, "from=2022-01-06T08:00:00Z&to=2022-01-06T10:00:00Z").await,
        ["Afternoon"]
    );
    assert!(titles(&app, "to=2022-01-05T23:59:59Z").await.is_empty());
}

#[tokio::test]
async fn a_month_event_stored_mid_month_matches_a_window_early_in_its_month() {
    let app = spawn_app().await;
    vague(&app, "Mid-July", "2022-07-15T12:00:00Z", "month", None).await;
    vague(&app, "June", "2022-06-30T12:00:00Z", "second", None).await;
    assert_eq!(
        titles(&app, "from=2022-07-01&to=2022-07-05").await,
        ["Mid-July"]
    );
    assert_eq!(titles(&app, "to=2022-06-30").await, ["June"]);
}

#[tokio::test]
async fn a_vague_start_is_read_in_the_events_time_zone() {
    let app = spawn_app().await;
    // Thursday 02:00 in Almaty is Wednesday 20:00 UTC; Thursday there began
    // at 18:00 UTC on Wednesday.
    vague(
        &app,
        "Thursday night",
        "2022-01-06T02:00:00+06:00",
        "day",
        Some("Asia/Almaty"),
    )
    .await;
    assert_eq!(
        titles(&app, "to=2022-01-05T18:00:00Z").await,
        ["Thursday night"]
    );
    assert!(titles(&app, "to=2022-01-05T17:59:59Z").await.is_empty());
}

#[tokio::test]
async fn a_vague_start_matches_as_of_and_in_exports() {
    let app = spawn_app().await;
    vague(&app, "Mid-July", "2022-07-15T12:00:00Z", "month", None).await;
    let window = "from=2022-07-01&to=2022-07-05";
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let as_of = format!("{window}&as_of={}", now.replace('+', "%2B"));
    assert_eq!(titles(&app, &as_of).await, ["Mid-July"], "as_of");
    let csv = app.get(&format!("/v1/events?{window}&format=csv")).await;
    assert_eq!(csv.status, 200, "{}", csv.text);
    assert_eq!(csv.text.lines().count(), 2, "export: {}", csv.text);
}

#[tokio::test]
async fn a_vague_event_stored_after_the_window_counts_in_its_last_bucket() {
    let app = spawn_app().await;
    vague(&app, "Mid-July", "2022-07-15T12:00:00Z", "month", None).await;
    let reply = app
        .get("/v1/stats/histogram?from=2022-07-01&to=2022-07-05&bucket=day")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let buckets = reply.body["buckets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let counts: Vec<i64> = buckets
        .iter()
        .map(|b| b["count"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(counts, [0, 0, 0, 0, 1], "{}", reply.text);
}
