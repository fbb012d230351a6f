//! A Postgres outage under a trickle of reads and writes, on a Postgres of
//! the test's own: while it is down every request is answered at once, and
//! once it is back the server serves again by itself, having kept every
//! write it acknowledged and none it refused.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{client, event};
use crate::private_postgres::PrivatePostgres;

/// The bound: no request waits longer than this for its answer while
/// the database is down.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How long Postgres stays down.
const OUTAGE: Duration = Duration::from_secs(4);
/// Each trickle client's pause between two requests.
const TRICKLE: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Write,
    Read,
    Ready,
    Health,
}

/// One request of the trickle and what its client saw.
#[derive(Debug)]
struct Sample {
    kind: Kind,
    /// The title a write sent.
    title: Option<String>,
    sent: Instant,
    answered: Instant,
    /// The status, or the client's error (a timeout, a broken connection).
    status: Result<u16, String>,
    content_type: String,
    retry_after: Option<String>,
    body: Value,
}

impl Sample {
    fn took(&self) -> Duration {
        self.answered - self.sent
    }
}

type Samples = Arc<Mutex<Vec<Sample>>>;

/// Sends `kind` requests one after another until `stop`, recording each.
async fn trickle(base: String, token: String, kind: Kind, stop: Arc<AtomicBool>, out: Samples) {
    let client = client(Some(&token));
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let title = (kind == Kind::Write).then(|| format!("Trickle {n}"));
        let request = match kind {
            Kind::Write => client.post(format!("{base}/v1/events")).json(&event(
                title.as_deref().unwrap_or_default(),
                "2022-01-05T00:00:00Z",
            )),
            Kind::Read => client.get(format!("{base}/v1/events?limit=5")),
            Kind::Ready => client.get(format!("{base}/readyz")),
            Kind::Health => client.get(format!("{base}/healthz")),
        };
        let sent = Instant::now();
        // A bound far above the one asserted, so that a hanging request fails the test rather than hangs it.
        let response = request.timeout(Duration::from_secs(20)).send().await;
        let mut sample = Sample {
            kind,
            title,
            sent,
            answered: sent,
            status: Err(String::new()),
            content_type: String::new(),
            retry_after: None,
            body: Value::Null,
        };
        match response {
            Ok(response) => {
                let header = |name| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                sample.status = Ok(response.status().as_u16());
                sample.content_type = header("content-type").unwrap_or_default();
                sample.retry_after = header("retry-after");
                match response.text().await {
                    Ok(text) => sample.body = serde_json::from_str(&text).unwrap_or(Value::Null),
                    Err(err) => sample.status = Err(format!("reading the body: {err}")),
                }
            }
            Err(err) => sample.status = Err(err.to_string()),
        }
        sample.answered = Instant::now();
        out.lock().unwrap().push(sample);
        tokio::time::sleep(TRICKLE).await;
    }
}

