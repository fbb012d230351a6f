//! The load client of the benchmark's `live` scenario (bench/scenarios.py,
//! built by bench/run): many concurrent `text/event-stream` clients of
//! `GET /v1/events/stream`, and in `measure` mode a writer posting events
//! at a fixed rate. Prints one JSON object on stdout.
//!
//! `measure`: opens `--clients` streams, waits until each has its first
//! message (`retry:`; a stream without `after` carries only what is
//! committed after it opened), then POSTs `--rate` events per second for
//! `--seconds`, each with `external_id` `<prefix><n>`, and waits up to
//! `--drain` seconds for every stream to have received every posted event.
//! It reports the latency from the writer's `201` to each client's parse
//! of the event's message, what was lost (a posted event a stream never
//! delivered) or duplicated, and the server's memory (`--pid`).
//!
//! `hold`: opens the streams, prints `{"ready": …}` on a line of its own,
//! and reads them until standard input closes (or `--seconds` pass); then
//! prints what they received. The scenario runs wrk's POSTs meanwhile.
//!
//! A stream the server ends (`event: resume`, or a closed connection) is
//! reopened with `Last-Event-ID`, as a browser would, and counted.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};

#[derive(Parser, Debug, Clone)]
struct Args {
    /// `measure` or `hold`.
    #[arg(long, default_value = "measure")]
    mode: String,
    /// The server, e.g. `http://127.0.0.1:18080`.
    #[arg(long)]
    base: String,
    /// The stream's path and query.
    #[arg(long, default_value = "/v1/events/stream")]
    stream: String,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Events per second the writer posts (`measure`).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Seconds of writing (`measure`), or the longest hold (`hold`).
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// Seconds to wait after the last POST for the streams to deliver it.
    #[arg(long, default_value_t = 15.0)]
    drain: f64,
    /// A write token (`measure`).
    #[arg(long, default_value = "")]
    token: String,
    /// A file with the JSON body of a POST, `{{n}}` standing for the event's number.
    #[arg(long)]
    body: Option<String>,
    /// What each posted event's `external_id` starts with (the body must
    /// set `external_id` to this followed by `{{n}}`).
    #[arg(long, default_value = "live-")]
    prefix: String,
    /// The server's process id, whose resident memory is sampled.
    #[arg(long)]
    pid: Option<u32>,
    /// Streams opened at once while connecting.
    #[arg(long, default_value_t = 50)]
    connect_parallel: usize,
}

/// Microseconds since the run's start: one clock for the writer and every client.
struct Clock(Instant);

