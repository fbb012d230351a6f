//! Reads from a real streaming replica (`DATABASE_READ_URL`), started by
//! the test with `pg_basebackup`; its lag made deterministic by pausing its
//! replay (`pg_wal_replay_pause`).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

use crate::helpers::{client, event};
use crate::private_postgres::PrivatePostgres;

const POSITION: &str = "chronik-position";

/// A primary, its replica, and a server writing to the one and reading from the other.
struct Replicated {
    primary: PrivatePostgres,
    replica: PrivatePostgres,
    base: String,
    writer: Client,
    reader: Client,
    _server: actix_web::dev::ServerHandle,
}

impl Replicated {
    async fn start() -> Replicated {
        let primary = PrivatePostgres::start();
        let (mut config, token) = primary.chronik().await;
        // After the migrations and the token: the replica starts with both.
        let replica = tokio::task::block_in_place(|| primary.replica());
        config.database_read_url = vec![format!("{}/chronik", replica.url())];
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let server = chronik::app::run(listener, &config).unwrap();
        let handle = server.handle();
        tokio::spawn(server);
        Replicated {
            primary,
            replica,
            base,
            writer: client(Some(&token)),
            reader: client(None),
            _server: handle,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates an event; its id and the write's position.
    async fn create(&self, title: &str) -> (String, String) {
        let reply = self
            .writer
            .post(self.url("/v1/events"))
            .json(&event(title, "2022-01-05T00:00:00Z"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 201);
        let position = position_of(&reply);
        let body: Value = reply.json().await.unwrap();
        (body["id"].as_str().unwrap().to_owned(), position)
    }

    /// The event's title as a read with `position` (if any) sees it.
    async fn title(&self, id: &str, position: Option<&str>) -> Value {
        let mut request = self.reader.get(self.url(&format!("/v1/events/{id}")));
        if let Some(position) = position {
            request = request.header(POSITION, position);
        }
        let reply = request.send().await.unwrap();
        assert_eq!(reply.status(), 200);
        reply.json::<Value>().await.unwrap()["title"].clone()
    }

    /// Waits until the replica has replayed up to `position`.
    fn wait_for_replay(&self, position: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let sql = format!("SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn");
        while self.replica.psql("chronik", &sql) != "t" {
            assert!(
                Instant::now() < deadline,
                "the replica never replayed {position}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pause_replay(&self) {
        self.replica.psql("chronik", "SELECT pg_wal_replay_pause()");
    }

    fn resume_replay(&self) {
        self.replica
            .psql("chronik", "SELECT pg_wal_replay_resume()");
    }
}

fn position_of(reply: &reqwest::Response) -> String {
    reply
        .headers()
        .get(POSITION)
        .expect("a write answers with its position")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_sending_a_writes_position_sees_that_write_while_the_replica_lags() {
    let db = Replicated::start().await;
    let (id, created) = db.create("first title").await;
    tokio::task::block_in_place(|| db.wait_for_replay(&created));
    tokio::task::block_in_place(|| db.pause_replay());

    let reply = db
        .writer
        .patch(db.url(&format!("/v1/events/{id}")))
        .json(&json!({"title": "second title"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let patched = position_of(&reply);

    assert_eq!(
        db.title(&id, None).await,
        "first title",
        "without a position the lagging replica serves the read"
    );
    assert_eq!(db.title(&id, Some(&patched)).await, "second title");
    let page = db
        .reader
        .get(db.url("/v1/events"))
        .header(POSITION, &patched)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(page["data"][0]["title"], "second title");

    tokio::task::block_in_place(|| db.resume_replay());
    tokio::task::block_in_place(|| db.wait_for_replay(&patched));
    assert_eq!(db.title(&id, None).await, "second title");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_the_replica_has_replayed_is_read_from_the_replica() {
    let db = Replicated::start().await;
    let (id, created) = db.create("replayed").await;
    tokio::task::block_in_place(|| db.wait_for_replay(&created));
    tokio::task::block_in_place(|| db.pause_replay());
    // On the primary only: a read the replica serves cannot see it.
    db.create("not replayed").await;

    let reply = db
        .reader
        .get(db.url("/v1/events"))
        .header(POSITION, &created)
        .send()
        .await
        .unwrap();
    let page: Value = reply.json().await.unwrap();
    let titles: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["replayed"]);
    assert_eq!(db.title(&id, Some(&created)).await, "replayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_to_the_primary_and_reach_the_replica_only_by_replication() {
    let db = Replicated::start().await;
    tokio::task::block_in_place(|| db.pause_replay());
    let (id, position) = db.create("written").await;
    let count = format!("SELECT count(*) FROM events WHERE id = '{id}'");
    assert_eq!(db.primary.psql("chronik", &count), "1");
    assert_eq!(db.replica.psql("chronik", &count), "0");
    tokio::task::block_in_place(|| db.resume_replay());
    tokio::task::block_in_place(|| db.wait_for_replay(&position));
    assert_eq!(db.replica.psql("chronik", &count), "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_the_primary_while_the_replica_is_down() {
    let db = Replicated::start().await;
    let (id, created) = db.create("kept").await;
    tokio::task::block_in_place(|| db.wait_for_replay(&created));
    assert_eq!(db.title(&id, None).await, "kept");

    tokio::task::block_in_place(|| db.replica.stop());
    // Written while the replica is down: only the primary can serve it.
    let (later, _) = db.create("while down").await;
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(db.title(&later, None).await, "while down");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a read waited {:?} for a replica that is down",
            started.elapsed()
        );
    }

    tokio::task::block_in_place(|| db.replica.start_again());
    assert_eq!(db.title(&id, None).await, "kept");
}

#[tokio::test]
async fn every_successful_write_answers_with_its_position_and_reads_do_not() {
    let app = crate::helpers::spawn_app().await;
    let created = app
        .post("/v1/events", &event("positioned", "2022-01-05T00:00:00Z"))
        .await;
    assert_eq!(created.status, 201);
    let position = created.header(POSITION).expect("a position");
    assert!(
        position.split_once('/').is_some_and(|(high, low)| {
            [high, low]
                .iter()
                .all(|half| !half.is_empty() && half.chars().all(|c| c.is_ascii_hexdigit()))
        }),
        "{position}"
    );
    let id = created.body["id"].as_str().unwrap();
    let patched = app
        .patch(&format!("/v1/events/{id}"), &json!({"title": "later"}))
        .await;
    assert!(patched.header(POSITION).is_some());
    let refused = app.post("/v1/events", &json!({"title": "no date"})).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.header(POSITION), None, "nothing was written");
    assert_eq!(app.get("/v1/events").await.header(POSITION), None);
}

#[tokio::test]
async fn a_read_sending_a_position_without_replicas_is_served_by_the_primary() {
    let app = crate::helpers::spawn_app().await;
    let created = app
        .post("/v1/events", &event("here", "2022-01-05T00:00:00Z"))
        .await;
    let position = created.header(POSITION).unwrap().to_owned();
    let id = created.body["id"].as_str().unwrap();
    let reply = app
        .send(
            app.anonymous
                .get(app.url(&format!("/v1/events/{id}")))
                .header(POSITION, &position),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["title"], "here");
}

#[tokio::test]
async fn a_malformed_position_is_refused_by_name() {
    let app = crate::helpers::spawn_app().await;
    for bad in ["yesterday", "0/", "1/2/3", "123456789/0"] {
        let reply = app
            .send(
                app.anonymous
                    .get(app.url("/v1/events"))
                    .header(POSITION, bad),
            )
            .await;
        reply.assert_problem(400, "Chronik-Position");
    }
}