/// Waits until the trickle has recorded a sample that satisfies `seen`, at most `within`.
async fn wait_for(samples: &Samples, within: Duration, what: &str, seen: impl Fn(&Sample) -> bool) {
    let deadline = Instant::now() + within;
    while !samples.lock().unwrap().iter().any(&seen) {
        assert!(Instant::now() < deadline, "never saw {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `(id, title)` of every event, read in one NDJSON export.
async fn stored_events(base: &str) -> Vec<(String, String)> {
    let text = client(None)
        .get(format!("{base}/v1/events?format=ndjson"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap();
            let field = |name: &str| event[name].as_str().unwrap().to_owned();
            (field("id"), field("title"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_answered_at_once_and_survived_without_losing_an_acknowledged_write() {
    // The server's warnings and errors, shown if the test fails.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::WARN)
        .try_init();
    let postgres = PrivatePostgres::start();
    let (config, token) = postgres.chronik().await;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let server = chronik::app::run(listener, &config).unwrap();
    let handle = server.handle();
    tokio::spawn(server);

    let samples = Samples::default();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = [Kind::Write, Kind::Read, Kind::Ready, Kind::Health]
        .into_iter()
        .map(|kind| {
            tokio::spawn(trickle(
                base.clone(),
                token.clone(),
                kind,
                stop.clone(),
                samples.clone(),
            ))
        })
        .collect();
    wait_for(
        &samples,
        Duration::from_secs(30),
        "a write before the outage",
        |s| s.kind == Kind::Write && s.status == Ok(201),
    )
    .await;

    // pg_ctl waits until the server has stopped, and until it accepts connections again.
    tokio::task::block_in_place(|| postgres.stop());
    let down_from = Instant::now();
    tokio::time::sleep(OUTAGE).await;
    let down_until = Instant::now();
    tokio::task::block_in_place(|| postgres.start_again());
    let up_again = Instant::now();

    // Recovery without a restart: the same server writes, reads and is ready again.
    for (kind, status) in [(Kind::Write, 201), (Kind::Read, 200), (Kind::Ready, 200)] {
        wait_for(
            &samples,
            Duration::from_secs(30),
            &format!("{kind:?} {status} after the outage"),
            |s| s.kind == kind && s.sent >= up_again && s.status == Ok(status),
        )
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap());

    // None hung, and none broke off: every request got an answer.
    let unanswered: Vec<_> = samples.iter().filter(|s| s.status.is_err()).collect();
    assert!(
        unanswered.is_empty(),
        "requests without an answer: {unanswered:#?}"
    );
    // Before, during and after: served, or refused for the outage; never an internal error.
    for sample in &samples {
        let served = match sample.kind {
            Kind::Write => 201,
            _ => 200,
        };
        let status = sample.status.clone().unwrap_or_default();
        assert!(
            status == served || (status == 503 && sample.kind != Kind::Health),
            "{sample:#?}"
        );
    }

    // While it was down: every request answered within the bound, those that
    // need the database with a 503 problem+json and `Retry-After`.
    let while_down: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.sent >= down_from && s.answered <= down_until)
        .collect();
    for kind in [Kind::Write, Kind::Read, Kind::Ready, Kind::Health] {
        let n = while_down.iter().filter(|s| s.kind == kind).count();
        assert!(n >= 5, "only {n} {kind:?} requests during the outage");
    }
    for sample in &while_down {
        assert!(
            sample.took() <= ANSWER_WITHIN,
            "answered after {:?}: {sample:#?}",
            sample.took()
        );
        // `/readyz` may repeat the database's last answer for a second.
        let cached_readiness =
            sample.kind == Kind::Ready && sample.sent < down_from + Duration::from_secs(1);
        match sample.kind {
            Kind::Health => assert_eq!(sample.status, Ok(200), "{sample:#?}"),
            _ if cached_readiness => {}
            _ => {
                assert_eq!(sample.status, Ok(503), "{sample:#?}");
                assert_eq!(
                    sample.content_type, "application/problem+json",
                    "{sample:#?}"
                );
                assert_eq!(sample.body["status"], 503, "{sample:#?}");
                assert_eq!(
                    sample.body["type"], "urn:chronik:problem:unavailable",
                    "{sample:#?}"
                );
                assert!(sample.retry_after.is_some(), "no Retry-After: {sample:#?}");
            }
        }
    }

    // Every acknowledged write is stored, once; no refused one is.
    let stored = stored_events(&base).await;
    let mut copies: HashMap<&str, usize> = HashMap::new();
    for (_, title) in &stored {
        *copies.entry(title.as_str()).or_default() += 1;
    }
    let duplicated: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "stored more than once: {duplicated:?}"
    );
    let ids: HashSet<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    let writes: Vec<&Sample> = samples.iter().filter(|s| s.kind == Kind::Write).collect();
    let mut acknowledged = 0;
    for write in &writes {
        let title = write.title.as_deref().unwrap();
        match write.status {
            Ok(201) => {
                acknowledged += 1;
                let id = write.body["id"].as_str().unwrap();
                assert!(ids.contains(id), "acknowledged {title} ({id}) is missing");
                assert_eq!(copies.get(title), Some(&1), "{title}");
            }
            Ok(503) => assert_eq!(copies.get(title), None, "refused {title} was stored"),
            _ => panic!("a write neither acknowledged nor refused: {write:#?}"),
        }
    }
    assert_eq!(
        stored.len(),
        acknowledged,
        "stored exactly the acknowledged writes"
    );
    assert!(
        writes.iter().any(|s| s.status == Ok(503)),
        "no write was refused: the outage was not seen"
    );
    drop(handle.stop(false));
}