impl Clock {
    fn now_us(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// What the writer and the clients share.
struct Shared {
    clock: Clock,
    args: Args,
    /// Slots for event numbers (`measure`): how many the clients track.
    capacity: usize,
    /// Per posted event: when its POST answered `201` (µs; 0: not yet or failed).
    committed_us: Vec<AtomicU64>,
    /// Per posted event: when its POST was sent (µs).
    sent_us: Vec<AtomicU64>,
    /// Streams that received their first message.
    opened: AtomicUsize,
    /// Messages received by all streams together (events of this run).
    delivered: AtomicU64,
    stop: watch::Receiver<bool>,
    stopping: AtomicBool,
}

/// What one client saw.
#[derive(Default)]
struct ClientResult {
    /// Per event number: when this client parsed it (µs; `u32::MAX`: never).
    received_us: Vec<u32>,
    messages: u64,
    foreign: u64,
    duplicates: u64,
    resumes: u64,
    reconnects: u64,
    errors: Vec<String>,
    heartbeats: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    raise_fd_limit(args.clients + 256)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = runtime.block_on(run(args))?;
    println!("{out}");
    Ok(())
}

/// 1,000 streams need more than the common default of 1,024 descriptors.
fn raise_fd_limit(needed: usize) -> anyhow::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            anyhow::bail!("getrlimit failed");
        }
        let needed = needed as libc::rlim_t;
        if limit.rlim_cur < needed {
            limit.rlim_cur = limit.rlim_max.min(needed.max(4096));
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < needed {
                anyhow::bail!(
                    "cannot open {needed} descriptors (hard limit {}); raise `ulimit -n`",
                    limit.rlim_max
                );
            }
        }
    }
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<Value> {
    let measure = match args.mode.as_str() {
        "measure" => true,
        "hold" => false,
        other => anyhow::bail!("--mode is `measure` or `hold`, not `{other}`"),
    };
    let capacity = if measure {
        (args.rate * args.seconds).ceil() as usize + 1
    } else {
        0
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        clock: Clock(Instant::now()),
        capacity,
        committed_us: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
        sent_us: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
        opened: AtomicUsize::new(0),
        delivered: AtomicU64::new(0),
        stop: stop_rx,
        stopping: AtomicBool::new(false),
        args: args.clone(),
    });
    let memory = args.pid.map(Memory::start);
    let rss_before = args.pid.and_then(rss_kib);

    // The streams: one connection each, opened a few at a time.
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(args.connect_parallel.max(1)));
    let mut clients = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let shared = Arc::clone(&shared);
        let permit = Arc::clone(&gate).acquire_owned().await?;
        clients.push(tokio::spawn(client(shared, permit)));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.opened.load(Ordering::Relaxed) < args.clients && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let opened = shared.opened.load(Ordering::Relaxed);
    let connect_seconds = started.elapsed().as_secs_f64();
    let rss_open = args.pid.and_then(rss_kib);
    if opened < args.clients {
        shared.stopping.store(true, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        let mut errors = Vec::new();
        for handle in clients {
            if let Ok(result) = handle.await {
                errors.extend(result.errors);
            }
        }
        errors.truncate(5);
        anyhow::bail!(
            "only {opened} of {} streams opened in 120 s; first errors: {errors:?}",
            args.clients
        );
    }
    // Let the last streams settle into the live phase.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut out = serde_json::Map::new();
    out.insert("clients".into(), json!(args.clients));
    out.insert("connect_seconds".into(), json!(round(connect_seconds, 2)));
    let writer = if measure {
        let writer = write(Arc::clone(&shared)).await?;
        // Until every stream has every committed event, or the drain time is over.
        let committed = shared
            .committed_us
            .iter()
            .filter(|c| c.load(Ordering::Relaxed) > 0)
            .count() as u64;
        let expected = committed * args.clients as u64;
        let drain_until = Instant::now() + Duration::from_secs_f64(args.drain);
        while shared.delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Duplicates arrive late, if at all: a little longer for them.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Some(writer)
    } else {
        println!(
            "{}",
            json!({"ready": opened, "connect_seconds": round(connect_seconds, 2)})
        );
        let until = Instant::now() + Duration::from_secs_f64(args.seconds);
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let stdin = std::io::stdin();
            let mut line = String::new();
            while stdin
                .lock()
                .read_line(&mut line)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                line.clear();
            }
        });
        tokio::select! {
            _ = stdin_closed => {},
            () = tokio::time::sleep_until(until.into()) => {},
        }
        None
    };
    shared.stopping.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    let mut results = Vec::with_capacity(clients.len());
    for handle in clients {
        results.push(handle.await?);
    }
    let rss_end = args.pid.and_then(rss_kib);
    let peak = match memory {
        Some(memory) => Some(memory.stop().await),
        None => None,
    };

    let sum = |f: fn(&ClientResult) -> u64| results.iter().map(f).sum::<u64>();
    let mut errors: Vec<String> = results.iter().flat_map(|r| r.errors.clone()).collect();
    let error_count = errors.len();
    errors.sort();
    errors.dedup();
    errors.truncate(10);
    out.insert(
        "streams".into(),
        json!({
            "messages": sum(|r| r.messages),
            "foreign_messages": sum(|r| r.foreign),
            "heartbeats": sum(|r| r.heartbeats),
            "resumes": sum(|r| r.resumes),
            "reconnects": sum(|r| r.reconnects),
            "errors": error_count,
            "error_samples": errors,
        }),
    );
    let mib = |kib: Option<u64>| kib.map(|k| round(k as f64 / 1024.0, 1));
    if args.pid.is_some() {
        out.insert(
            "server_rss_mb".into(),
            json!({
                "before": mib(rss_before),
                "streams_open": mib(rss_open),
                "peak": mib(peak),
                "end": mib(rss_end),
                "growth": match (rss_before, peak) {
                    (Some(b), Some(p)) => json!(round(p.saturating_sub(b) as f64 / 1024.0, 1)),
                    _ => Value::Null,
                },
            }),
        );
    }
    if let Some(writer) = writer {
        out.insert("writer".into(), writer);
        out.insert("delivery".into(), delivery(&shared, &results));
    }
    Ok(Value::Object(out))
}

