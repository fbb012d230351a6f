//! Live streams (`text/event-stream`): every change delivered once, on every
//! instance, resumed exactly where a client left off.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, event, spawn_app, spawn_app_with};

/// One server-sent event as a client parses it.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

/// A stream read as `EventSource` reads it.
pub struct Sse {
    response: reqwest::Response,
    pub buffer: String,
    pub comments: Vec<String>,
    pub retry: Option<String>,
    pub ended: bool,
}

impl Sse {
    pub async fn open(request: reqwest::RequestBuilder) -> Sse {
        let response = request.send().await.expect("opening the stream");
        assert_eq!(response.status(), 200, "{:?}", response.headers());
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Sse {
            response,
            buffer: String::new(),
            comments: Vec::new(),
            retry: None,
            ended: false,
        }
    }

    /// The next message, or `None` when `wait` passes first (or the stream ended).
    pub async fn next(&mut self, wait: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(message) = self.parse_one() {
                return Some(message);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(chunk))) => self.buffer.push_str(std::str::from_utf8(&chunk).unwrap()),
                Ok(_) => self.ended = true,
            }
        }
    }

    /// Messages until `count` arrived (panics after 30 s).
    pub async fn take(&mut self, count: usize) -> Vec<Message> {
        let mut got = Vec::new();
        while got.len() < count {
            match self.next(Duration::from_secs(30)).await {
                Some(message) => got.push(message),
                None => panic!("{} of {count} messages, then nothing: {got:?}", got.len()),
            }
        }
        got
    }

    fn parse_one(&mut self) -> Option<Message> {
        loop {
            let end = self.buffer.find("\n\n")?;
            let block: String = self.buffer.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::from("message"), None);
            for line in block.lines() {
                if let Some(comment) = line.strip_prefix(':') {
                    self.comments.push(comment.trim().to_owned());
                } else if let Some(value) = line.strip_prefix("id: ") {
                    id = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("event: ") {
                    event = value.to_owned();
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(value).unwrap());
                } else if let Some(value) = line.strip_prefix("retry: ") {
                    self.retry = Some(value.to_owned());
                }
            }
            if let Some(data) = data {
                return Some(Message { id, event, data });
            }
        }
    }
}

fn title(message: &Message) -> &str {
    message.data["event"]["title"].as_str().unwrap_or("")
}

async fn stream(app: &TestApp, query: &str) -> Sse {
    Sse::open(
        app.anonymous
            .get(app.url(&format!("/v1/events/stream{query}"))),
    )
    .await
}

#[tokio::test]
async fn a_stream_receives_a_write_made_through_another_instance() {
    let app = spawn_app().await;
    let other = app.another_instance();
    let mut sse = stream(&app, "").await;
    let created = app
        .send(
            app.client
                .post(other.url("/v1/events"))
                .json(&event("via B", "2022-01-05T00:00:00Z")),
        )
        .await;
    assert_eq!(created.status, 201);
    let got = sse.take(1).await;
    assert_eq!(got[0].event, "created");
    assert_eq!(title(&got[0]), "via B");
    assert_eq!(got[0].id.as_deref(), got[0].data["cursor"].as_str());
    assert_eq!(sse.retry.as_deref(), Some("3000"));
}

#[tokio::test]
async fn both_instances_deliver_every_change_once() {
    let app = spawn_app().await;
    let other = app.another_instance();
    let mut on_a = stream(&app, "").await;
    let mut on_b = Sse::open(app.anonymous.get(other.url("/v1/events/stream"))).await;
    for i in 0..5 {
        let base = if i % 2 == 0 {
            &app.address
        } else {
            &other.address
        };
        let reply = app
            .send(
                app.client
                    .post(format!("{base}/v1/events"))
                    .json(&event(&format!("e{i}"), "2022-01-05T00:00:00Z")),
            )
            .await;
        assert_eq!(reply.status, 201);
    }
    for sse in [&mut on_a, &mut on_b] {
        let mut titles: Vec<String> = sse
            .take(5)
            .await
            .iter()
            .map(|m| title(m).to_owned())
            .collect();
        titles.sort();
        assert_eq!(titles, ["e0", "e1", "e2", "e3", "e4"]);
        assert!(
            sse.next(Duration::from_millis(300)).await.is_none(),
            "no duplicate"
        );
    }
}

