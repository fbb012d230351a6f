//! `POST /v1/import`: every input format, all or nothing, error reports,
//! upsert with history, CSV round trips, ACLED, broken uploads and access.

use chronik::models::token::Scope;
use diesel_async::RunQueryDsl as _;
use serde_json::{Value, json};
use std::io::Write as _;

use crate::helpers::{Reply, TestApp, event, spawn_app, spawn_app_with, with};

const NDJSON: &str = "application/x-ndjson";
const ACLED_FIXTURE: &str = include_str!("../fixtures/acled-sample.csv");

impl TestApp {
    /// Posts `body` to `/v1/import{query}` with a `write` token.
    async fn import(
        &self,
        query: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let writer = self.client_with(&self.secret(Scope::Write).await);
        self.import_with(&writer, query, content_type, body).await
    }

    async fn import_with(
        &self,
        client: &reqwest::Client,
        query: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        self.send(
            client
                .post(self.url(&format!("/v1/import{query}")))
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// Every event, oldest first, as the API shows it.
    async fn all_events(&self) -> Vec<Value> {
        let reply = self.get("/v1/events?format=ndjson&sort=asc").await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply
            .text
            .lines()
            .map(|line| serde_json::from_str(line).expect("an NDJSON line"))
            .collect()
    }

    /// Rows of every table an import writes to.
    async fn row_counts(&self) -> Vec<i64> {
        let mut counts = Vec::new();
        for table in [
            "events",
            "event_revisions",
            "actors",
            "event_actors",
            "sources",
            "event_sources",
            "event_timelines",
            "timelines",
        ] {
            counts.push(
                self.count(&format!("SELECT count(*) AS n FROM {table}"))
                    .await,
            );
        }
        counts
    }

    /// Returns once a backend of this test's database waits for a lock.
    async fn wait_for_a_backend_waiting_on_a_lock(&self) {
        for _ in 0..300 {
            let waiting = self
                .count(
                    "SELECT count(*) AS n FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .await;
            if waiting > 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no backend came to wait for a lock");
    }

    /// Asserts the history invariant for every event.
    async fn assert_history_matches(&self) {
        for event in self.all_events().await {
            self.assert_latest_revision_is(&event).await;
        }
    }

    /// Asserts that the event's latest revision is at its version and its
    /// snapshot is the event as the API shows it.
    async fn assert_latest_revision_is(&self, event: &Value) {
        let id = event["id"].as_str().expect("an id");
        let snapshots = self
            .strings(&format!(
                "SELECT snapshot::text AS value FROM event_revisions WHERE event_id = '{id}' ORDER BY version DESC LIMIT 1"
            ))
            .await;
        let latest: Value =
            serde_json::from_str(snapshots[0].as_deref().expect("a snapshot")).expect("JSON");
        assert_eq!(&latest, event, "the latest revision of {id} is the event");
    }
}

fn ndjson(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

fn numbered(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            with(
                event(&format!("Event {i}"), "2022-01-05T00:00:00Z"),
                json!({"external_id": format!("e-{i}")}),
            )
        })
        .collect()
}

fn fields_and_lines(reply: &Reply) -> Vec<(String, u64)> {
    reply.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or("").to_owned(),
                e["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// The writable fields of an event: what an import carries over.
fn writable(mut event: Value) -> Value {
    for key in ["id", "version", "created_at", "updated_at"] {
        event.as_object_mut().expect("an object").remove(key);
    }
    event
}

#[tokio::test]
async fn ndjson_import_creates_the_events_with_a_created_revision_by_the_token() {
    let app = spawn_app().await;
    let writer = app
        .token(chronik::db::tokens::TokenSpec::new(
            "importer",
            Scope::Write,
        ))
        .await;
    let reply = app
        .import_with(
            &app.client_with(&writer.secret),
            "",
            NDJSON,
            ndjson(&numbered(3)),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({"total": 3, "created": 3, "updated": 0, "unchanged": 0, "timelines_created": 0})
    );
    let titles: Vec<Value> = app
        .all_events()
        .await
        .iter()
        .map(|e| e["title"].clone())
        .collect();
    assert_eq!(
        titles,
        [json!("Event 0"), json!("Event 1"), json!("Event 2")]
    );
    let authors = app
        .strings(
            "SELECT author AS value FROM event_revisions WHERE kind = 'created' AND version = 1",
        )
        .await;
    assert_eq!(authors, vec![Some(writer.token.id.to_string()); 3]);
    app.assert_history_matches().await;
}

#[tokio::test]
async fn imported_revisions_are_those_an_api_write_records() {
    let app = spawn_app().await;
    let full = json!({
        "title": "Dozens killed, police say", "type": "casualties", "occurred_start": "2022-01-05T18:00:00+06:00",
        "precision": "hour", "timezone": "Asia/Almaty", "language": "en", "tags": ["almaty"],
        "location": {"name": "Almaty", "country_code": "KZ", "lat": 43.2389, "lon": 76.8897},
        "actors": [{"name": "Almaty police", "role": "perpetrator"}],
        "casualties": [{"kind": "killed", "party": "protesters", "min": 24, "max": null, "status": "claimed"}],
        "sources": [{"url": "https://example.org/live", "via": ["TASS"], "quote": "Dutzende"}],
    });
    app.create_event(&with(full.clone(), json!({"external_id": "by-api"})))
        .await;
    let reply = app
        .import(
            "",
            NDJSON,
            ndjson(&[with(full, json!({"external_id": "by-import"}))]),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let revision = |external_id: &str| {
        format!(
            // The feed position differs by write (its transaction, its sequence number).
            "SELECT (to_jsonb(r) - 'event_id' - 'recorded_at' - 'known_at' - 'author' - 'snapshot' - 'feed_xid' - 'feed_seq' \
             || jsonb_build_object('snapshot', r.snapshot::jsonb - 'id' - 'external_id' - 'created_at' - 'updated_at'))::text AS value \
             FROM event_revisions r JOIN events e ON e.id = r.event_id WHERE e.external_id = '{external_id}'"
        )
    };
    let by_api = app.strings(&revision("by-api")).await;
    let by_import = app.strings(&revision("by-import")).await;
    assert_eq!(by_api.len(), 1);
    assert_eq!(by_import, by_api);
}

#[tokio::test]
async fn imported_events_show_shared_actors_as_stored_and_their_own_citations() {
    let app = spawn_app().await;
    let cited = json!({"actors": [{"name": "TASS"}], "sources": [{"url": "https://example.org/a", "title": "First title"}]});
    app.create_event(&with(event("by API", "2022-01-05T00:00:00Z"), cited))
        .await;
    let recited = json!({"actors": [{"name": "tass", "role": "agency"}], "sources": [{"url": "https://example.org/a", "publisher": "Example"}]});
    let reply = app
        .import(
            "",
            NDJSON,
            ndjson(&[with(
                event("imported", "2022-01-06T00:00:00.1234567Z"),
                recited,
            )]),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let events = app.all_events().await;
    assert_eq!(
        events[1]["actors"],
        json!([{"name": "TASS", "role": "agency"}])
    );
    assert_eq!(events[1]["sources"][0]["title"], Value::Null);
    assert_eq!(events[1]["sources"][0]["publisher"], "Example");
    assert_eq!(events[0]["sources"][0]["title"], "First title");
    assert_eq!(events[0]["sources"][0]["publisher"], Value::Null);
    assert_eq!(events[1]["occurred_start"], "2022-01-06T00:00:00.123456Z");
    assert_eq!(app.count("SELECT count(*) AS n FROM sources").await, 1);
    // Each citation reads as written, so both events equal their latest revision.
    app.assert_history_matches().await;
}

#[tokio::test]
async fn known_at_applies_to_every_record_and_is_checked_like_an_api_write() {
    let app = spawn_app().await;
    let first = app
        .import(
            "?known_at=2022-01-06T09:30:00Z",
            NDJSON,
            ndjson(&numbered(2)),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let known = app
        .strings("SELECT DISTINCT to_char(known_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS value FROM event_revisions")
        .await;
    assert_eq!(known, [Some("2022-01-06 09:30".to_owned())]);
    let changed: Vec<Value> = numbered(2)
        .into_iter()
        .map(|e| with(e, json!({"summary": "changed"})))
        .collect();
    let earlier = app
        .import(
            "?mode=upsert&known_at=2022-01-01T00:00:00Z",
            NDJSON,
            ndjson(&changed),
        )
        .await;
    assert_eq!(earlier.status, 422, "{}", earlier.text);
    assert_eq!(
        fields_and_lines(&earlier),
        [("known_at".to_owned(), 1), ("known_at".to_owned(), 2)]
    );
    let future = app
        .import(
            "?known_at=2999-01-01T00:00:00Z",
            NDJSON,
            ndjson(&[event("later", "2022-01-05T00:00:00Z")]),
        )
        .await;
    assert_eq!(fields_and_lines(&future), [("known_at".to_owned(), 1)]);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM event_revisions").await,
        2
    );
}

#[tokio::test]
async fn a_json_record_may_bring_its_own_known_at() {
    let app = spawn_app().await;
    let records = [
        with(
            event("claimed", "2022-01-05T18:00:00Z"),
            json!({"known_at": "2022-01-06T06:00:00Z"}),
        ),
        event("now", "2022-01-05T18:00:00Z"),
    ];
    let reply = app
        .import("?known_at=2022-01-06T09:30:00Z", NDJSON, ndjson(&records))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let known = app
        .strings(
            "SELECT to_char(r.known_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS value \
             FROM event_revisions r JOIN events e ON e.id = r.event_id ORDER BY e.title",
        )
        .await;
    // The record's own wins over the import's.
    assert_eq!(
        known,
        [
            Some("2022-01-06 06:00".to_owned()),
            Some("2022-01-06 09:30".to_owned())
        ]
    );
    let early = app.get("/v1/events?as_of=2022-01-06T07:00:00Z").await;
    assert_eq!(early.column("title"), [json!("claimed")]);
}

#[tokio::test]
async fn a_malformed_record_known_at_fails_naming_it_and_its_line() {
    let app = spawn_app().await;
    let records = [
        event("fine", "2022-01-05T18:00:00Z"),
        with(
            event("bad", "2022-01-05T18:00:00Z"),
            json!({"known_at": "Thursday morning"}),
        ),
    ];
    let reply = app.import("", NDJSON, ndjson(&records)).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(fields_and_lines(&reply), [("known_at".to_owned(), 2)]);
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn json_array_import_creates_the_events() {
    let app = spawn_app().await;
    let reply = app
        .import("", "application/json", Value::from(numbered(2)).to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["created"], 2);
    assert_eq!(app.all_events().await.len(), 2);
}

#[tokio::test]
async fn a_bundle_creates_its_timelines_before_its_events() {
    let app = spawn_app().await;
    // Written by hand (serializers may sort keys): timelines come first.
    let bundle = format!(
        r#"{{"timelines": [{{"slug": "kz-2022", "title": "Kazakhstan 2022"}}], "events": [{}]}}"#,
        with(
            event("On the timeline", "2022-01-05T00:00:00Z"),
            json!({"timelines": ["kz-2022"]})
        )
    );
    let reply = app.import("", "application/json", bundle).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["timelines_created"], 1);
    assert_eq!(
        app.get("/v1/timelines/kz-2022").await.body["event_count"],
        1
    );
}

#[tokio::test]
async fn a_bundle_with_timelines_after_its_events_fails_saying_so() {
    let app = spawn_app().await;
    let bundle = format!(
        r#"{{"events": [{}], "timelines": [{{"slug": "late", "title": "Late"}}]}}"#,
        event("fine", "2022-01-05T00:00:00Z")
    );
    let reply = app.import("", "application/json", bundle).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert!(
        reply.text.contains("`timelines` must come before `events`"),
        "{}",
        reply.text
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn an_invalid_record_fails_the_whole_import_and_writes_nothing() {
    let app = spawn_app().await;
    app.create_event(&event("Already there", "2022-01-01T00:00:00Z"))
        .await;
    let before = app.row_counts().await;
    let mut events = numbered(4500);
    events[4400]["type"] = json!("no_such_type");
    let reply = app.import("", NDJSON, ndjson(&events)).await;
    reply.assert_problem(422, "type");
    assert_eq!(reply.body["type"], "urn:chronik:problem:import-invalid");
    assert_eq!(fields_and_lines(&reply), [("type".to_owned(), 4401)]);
    assert_eq!(app.row_counts().await, before, "the database is unchanged");
}

#[tokio::test]
async fn errors_name_the_line_and_field_of_every_bad_record() {
    let app = spawn_app().await;
    let body = format!(
        "{}\n{}\n\n{}\nnot json\n",
        event("fine", "2022-01-05T00:00:00Z"),
        event("bad time", "yesterday"),
        with(
            event("two faults", "2022-01-05T00:00:00Z"),
            json!({"occurred_end": "2022-01-04T00:00:00Z", "type": "nope"})
        ),
    );
    let reply = app.import("", NDJSON, body).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(
        fields_and_lines(&reply),
        [
            ("occurred_start".to_owned(), 2),
            ("occurred_end".to_owned(), 4),
            ("body".to_owned(), 5)
        ]
    );
    assert_eq!(
        (
            reply.body["total_errors"].clone(),
            reply.body["invalid_records"].clone()
        ),
        (json!(3), json!(3))
    );
}

#[tokio::test]
async fn json_array_errors_name_the_line_each_record_starts_on() {
    let app = spawn_app().await;
    let body = format!(
        "[\n  {},\n  {{\n    \"title\": \"no type\",\n    \"occurred_start\": \"2022-01-05T00:00:00Z\"\n  }}\n]",
        event("fine", "2022-01-05T00:00:00Z")
    );
    let reply = app.import("", "application/json", body).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(fields_and_lines(&reply), [("body".to_owned(), 3)]);
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("type"),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn at_most_100_errors_are_listed_and_all_are_counted() {
    let app = spawn_app().await;
    let events: Vec<Value> = (0..150).map(|_| event("bad", "not a date")).collect();
    let reply = app.import("", NDJSON, ndjson(&events)).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    let listed = fields_and_lines(&reply);
    assert_eq!(listed.len(), 100);
    assert_eq!(listed[99], ("occurred_start".to_owned(), 100));
    assert_eq!(reply.body["total_errors"], 150);
    assert_eq!(reply.body["invalid_records"], 150);
}

#[tokio::test]
async fn create_mode_rejects_taken_and_repeated_external_ids() {
    let app = spawn_app().await;
    app.create_event(&with(
        event("existing", "2022-01-05T00:00:00Z"),
        json!({"external_id": "taken"}),
    ))
    .await;
    let events = [
        with(
            event("clash", "2022-01-05T00:00:00Z"),
            json!({"external_id": "taken"}),
        ),
        with(
            event("first", "2022-01-05T00:00:00Z"),
            json!({"external_id": "twice"}),
        ),
        with(
            event("second", "2022-01-05T00:00:00Z"),
            json!({"external_id": "twice"}),
        ),
    ];
    let reply = app.import("", NDJSON, ndjson(&events)).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(
        fields_and_lines(&reply),
        [("external_id".to_owned(), 1), ("external_id".to_owned(), 3)]
    );
    assert_eq!(app.all_events().await.len(), 1);
}

#[tokio::test]
async fn upsert_replaces_known_events_with_a_revision_each_and_skips_unchanged_ones() {
    let app = spawn_app().await;
    let changed = with(
        event("old title", "2022-01-05T00:00:00Z"),
        json!({"external_id": "changed"}),
    );
    let same = with(
        event("same", "2022-01-05T00:00:00Z"),
        json!({"external_id": "same", "actors": [{"name": "TASS"}]}),
    );
    app.create_event(&changed).await;
    app.create_event(&same).await;
    let writer = app
        .token(chronik::db::tokens::TokenSpec::new(
            "importer",
            Scope::Write,
        ))
        .await;
    let body = ndjson(&[
        with(changed, json!({"title": "new title"})),
        same,
        with(
            event("new", "2022-01-06T00:00:00Z"),
            json!({"external_id": "new"}),
        ),
    ]);
    let reply = app
        .import_with(
            &app.client_with(&writer.secret),
            "?mode=upsert",
            NDJSON,
            body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.body,
        json!({"total": 3, "created": 1, "updated": 1, "unchanged": 1, "timelines_created": 0})
    );
    let versions: Vec<(Value, Value)> = app
        .all_events()
        .await
        .iter()
        .map(|e| (e["external_id"].clone(), e["version"].clone()))
        .collect();
    assert_eq!(
        versions,
        [
            (json!("changed"), json!(2)),
            (json!("same"), json!(1)),
            (json!("new"), json!(1))
        ]
    );
    let update = app
        .strings(
            "SELECT kind || ' ' || author || ' ' || array_to_string(changed_fields, ',') AS value \
             FROM event_revisions r JOIN events e ON e.id = r.event_id WHERE e.external_id = 'changed' AND r.version = 2",
        )
        .await;
    assert_eq!(update, [Some(format!("updated {} title", writer.token.id))]);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM event_revisions").await,
        4
    );
    app.assert_history_matches().await;
}

#[tokio::test]
async fn a_csv_export_reimports_into_a_fresh_store_as_the_same_events() {
    let source = spawn_app().await;
    source.create_timeline("kz-2022").await;
    source
        .create_event(&json!({
            "external_id": "kz-rich",
            "title": "Kommas, \"Anführungszeichen\" und Zeilen",
            "summary": "Erste Zeile, mit Komma\nzweite: \"Dutzende\"; Алматы 🕯️",
            "language": "de", "type": "casualties",
            "occurred_start": "2022-01-05T18:00:00+06:00", "occurred_end": "2022-01-06T06:00:00.5+06:00",
            "precision": "hour", "timezone": "Asia/Almaty",
            "location": {"name": "Almaty, Republic Square", "admin1": "Almaty", "country_code": "KZ", "lat": 43.2389, "lon": 76.8897},
            "actors": [{"name": "Saltanat Azirbek", "role": "police spokesperson, \"Polizei\""}, {"name": "Protesters"}],
            "casualties": [
                {"kind": "killed", "party": "protesters", "min": 24, "max": null, "status": "claimed"},
                {"kind": "injured", "party": "police", "min": 300, "max": 400, "status": "confirmed"},
            ],
            "sources": [{"url": "https://example.org/live?a=1,2", "title": "Aufstand", "publisher": "Example", "published_at": "2022-01-06T09:00:00Z", "via": ["TASS", "RIA Novosti"], "quote": "\"eliminiert\""}],
            "status": "disputed", "tags": ["almaty", "night"], "timelines": ["kz-2022"],
        }))
        .await;
    source
        .create_event(&event("Plain, without external id", "2022-01-04T00:00:00Z"))
        .await;
    let export = source
        .get("/v1/events?format=csv&stream=all&bom=true")
        .await;
    assert_eq!(export.status, 200, "{}", export.text);

    let target = spawn_app().await;
    target.create_timeline("kz-2022").await;
    let reply = target.import("", "text/csv", export.text.clone()).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["created"], 2);
    let original: Vec<Value> = source
        .all_events()
        .await
        .into_iter()
        .map(writable)
        .collect();
    let imported: Vec<Value> = target
        .all_events()
        .await
        .into_iter()
        .map(writable)
        .collect();
    assert_eq!(imported, original);
}

#[tokio::test]
async fn csv_errors_name_the_column_and_line() {
    let app = spawn_app().await;
    let csv = "title,type,occurred_start,country_code,location_name,lat,lon\r\n\
               ok,protest,2022-01-05T00:00:00Z,KZ,Almaty,43.2,76.9\r\n\
               \"two\r\nlines\",protest,2022-01-05T00:00:00Z,XX,Almaty,north,76.9\r\n\
               bad,protest,2022-01-05T00:00:00Z,XX,Almaty,43.2,76.9\r\n";
    let reply = app.import("", "text/csv; charset=utf-8", csv).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(
        fields_and_lines(&reply),
        [("lat".to_owned(), 3), ("country_code".to_owned(), 5)]
    );
}

#[tokio::test]
async fn a_hand_made_csv_without_json_columns_reads_the_plain_lists() {
    let app = spawn_app().await;
    let csv = "title,type,occurred_start,actors,sources,tags\r\n\
               Rally,protest,2022-01-05T00:00:00Z,Protesters;Police,https://example.org/a;urn:x:b,almaty;night\r\n";
    let reply = app.import("", "text/csv", csv).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let event = &app.all_events().await[0];
    assert_eq!(
        event["actors"],
        json!([{"name": "Protesters", "role": null}, {"name": "Police", "role": null}])
    );
    let urls: Vec<&Value> = event["sources"]
        .as_array()
        .map(|s| s.iter().map(|s| &s["url"]).collect())
        .unwrap_or_default();
    assert_eq!(urls, [&json!("https://example.org/a"), &json!("urn:x:b")]);
    assert_eq!(event["tags"], json!(["almaty", "night"]));
}

#[tokio::test]
async fn an_unknown_csv_column_fails_naming_it() {
    let app = spawn_app().await;
    let reply = app
        .import("", "text/csv", "title,colour\r\nx,red\r\n")
        .await;
    reply.assert_problem(422, "colour");
}

#[tokio::test]
async fn the_acled_fixture_imports_with_the_documented_mapping() {
    let app = spawn_app().await;
    let reply = app.import("?format=acled", "text/csv", ACLED_FIXTURE).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["created"], 10);
    let events = app.all_events().await;
    let airport = events
        .iter()
        .find(|e| e["external_id"] == "KAZ1004")
        .expect("KAZ1004");
    assert_eq!(
        writable(airport.clone()),
        json!({
            "external_id": "KAZ1004",
            "title": "Armed clash in Almaty International Airport",
            "summary": "Security forces clashed with armed men who had seized the airport; 8 members of the security forces were reported killed.",
            "language": "en",
            "type": "armed_clash",
            "occurred_start": "2022-01-05T00:00:00Z",
            "occurred_end": null,
            "precision": "day",
            "timezone": null,
            "location": {"name": "Almaty International Airport", "admin1": "Almaty", "country_code": "KZ", "lat": 43.3521, "lon": 77.0405},
            "actors": [
                {"name": "Military Forces of Kazakhstan (1991-)", "role": "actor 1 (State forces)"},
                {"name": "National Guard of Kazakhstan", "role": "associated with actor 1"},
                {"name": "Rioters (Kazakhstan)", "role": "actor 2 (Rioters)"},
            ],
            "casualties": [{"kind": "killed", "party": "unknown", "min": 8, "max": 8, "status": "claimed"}],
            "sources": [{"url": "https://acleddata.com/", "title": "ACLED", "publisher": "ACLED", "published_at": null,
                         "via": ["Interfax-Kazakhstan", "TASS"], "quote": null}],
            "status": "reported",
            "tags": ["acled", "political-violence"],
            "timelines": [],
        })
    );
    let week = events
        .iter()
        .find(|e| e["external_id"] == "KAZ1007")
        .expect("KAZ1007");
    assert_eq!(
        (&week["occurred_start"], &week["occurred_end"]),
        (
            &json!("2022-01-03T00:00:00Z"),
            &json!("2022-01-09T00:00:00Z")
        )
    );
    assert_eq!(
        week["tags"],
        json!(["acled", "political-violence", "civilian-targeting"])
    );
    let month = events
        .iter()
        .find(|e| e["external_id"] == "KAZ1008")
        .expect("KAZ1008");
    assert_eq!(
        (&month["occurred_start"], &month["precision"]),
        (&json!("2022-01-01T00:00:00Z"), &json!("month"))
    );
    let ukraine = events
        .iter()
        .find(|e| e["external_id"] == "UKR3001")
        .expect("UKR3001");
    assert_eq!(ukraine["location"]["country_code"], "UA");
    let known_at = app
        .strings("SELECT to_char(r.known_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS value FROM event_revisions r JOIN events e ON e.id = r.event_id WHERE e.external_id = 'KAZ1004'")
        .await;
    assert_eq!(
        known_at,
        [Some("2022-01-08 00:00".to_owned())],
        "known_at is ACLED's timestamp"
    );
}

#[tokio::test]
async fn an_acled_row_of_an_unknown_sub_event_type_fails_naming_the_column() {
    let app = spawn_app().await;
    let mut lines = ACLED_FIXTURE.lines();
    let header = lines.next().unwrap_or("");
    let row = lines
        .next()
        .unwrap_or("")
        .replace("Peaceful protest", "Flash mob");
    let reply = app
        .import("?format=acled", "text/csv", format!("{header}\n{row}\n"))
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(fields_and_lines(&reply), [("sub_event_type".to_owned(), 2)]);
    assert!(reply.text.contains("Flash mob"), "{}", reply.text);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_upload_writes_nothing() {
    let app = spawn_app().await;
    let before = app.row_counts().await;
    let secret = app.secret(Scope::Write).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let body = ndjson(&numbered(5000));
    // Cut at a line end: were the cut taken for the end of the body, the
    // records so far would be valid and committed.
    let cut = body[..body.len() / 2].rfind('\n').map_or(0, |i| i + 1);
    let half = body.as_bytes()[..cut].to_vec();
    std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(&address).expect("connecting");
        write!(
            stream,
            "POST /v1/import HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {secret}\r\n\
             Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .expect("writing the head");
        for chunk in half.chunks(16 * 1024) {
            write!(stream, "{:x}\r\n", chunk.len()).expect("chunk size");
            stream.write_all(chunk).expect("chunk");
            stream.write_all(b"\r\n").expect("chunk end");
        }
        stream.flush().expect("flushing");
        // Time for the server to write the batches it has so far.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        drop(stream);
    })
    .join()
    .expect("the client thread");
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(
        app.row_counts().await,
        before,
        "nothing of the half upload was kept"
    );
    let retry = app.import("", NDJSON, body).await;
    assert_eq!(
        retry.status, 200,
        "the server imports again after: {}",
        retry.text
    );
    assert_eq!(retry.body["created"], 5000);
}

#[tokio::test]
async fn an_import_postgres_aborts_to_break_a_deadlock_answers_503_and_writes_nothing() {
    let app = spawn_app().await;
    let before = app.row_counts().await;
    let (first, last) = ("https://example.org/first", "https://example.org/last");
    let cite = |event: Value, url: &str| with(event, json!({"sources": [{"url": url}]}));
    let mut events: Vec<Value> = numbered(chronik::import::BATCH)
        .into_iter()
        .map(|e| cite(e, first))
        .collect();
    events.push(cite(event("last", "2022-01-06T00:00:00Z"), last));
    let body = ndjson(&events);
    // Another writer holds the URL the import's second batch cites, and then
    // wants the one its first batch added. It waits longer than the server
    // before it looks for a deadlock, so Postgres aborts the import, not it.
    let mut other = app.pool.get().await.expect("connection");
    for sql in [
        "BEGIN",
        "SET LOCAL deadlock_timeout = '60s'",
        &format!("INSERT INTO sources (id, url) VALUES (gen_random_uuid(), '{last}')"),
    ] {
        diesel::sql_query(sql).execute(&mut other).await.expect(sql);
    }
    let other_writer = async {
        app.wait_for_a_backend_waiting_on_a_lock().await;
        let wants_first = format!(
            "INSERT INTO sources (id, url) VALUES (gen_random_uuid(), '{first}') ON CONFLICT DO NOTHING"
        );
        diesel::sql_query(&wants_first)
            .execute(&mut other)
            .await
            .expect("the other writer goes on once the import is rolled back");
        diesel::sql_query("ROLLBACK")
            .execute(&mut other)
            .await
            .expect("ROLLBACK");
    };
    let (reply, ()) = tokio::join!(app.import("", NDJSON, body.clone()), other_writer);
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.body["type"], "urn:chronik:problem:busy");
    assert!(
        reply.text.contains("nothing of it was written"),
        "{}",
        reply.text
    );
    assert_eq!(app.row_counts().await, before, "nothing was written");
    let retry = app.import("", NDJSON, body).await;
    assert_eq!(
        retry.status, 200,
        "the same import again passes: {}",
        retry.text
    );
    assert_eq!(retry.body["created"], events.len());
}

#[tokio::test]
async fn import_needs_a_write_token() {
    let app = spawn_app().await;
    let anonymous = app
        .import_with(&app.anonymous, "", NDJSON, ndjson(&numbered(1)))
        .await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.text);
    assert!(
        anonymous
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );
    let reader = app.client_with(&app.secret(Scope::Read).await);
    let read_only = app
        .import_with(&reader, "", NDJSON, ndjson(&numbered(1)))
        .await;
    assert_eq!(read_only.status, 403, "{}", read_only.text);
    assert_eq!(read_only.content_type(), "application/problem+json");
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn an_unsupported_content_type_is_415() {
    let app = spawn_app().await;
    let reply = app.import("", "application/xml", "<events/>").await;
    assert_eq!(reply.status, 415, "{}", reply.text);
    assert!(
        reply.text.contains("application/x-ndjson"),
        "{}",
        reply.text
    );
    let acled_json = app.import("?format=acled", "application/json", "[]").await;
    assert_eq!(acled_json.status, 415, "{}", acled_json.text);
}

#[tokio::test]
async fn an_unknown_mode_is_400_naming_it() {
    let app = spawn_app().await;
    let reply = app
        .import("?mode=merge", NDJSON, ndjson(&numbered(1)))
        .await;
    reply.assert_problem(400, "mode");
}

#[tokio::test]
async fn an_import_may_be_larger_than_the_general_body_limit() {
    let app = spawn_app().await;
    let events: Vec<Value> = numbered(3000)
        .into_iter()
        .map(|e| with(e, json!({"summary": "x".repeat(500)})))
        .collect();
    let body = ndjson(&events);
    assert!(body.len() > app.config.max_body_bytes);
    let reply = app.import("", NDJSON, body).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["created"], 3000);
}

#[tokio::test]
async fn a_body_over_the_import_limit_is_413_and_writes_nothing() {
    let app = spawn_app_with(|config| config.max_import_bytes = 10_000).await;
    let reply = app.import("", NDJSON, ndjson(&numbered(200))).await;
    assert_eq!(reply.status, 413, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/problem+json");
    assert!(
        reply
            .text
            .contains("larger than 10000 bytes (CHRONIK_MAX_IMPORT_BYTES)"),
        "{}",
        reply.text
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn an_idempotency_key_is_refused_on_import_with_the_reason() {
    let app = spawn_app().await;
    let writer = app.client_with(&app.secret(Scope::Write).await);
    let reply = app
        .send(
            writer
                .post(app.url("/v1/import"))
                .header("content-type", NDJSON)
                .header("idempotency-key", "import-1")
                .body(ndjson(&numbered(1))),
        )
        .await;
    reply.assert_problem(400, "Idempotency-Key");
    assert!(reply.text.contains("streamed"), "{}", reply.text);
    assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
}

#[tokio::test]
async fn the_cli_imports_a_file_through_the_same_path() {
    let app = spawn_app().await;
    let dir =
        std::env::temp_dir().join(format!("chronik-import-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let file = dir.join("events.ndjson");
    std::fs::write(&file, ndjson(&numbered(3))).expect("writing the file");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_chronik"))
            .arg("import")
            .args(args)
            .env("DATABASE_URL", &app.config.database_url)
            .env("CHRONIK_LOG", "warn")
            .output()
            .expect("running chronik import")
    };
    let first = run(&[file.to_str().unwrap_or_default()]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("3 created"));
    let again = run(&[file.to_str().unwrap_or_default()]);
    assert!(
        !again.status.success(),
        "create mode refuses taken external ids"
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("line 1: external_id"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let upsert = run(&["--mode", "upsert", file.to_str().unwrap_or_default()]);
    assert!(
        String::from_utf8_lossy(&upsert.stdout).contains("3 unchanged"),
        "{}",
        String::from_utf8_lossy(&upsert.stderr)
    );
    let acled = dir.join("acled.csv");
    std::fs::write(&acled, ACLED_FIXTURE).expect("writing the fixture");
    let acled_run = run(&["--format", "acled", acled.to_str().unwrap_or_default()]);
    assert!(
        String::from_utf8_lossy(&acled_run.stdout).contains("10 created"),
        "{}",
        String::from_utf8_lossy(&acled_run.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn upsert_takes_an_event_off_the_timelines_its_record_no_longer_lists() {
    let app = spawn_app().await;
    app.create_timeline("kz").await;
    app.create_timeline("other").await;
    let first = with(
        event("On two timelines", "2022-01-05T00:00:00Z"),
        json!({"external_id": "e-1", "timelines": ["kz", "other"]}),
    );
    assert_eq!(app.import("", NDJSON, ndjson(&[first])).await.status, 200);
    let again = with(
        event("On one timeline", "2022-01-05T00:00:00Z"),
        json!({"external_id": "e-1", "timelines": ["other"]}),
    );
    let reply = app.import("?mode=upsert", NDJSON, ndjson(&[again])).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.body["updated"], 1);
    assert_eq!(app.get("/v1/timelines/kz").await.body["event_count"], 0);
    assert_eq!(app.get("/v1/timelines/other").await.body["event_count"], 1);
}

/// A source store with a rich event on a timeline and a plain one, and the
/// export of it in `format` (`ndjson`, `json`: a page, `csv`: streamed).
async fn exported_store(format: &str) -> (TestApp, String, &'static str) {
    let source = spawn_app().await;
    source.create_timeline("kz").await;
    source.create_event(&crate::helpers::rich_event()).await;
    let plain = source
        .create_event(&event("Plain, without external id", "2022-01-04T00:00:00Z"))
        .await;
    // A changed event: its version and times differ from a fresh one's.
    let id = plain["id"].as_str().expect("an id");
    let reply = source
        .patch(&format!("/v1/events/{id}"), &json!({"status": "confirmed"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let (query, content_type) = match format {
        "ndjson" => ("format=ndjson", NDJSON),
        "json" | "array" => ("format=json&limit=100", "application/json"),
        _ => ("format=csv&stream=all", "text/csv"),
    };
    let export = source.get(&format!("/v1/events?{query}")).await;
    assert_eq!(export.status, 200, "{}", export.text);
    if format == "array" {
        // A plain JSON array of exported events, as a script would collect them.
        let array = export.body["data"].to_string();
        return (source, array, "application/json");
    }
    (source, export.text, content_type)
}

/// Every field but those the importing store assigns (`version`, `created_at`, `updated_at`).
fn without_assigned(mut event: Value) -> Value {
    for key in ["version", "created_at", "updated_at"] {
        event.as_object_mut().expect("an object").remove(key);
    }
    event
}

#[tokio::test]
async fn every_whole_event_export_reimports_into_an_empty_store_with_its_ids() {
    for format in ["ndjson", "json", "array", "csv"] {
        let (source, export, content_type) = exported_store(format).await;
        let target = spawn_app().await;
        target.create_timeline("kz").await;
        let reply = target.import("", content_type, export).await;
        assert_eq!(reply.status, 200, "{format}: {}", reply.text);
        assert_eq!(reply.body["created"], 2, "{format}");
        let original: Vec<Value> = source
            .all_events()
            .await
            .into_iter()
            .map(without_assigned)
            .collect();
        let imported: Vec<Value> = target
            .all_events()
            .await
            .into_iter()
            .map(without_assigned)
            .collect();
        assert_eq!(imported, original, "{format}");
        for event in target.all_events().await {
            assert_eq!(event["version"], 1, "{format}: the target's own history");
        }
    }
}

#[tokio::test]
async fn a_reimported_export_matches_its_events_by_id() {
    let (source, export, content_type) = exported_store("ndjson").await;
    let again = source.import("", content_type, export.clone()).await;
    again.assert_problem(422, "id");
    assert!(
        again.text.contains("mode=upsert replaces it"),
        "{}",
        again.text
    );
    let upsert = source.import("?mode=upsert", content_type, export).await;
    assert_eq!(upsert.status, 200, "{}", upsert.text);
    assert_eq!(upsert.body["unchanged"], 2, "{}", upsert.text);
}

#[tokio::test]
async fn a_record_id_that_is_no_uuid_fails_naming_it() {
    let app = spawn_app().await;
    let record = with(
        event("t", "2022-01-05T00:00:00Z"),
        json!({"id": "kz-1", "version": 3, "created_at": "2022-01-05T00:00:00Z"}),
    );
    let reply = app.import("", NDJSON, record.to_string()).await;
    reply.assert_problem(422, "id");
    assert!(reply.text.contains("UUID"), "{}", reply.text);
    assert_eq!(reply.body["total_errors"], 1, "{}", reply.text);
}

#[tokio::test]
async fn a_record_whose_id_and_external_id_name_two_events_fails() {
    let app = spawn_app().await;
    let first = app
        .create_event(&with(
            event("a", "2022-01-05T00:00:00Z"),
            json!({"external_id": "a"}),
        ))
        .await;
    let second = app
        .create_event(&with(
            event("b", "2022-01-05T00:00:00Z"),
            json!({"external_id": "b"}),
        ))
        .await;
    let record = with(
        event("a", "2022-01-05T00:00:00Z"),
        json!({"id": first["id"], "external_id": second["external_id"]}),
    );
    let reply = app.import("?mode=upsert", NDJSON, record.to_string()).await;
    reply.assert_problem(422, "external_id");
}

#[tokio::test]
async fn an_event_on_a_missing_timeline_fails_saying_how_to_create_it() {
    let app = spawn_app().await;
    let record = with(
        event("t", "2022-01-05T00:00:00Z"),
        json!({"timelines": ["kz-moved"]}),
    );
    let reply = app.import("", NDJSON, record.to_string()).await;
    reply.assert_problem(422, "timelines[0]");
    assert!(reply.text.contains("POST /v1/timelines"), "{}", reply.text);
}

#[tokio::test]
async fn an_acled_file_without_format_acled_says_to_use_it() {
    let app = spawn_app().await;
    let reply = app.import("", "text/csv", ACLED_FIXTURE).await;
    reply.assert_problem(422, "format");
    assert!(
        reply.text.contains("looks like an ACLED export") && reply.text.contains("format=acled"),
        "{}",
        reply.text
    );
    assert_eq!(reply.body["errors"][0]["line"], 1, "{}", reply.text);
}

#[tokio::test]
async fn an_unterminated_csv_quote_is_reported_on_the_line_it_opened() {
    let app = spawn_app().await;
    for (summary_last, csv) in [
        (
            false,
            "title,summary,type,occurred_start\r\n\
             a,fine,protest,2022-01-05T00:00:00Z\r\n\
             b,\"opened here,protest,2022-01-05T00:00:00Z\r\n\
             c,fine,protest,2022-01-05T00:00:00Z\r\n\
             d,fine,protest,2022-01-05T00:00:00Z\r\n\
             e,\"quoted\",protest,2022-01-05T00:00:00Z\r\n\
             f,fine,protest,2022-01-05T00:00:00Z\r\n",
        ),
        (
            true,
            "title,type,occurred_start,summary\n\
             a,protest,2022-01-05T00:00:00Z,fine\n\
             b,protest,2022-01-05T00:00:00Z,\"opened here\n\
             c,protest,2022-01-05T00:00:00Z,fine\n\
             d,protest,2022-01-05T00:00:00Z,fine\n",
        ),
    ] {
        let reply = app.import("", "text/csv", csv).await;
        assert_eq!(reply.status, 422, "{}", reply.text);
        let error = &reply.body["errors"][0];
        assert_eq!(error["line"], 3, "{summary_last}: {}", reply.text);
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("quote") && m.contains("line 3")),
            "{}",
            reply.text
        );
        assert_eq!(app.count("SELECT count(*) AS n FROM events").await, 0);
    }
}