/// Lost and duplicated messages and the commit-to-delivery latencies: from
/// the writer's `201` (the commit happened before it, so a delivery can come
/// first: `before_201`), and from the moment the POST was sent (the commit
/// happened after it): the commit-to-delivery latency lies between the two.
fn delivery(shared: &Shared, results: &[ClientResult]) -> Value {
    let load =
        |v: &[AtomicU64]| -> Vec<u64> { v.iter().map(|c| c.load(Ordering::Relaxed)).collect() };
    let committed = load(&shared.committed_us);
    let sent = load(&shared.sent_us);
    let mut latencies: Vec<i64> = Vec::new();
    let mut from_send: Vec<i64> = Vec::new();
    let (mut lost, mut unposted, mut before_201) = (0u64, 0u64, 0u64);
    let mut lost_clients = 0u64;
    for result in results {
        let mut missed = false;
        for (n, &at) in committed.iter().enumerate() {
            let got = result.received_us.get(n).copied().unwrap_or(u32::MAX);
            match (at, got) {
                (0, u32::MAX) => {}
                (0, _) => unposted += 1,
                (_, u32::MAX) => {
                    lost += 1;
                    missed = true;
                }
                (at, got) => {
                    let latency = i64::from(got) - at as i64;
                    let sent_at = sent.get(n).copied().unwrap_or(at);
                    from_send.push(i64::from(got) - sent_at as i64);
                    if latency < 0 {
                        before_201 += 1;
                    }
                    latencies.push(latency);
                }
            }
        }
        lost_clients += u64::from(missed);
    }
    latencies.sort_unstable();
    from_send.sort_unstable();
    let percentiles = |sorted: &[i64]| {
        let ms = |p: f64| {
            if sorted.is_empty() {
                return Value::Null;
            }
            let k = ((p / 100.0 * sorted.len() as f64).round() as usize).clamp(1, sorted.len()) - 1;
            json!(round(
                sorted.get(k).copied().unwrap_or(0) as f64 / 1000.0,
                2
            ))
        };
        json!({"p50": ms(50.0), "p90": ms(90.0), "p99": ms(99.0), "p999": ms(99.9),
               "max": ms(100.0), "min": sorted.first().map(|&l| round(l as f64 / 1000.0, 2))})
    };
    let duplicates: u64 = results.iter().map(|r| r.duplicates).sum();
    json!({
        "deliveries": latencies.len(),
        "expected": committed.iter().filter(|&&c| c > 0).count() as u64 * results.len() as u64,
        "lost": lost,
        "clients_that_lost": lost_clients,
        "duplicates": duplicates,
        "of_failed_posts": unposted,
        "before_201": before_201,
        "latency_ms": percentiles(&latencies),
        "latency_from_send_ms": percentiles(&from_send),
    })
}