#[tokio::test]
async fn a_client_resuming_with_last_event_id_gets_exactly_what_it_missed() {
    let app = spawn_app().await;
    let mut sse = stream(&app, "").await;
    app.create_event(&event("seen", "2022-01-05T00:00:00Z"))
        .await;
    let seen = sse.take(1).await;
    drop(sse);
    app.create_event(&event("missed 1", "2022-01-05T00:00:00Z"))
        .await;
    app.create_event(&event("missed 2", "2022-01-05T00:00:00Z"))
        .await;

    let last = seen[0].id.clone().unwrap();
    let mut resumed = Sse::open(
        app.anonymous
            .get(app.url("/v1/events/stream?after=0-0"))
            .header("last-event-id", &last),
    )
    .await;
    let missed = resumed.take(2).await;
    assert_eq!(
        missed.iter().map(title).collect::<Vec<_>>(),
        ["missed 1", "missed 2"]
    );
    app.create_event(&event("live", "2022-01-05T00:00:00Z"))
        .await;
    let live = resumed.take(1).await;
    assert_eq!(title(&live[0]), "live");
    assert!(
        resumed.next(Duration::from_millis(300)).await.is_none(),
        "no duplicate"
    );
}

#[tokio::test]
async fn a_filtered_stream_sees_only_its_events_and_their_leaving_and_deletion() {
    let app = spawn_app().await;
    app.create_timeline("almaty").await;
    let mut sse = Sse::open(app.anonymous.get(app.url("/v1/timelines/almaty/stream"))).await;
    let inside = app
        .create_event(&event("inside", "2022-01-05T00:00:00Z"))
        .await;
    let other = app
        .create_event(&event("outside", "2022-01-05T00:00:00Z"))
        .await;
    let id = inside["id"].as_str().unwrap();
    assert_eq!(
        app.put(&format!("/v1/timelines/almaty/events/{id}"), &json!({}))
            .await
            .status,
        204
    );
    assert_eq!(
        app.delete(&format!("/v1/timelines/almaty/events/{id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        app.put(&format!("/v1/timelines/almaty/events/{id}"), &json!({}))
            .await
            .status,
        204
    );
    assert_eq!(app.delete(&format!("/v1/events/{id}")).await.status, 204);
    let _ = other;
    let got = sse.take(4).await;
    let kinds: Vec<&str> = got.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(kinds, ["updated", "left", "updated", "deleted"]);
    assert!(got.iter().all(|m| m.data["event_id"] == id));
    assert!(got[3].data["event"].is_null(), "a tombstone");
    assert!(sse.next(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn a_stream_of_a_timeline_that_does_not_exist_is_404() {
    let app = spawn_app().await;
    let reply = app.get("/v1/timelines/nowhere/stream").await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn an_invalid_last_event_id_is_refused_by_name() {
    let app = spawn_app().await;
    let reply = app
        .send(
            app.client
                .get(app.url("/v1/events/stream"))
                .header("last-event-id", "yesterday"),
        )
        .await;
    reply.assert_problem(400, "Last-Event-ID");
}

#[tokio::test]
async fn an_empty_last_event_id_is_as_if_not_sent() {
    let app = spawn_app().await;
    app.create_event(&event("before", "2022-01-05T00:00:00Z"))
        .await;
    let mut sse = Sse::open(
        app.anonymous
            .get(app.url("/v1/events/stream?after=0-0"))
            .header("last-event-id", ""),
    )
    .await;
    let caught_up = sse.take(1).await;
    assert_eq!(
        title(&caught_up[0]),
        "before",
        "the stream starts at `after`"
    );
}

#[tokio::test]
async fn a_cursor_ahead_of_the_feed_is_refused_by_the_name_it_came_in() {
    let app = spawn_app().await;
    let header = app
        .send(
            app.client
                .get(app.url("/v1/events/stream"))
                .header("last-event-id", "999999999999-0"),
        )
        .await;
    header.assert_problem(400, "Last-Event-ID");
    let query = app.get("/v1/events/stream?after=999999999999-0").await;
    query.assert_problem(400, "after");
}

#[tokio::test]
async fn idle_streams_get_heartbeats() {
    let app = spawn_app_with(|c| {
        c.streams.stream_heartbeat = chronik::config::TimeLimit(Some(Duration::from_millis(100)));
    })
    .await;
    let mut sse = stream(&app, "").await;
    assert!(sse.next(Duration::from_millis(500)).await.is_none());
    assert!(
        sse.comments.iter().filter(|c| *c == "heartbeat").count() >= 2,
        "{:?}",
        sse.comments
    );
}

#[tokio::test]
async fn streams_beyond_the_per_ip_cap_are_429_until_one_closes() {
    // The server learns that a client went when it next writes to it: a heartbeat at the latest.
    let app = spawn_app_with(|c| {
        c.streams.stream_limit_per_ip = chronik::config::ClientCap(Some(2));
        c.streams.stream_heartbeat = chronik::config::TimeLimit(Some(Duration::from_millis(100)));
    })
    .await;
    let first = stream(&app, "").await;
    let _second = stream(&app, "").await;
    let third = app
        .send(app.anonymous.get(app.url("/v1/events/stream")))
        .await;
    assert_eq!(third.status, 429, "{}", third.text);
    assert!(third.header("retry-after").is_some());
    assert_eq!(third.content_type(), "application/problem+json");
    drop(first);
    let mut again = 0;
    loop {
        let reply = app
            .anonymous
            .get(app.url("/v1/events/stream"))
            .send()
            .await
            .unwrap();
        if reply.status() == 200 {
            break;
        }
        again += 1;
        assert!(again < 50, "the closed stream's place was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn with_private_reads_a_browser_streams_with_a_stream_token_in_the_url() {
    let app = spawn_app_with(|c| c.public_reads = false).await;
    let refused = app
        .send(app.anonymous.get(app.url("/v1/events/stream")))
        .await;
    assert_eq!(refused.status, 401);
    let token = app.post("/v1/stream-tokens", &json!({})).await;
    assert_eq!(token.status, 201, "{}", token.text);
    let secret = token.body["access_token"].as_str().unwrap();
    let mut sse = Sse::open(
        app.anonymous
            .get(app.url(&format!("/v1/events/stream?access_token={secret}"))),
    )
    .await;
    app.create_event(&event("private", "2022-01-05T00:00:00Z"))
        .await;
    assert_eq!(title(&sse.take(1).await[0]), "private");
    // Elsewhere the query string carries no token.
    let list = app
        .send(
            app.anonymous
                .get(app.url(&format!("/v1/events?access_token={secret}"))),
        )
        .await;
    assert_eq!(list.status, 401);
}

#[tokio::test]
async fn a_stream_token_needs_a_token_even_while_reads_are_public() {
    let app = spawn_app().await;
    let reply = app
        .send(app.anonymous.post(app.url("/v1/stream-tokens")))
        .await;
    assert_eq!(reply.status, 401, "{}", reply.text);
}

#[tokio::test]
async fn a_client_too_slow_for_its_buffer_is_told_where_to_resume_and_misses_nothing() {
    let app = spawn_app_with(|c| c.streams.stream_buffer = 1).await;
    let mut sse = stream(&app, "").await;
    // Far more than the sockets between server and client hold, written in
    // one import while the client reads nothing: the stream falls behind.
    let summary = "x".repeat(8000);
    let count = 4000;
    let body: String = (0..count)
        .map(|i| {
            let mut e = event(&format!("bulk {i}"), "2022-01-05T00:00:00Z");
            e["summary"] = json!(summary);
            if i == count - 1 {
                e["external_id"] = json!("bulk-last");
            }
            format!("{e}\n")
        })
        .collect();
    let writer = app.client_with(&app.secret(chronik::models::token::Scope::Write).await);
    let imported = app
        .send(
            writer
                .post(app.url("/v1/import"))
                .header("content-type", "application/x-ndjson")
                .body(body),
        )
        .await;
    assert_eq!(imported.status, 200, "{}", imported.text);
    // Only once the feed serves the import (other tests' transactions may
    // hold it back) has the stream's group read it: still not reading.
    crate::changes::read_settled(&app, "&external_id=bulk-last", None, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut seen = std::collections::HashMap::<String, usize>::new();
    let resume = loop {
        let message = sse.next(Duration::from_secs(60)).await.unwrap_or_else(|| {
            panic!(
                "no resume message after {} changes (ended: {}, buffered: {})",
                seen.len(),
                sse.ended,
                sse.buffer.len()
            )
        });
        if message.event == "resume" {
            break message;
        }
        *seen.entry(title(&message).to_owned()).or_default() += 1;
    };
    assert!(seen.len() < count, "the client was not too slow after all");
    assert!(
        sse.next(Duration::from_secs(5)).await.is_none() && sse.ended,
        "the stream ends"
    );
    let id = resume.id.clone().expect("the resume message has an id");
    assert_eq!(resume.data["after"], id.as_str());

    let mut resumed = Sse::open(
        app.anonymous
            .get(app.url("/v1/events/stream"))
            .header("last-event-id", &id),
    )
    .await;
    while seen.len() < count {
        let message = resumed
            .next(Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("only {} of {count}", seen.len()));
        *seen.entry(title(&message).to_owned()).or_default() += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "every change exactly once");
}
