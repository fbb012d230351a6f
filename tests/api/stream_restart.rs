//! A Postgres restart in the middle of a stream: once clients resume,
//! nothing is lost and nothing comes twice.

use std::net::TcpListener;
use std::time::Duration;

use crate::helpers::{client, event};
use crate::private_postgres::PrivatePostgres;
use crate::streams::Sse;

#[tokio::test]
async fn a_postgres_restart_mid_stream_loses_nothing_once_clients_resume() {
    let postgres = PrivatePostgres::start();
    let (mut config, token) = postgres.chronik().await;
    // No polling: only the listener, reconnected after the restart, can wake the streams.
    config.streams.stream_poll = chronik::config::TimeLimit(None);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = chronik::app::run(listener, &config).unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    let writer = client(Some(&token));
    let reader = client(None);
    let post = |title: &'static str| {
        writer
            .post(format!("{base}/v1/events"))
            .json(&event(title, "2022-01-05T00:00:00Z"))
            .send()
    };

    let mut sse = Sse::open(reader.get(format!("{base}/v1/events/stream"))).await;
    assert_eq!(post("before").await.unwrap().status(), 201);
    let first = sse.take(1).await;
    assert_eq!(first[0].data["event"]["title"], "before");
    let mut last_id = first[0].id.clone().unwrap();

    postgres.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    postgres.start_again();
    // The pools reconnect by themselves; a write may be refused (503) until they have.
    let mut tries = 0;
    while post("after")
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
        != 201
    {
        tries += 1;
        assert!(tries < 100, "no write succeeded after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Read on; when the stream ends (or says `resume`), reconnect with the last id.
    let mut titles = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !titles.contains(&"after".to_owned()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "`after` never arrived: {titles:?}"
        );
        match sse.next(Duration::from_secs(1)).await {
            Some(message) => {
                last_id = message.id.clone().unwrap_or(last_id);
                if message.event != "resume" {
                    titles.push(message.data["event"]["title"].as_str().unwrap().to_owned());
                }
            }
            None if sse.ended => {
                sse = Sse::open(
                    reader
                        .get(format!("{base}/v1/events/stream"))
                        .header("last-event-id", &last_id),
                )
                .await;
            }
            None => {}
        }
    }
    assert!(sse.next(Duration::from_millis(500)).await.is_none());
    assert_eq!(
        titles,
        ["after"],
        "exactly the change made after the restart, once"
    );
    drop(handle.stop(false));
}