/// Posts `rate` events per second for `seconds`; returns the writer's record.
async fn write(shared: Arc<Shared>) -> anyhow::Result<Value> {
    let args = &shared.args;
    let template = std::fs::read_to_string(
        args.body
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("--body is needed to write"))?,
    )?;
    if !template.contains("{{n}}") {
        anyhow::bail!("the body has no {{{{n}}}}");
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()?;
    let url = format!("{}/v1/events", args.base);
    // Enough POSTs in flight for 200/s at 1 s each; more waits.
    let in_flight = Arc::new(Semaphore::new(256));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut posts = Vec::with_capacity(shared.capacity);
    for n in 0..shared.capacity.saturating_sub(1) {
        ticker.tick().await;
        let permit = Arc::clone(&in_flight).acquire_owned().await?;
        let request = http
            .post(&url)
            .bearer_auth(&args.token)
            .header("content-type", "application/json")
            .body(template.replace("{{n}}", &n.to_string()));
        let shared = Arc::clone(&shared);
        posts.push(tokio::spawn(async move {
            let sent = shared.clock.now_us();
            if let Some(slot) = shared.sent_us.get(n) {
                slot.store(sent, Ordering::Relaxed);
            }
            let outcome = match request.send().await {
                Ok(response) if response.status() == 201 => {
                    let at = shared.clock.now_us().max(1);
                    if let Some(slot) = shared.committed_us.get(n) {
                        slot.store(at, Ordering::Relaxed);
                    }
                    Ok(at - sent)
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    Err(format!(
                        "{status}: {}",
                        text.chars().take(200).collect::<String>()
                    ))
                }
                Err(err) => Err(err.to_string()),
            };
            drop(permit);
            outcome
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for post in posts {
        match post.await? {
            Ok(us) => latencies.push(us),
            Err(err) => errors.push(err),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pick = |p: f64| {
        let k = ((p / 100.0 * latencies.len() as f64).round() as usize)
            .clamp(1, latencies.len().max(1))
            - 1;
        latencies.get(k).map(|&us| round(us as f64 / 1000.0, 2))
    };
    let error_count = errors.len();
    errors.dedup();
    errors.truncate(5);
    Ok(json!({
        "posted": latencies.len(),
        "errors": error_count,
        "error_samples": errors,
        "seconds": round(seconds, 2),
        "per_second": round(latencies.len() as f64 / seconds, 1),
        "target_per_second": args.rate,
        "post_p50_ms": pick(50.0),
        "post_p99_ms": pick(99.0),
    }))
}

/// One stream client; reopens its stream where it left off until stopped.
/// It speaks HTTP/1.1 over a plain socket (a request, then the chunked
/// body): the 1,000 clients share two cores with the server and Postgres,
/// and an HTTP client library's per-chunk work showed up as most of theirs.
async fn client(shared: Arc<Shared>, permit: tokio::sync::OwnedSemaphorePermit) -> ClientResult {
    let mut permit = Some(permit);
    let mut result = ClientResult {
        received_us: vec![u32::MAX; shared.capacity],
        ..ClientResult::default()
    };
    let mut stop = shared.stop.clone();
    let address = shared
        .args
        .base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut last_id: Option<String> = None;
    let mut opened = false;
    let mut attempts = 0;
    let mut buffer = vec![0u8; 64 * 1024];
    'streams: while !shared.stopping.load(Ordering::Relaxed) {
        let connection = tokio::select! {
            connection = open_stream(&address, &shared.args.stream, last_id.as_deref()) => connection,
            _ = stop.changed() => break,
        };
        let (mut socket, rest) = match connection {
            Ok(opened) => opened,
            Err(err) => {
                result.errors.push(err.to_string());
                attempts += 1;
                if attempts > 20 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let mut body = Chunked::default();
        let mut parser = SseParser::default();
        let mut now = shared.clock.now_us();
        body.decode(&rest, &mut parser.buffer);
        loop {
            let mut resume = false;
            parser.drain(|message| match message {
                Message::Retry => {
                    if !opened {
                        opened = true;
                        shared.opened.fetch_add(1, Ordering::Relaxed);
                        permit.take();
                    }
                }
                Message::Comment => result.heartbeats += 1,
                Message::Event { id, kind, data } => {
                    if let Some(id) = id {
                        last_id = Some(id.to_owned());
                    }
                    if kind == b"resume" {
                        result.resumes += 1;
                        resume = true;
                        return;
                    }
                    result.messages += 1;
                    let slot = event_number(data, shared.args.prefix.as_bytes())
                        .and_then(|n| result.received_us.get_mut(n));
                    match slot {
                        Some(slot) if *slot == u32::MAX => {
                            *slot = u32::try_from(now).unwrap_or(u32::MAX - 1);
                            shared.delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(_) => result.duplicates += 1,
                        None => result.foreign += 1,
                    }
                }
            });
            if resume || body.done {
                break;
            }
            let read = tokio::select! {
                read = socket.read(&mut buffer) => read,
                _ = stop.changed() => break 'streams,
            };
            match read {
                Ok(0) => break,
                Ok(n) => {
                    now = shared.clock.now_us();
                    body.decode(buffer.get(..n).unwrap_or_default(), &mut parser.buffer);
                }
                Err(err) => {
                    result.errors.push(format!("read: {err}"));
                    break;
                }
            }
        }
        // The server ended the stream: reopen it where it left off.
        if shared.stopping.load(Ordering::Relaxed) {
            break;
        }
        result.reconnects += 1;
    }
    result
}

/// Sends the stream's request; returns the socket and what was read past
/// the response's head, once the head says `200` with a chunked body.
async fn open_stream(
    address: &str,
    path: &str,
    last_id: Option<&str>,
) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    let mut socket = TcpStream::connect(address).await?;
    socket.set_nodelay(true)?;
    let resume = last_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
    socket
        .write_all(
            format!(
                "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n{resume}\r\n"
            )
            .as_bytes(),
        )
        .await?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    let end = loop {
        let n = socket.read(&mut buffer).await?;
        if n == 0 {
            anyhow::bail!("the server closed the connection before answering");
        }
        head.extend_from_slice(buffer.get(..n).unwrap_or_default());
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > 64 * 1024 {
            anyhow::bail!("the response's head is too long");
        }
    };
    let (head, rest) = head.split_at(end);
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let status = text.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        let body = String::from_utf8_lossy(rest);
        anyhow::bail!("{status}: {}", body.chars().take(160).collect::<String>());
    }
    if !text.contains("transfer-encoding: chunked") {
        anyhow::bail!("the stream's body is not chunked");
    }
    Ok((socket, rest.to_vec()))
}

/// Decodes a `Transfer-Encoding: chunked` body, appending its data to `out`.
#[derive(Default)]
struct Chunked {
    /// Bytes of the current chunk still to come.
    remaining: usize,
    /// Bytes of the CRLF after a chunk still to skip.
    skip: usize,
    /// A chunk-size line read in part.
    line: Vec<u8>,
    /// The last chunk (size 0) was read.
    done: bool,
}

impl Chunked {
    fn decode(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() && !self.done {
            if self.skip > 0 {
                let (_, rest) = input.split_at(self.skip.min(input.len()));
                self.skip -= input.len() - rest.len();
                input = rest;
            } else if self.remaining > 0 {
                let (data, rest) = input.split_at(self.remaining.min(input.len()));
                out.extend_from_slice(data);
                self.remaining -= data.len();
                if self.remaining == 0 {
                    self.skip = 2;
                }
                input = rest;
            } else {
                match input.iter().position(|&b| b == b'\n') {
                    None => {
                        self.line.extend_from_slice(input);
                        input = &[];
                    }
                    Some(i) => {
                        let (line, rest) = input.split_at(i + 1);
                        self.line.extend_from_slice(line);
                        input = rest;
                        let text = String::from_utf8_lossy(&self.line);
                        let hex = text.split(';').next().unwrap_or("").trim();
                        let size = usize::from_str_radix(hex, 16).unwrap_or(0);
                        self.line.clear();
                        if size == 0 {
                            self.done = true;
                        } else {
                            self.remaining = size;
                        }
                    }
                }
            }
        }
    }
}

/// What the parser hands over.
enum Message<'a> {
    Retry,
    Comment,
    Event {
        id: Option<&'a str>,
        kind: &'a [u8],
        data: &'a [u8],
    },
}

/// An incremental `text/event-stream` parser (lines end with `\n`).
#[derive(Default)]
struct SseParser {
    buffer: Vec<u8>,
}

impl SseParser {
    #[cfg(test)]
    fn feed(&mut self, chunk: &[u8], on: impl FnMut(Message<'_>)) {
        self.buffer.extend_from_slice(chunk);
        self.drain(on);
    }

    /// Hands over every whole message in the buffer and drops it.
    fn drain(&mut self, mut on: impl FnMut(Message<'_>)) {
        let mut start = 0;
        // Each message ends with an empty line.
        while let Some(end) = find_blank_line(self.buffer.get(start..).unwrap_or_default()) {
            let block = self.buffer.get(start..start + end).unwrap_or_default();
            let (mut id, mut kind, mut data): (Option<&str>, &[u8], Option<&[u8]>) =
                (None, b"message", None);
            let mut retry = false;
            let mut comment = false;
            for line in lines(block) {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.first() == Some(&b':') {
                    comment = true;
                } else if let Some(v) = field(line, b"id") {
                    id = std::str::from_utf8(v).ok();
                } else if let Some(v) = field(line, b"event") {
                    kind = v;
                } else if let Some(v) = field(line, b"data") {
                    data = Some(v);
                } else if field(line, b"retry").is_some() {
                    retry = true;
                }
            }
            if retry {
                on(Message::Retry);
            }
            match data {
                Some(data) => on(Message::Event { id, kind, data }),
                None if comment && !retry => on(Message::Comment),
                None => {}
            }
            start += end + 2;
        }
        self.buffer.drain(..start);
    }
}

/// The value of `name: value` (or `name:value`).
fn field<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = line.strip_prefix(name)?.strip_prefix(b":")?;
    Some(rest.strip_prefix(b" ").unwrap_or(rest))
}

/// Where the first `\n\n` starts. memchr's searches: the client reads the
/// same bytes the server writes on the same two cores, so its scanning
/// must cost little next to the server's work.
fn find_blank_line(bytes: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes, b"\n\n")
}

/// The lines of a message (it holds no blank line).
fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(block);
    std::iter::from_fn(move || {
        let bytes = rest?;
        match memchr::memchr(b'\n', bytes) {
            Some(i) => {
                rest = bytes.get(i + 1..);
                bytes.get(..i)
            }
            None => rest.take(),
        }
    })
}

/// `n` of an entry whose `external_id` is `<prefix><n>`: the entry's own
/// fields come before its snapshot, so the first match is the entry's.
fn event_number(data: &[u8], prefix: &[u8]) -> Option<usize> {
    let key = b"\"external_id\":\"";
    let at = memchr::memmem::find(data, key)? + key.len();
    let value = data.get(at..)?.strip_prefix(prefix)?;
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(value.get(..digits)?).ok()?.parse().ok()
}

/// The server's resident memory, sampled every 50 ms while the run lasts.
struct Memory {
    handle: tokio::task::JoinHandle<u64>,
    done: Arc<AtomicBool>,
}

impl Memory {
    fn start(pid: u32) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        let handle = tokio::spawn(async move {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    peak = peak.max(kib);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        });
        Self { handle, done }
    }

    async fn stop(self) -> u64 {
        self.done.store(true, Ordering::Relaxed);
        self.handle.await.unwrap_or(0)
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_across_chunks_are_parsed_once() {
        let text = "retry: 3000\n: changes after 5-0\n\nid: 7-1\nevent: created\ndata: {\"cursor\":\"7-1\",\"external_id\":\"live-12\",\"event\":{\"external_id\":\"live-99\"}}\n\n: heartbeat\n\nid: 7-1\nevent: resume\ndata: {\"after\":\"7-1\"}\n\n";
        for split in 1..text.len() {
            let (a, b) = text.as_bytes().split_at(split);
            let mut parser = SseParser::default();
            let mut seen = Vec::new();
            for part in [a, b] {
                parser.feed(part, |m| {
                    seen.push(match m {
                        Message::Retry => "retry".to_owned(),
                        Message::Comment => "comment".to_owned(),
                        Message::Event { id, kind, data } => format!(
                            "{} {} {:?}",
                            id.unwrap_or("-"),
                            String::from_utf8_lossy(kind),
                            event_number(data, b"live-")
                        ),
                    });
                });
            }
            assert_eq!(
                seen,
                [
                    "retry",
                    "7-1 created Some(12)",
                    "comment",
                    "7-1 resume None"
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn a_chunked_body_decodes_whatever_the_reads() {
        let body = b"a\r\nretry: 1\n\n\r\n5;x=y\r\n: hi\n\r\n0\r\n\r\n";
        for size in 1..body.len() {
            let mut chunked = Chunked::default();
            let mut out = Vec::new();
            for part in body.chunks(size) {
                chunked.decode(part, &mut out);
            }
            assert_eq!(out, b"retry: 1\n\n: hi\n", "reads of {size}");
            assert!(chunked.done);
        }
    }
}
