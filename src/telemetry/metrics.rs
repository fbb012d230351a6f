//! The metrics Chronik keeps, through the `metrics` facade, and the
//! Prometheus recorder that keeps them (`GET /metrics` renders it).
//!
//! Every name is declared here, with its help text, and recorded only
//! through the functions below, so that the list in docs/operations.md can
//! be checked against one place. This module imports nothing from the rest
//! of the crate: any layer may record.
//!
//! The facade has one recorder per process, so the counters are the
//! process's: one server per process in production. (Tests run several in
//! one process; they share the counters.)

use ::metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

pub const HTTP_REQUESTS: &str = "chronik_http_requests_total";
pub const HTTP_DURATION: &str = "chronik_http_request_duration_seconds";
pub const HTTP_UNAVAILABLE: &str = "chronik_http_unavailable_total";
pub const DB_ERRORS: &str = "chronik_db_errors_total";
pub const POOL_MAX: &str = "chronik_db_pool_max_connections";
pub const POOL_OPEN: &str = "chronik_db_pool_connections";
pub const POOL_IN_USE: &str = "chronik_db_pool_in_use";
pub const POOL_WAITING: &str = "chronik_db_pool_waiting";
pub const EXPORTS_RUNNING: &str = "chronik_exports_running";
pub const EXPORTED_EVENTS: &str = "chronik_exported_events_total";
pub const EXPORTS_ENDED: &str = "chronik_exports_ended_total";
pub const IMPORTS_RUNNING: &str = "chronik_imports_running";
pub const IMPORTED_EVENTS: &str = "chronik_imported_events_total";
pub const LIVE_STREAMS: &str = "chronik_live_streams_open";
pub const DB_READS: &str = "chronik_db_reads_total";

/// Upper bounds of the request latency buckets, in seconds: from a read by
/// id (a millisecond) to an export or a live stream (minutes).
const DURATION_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// How often histograms are drained into their buckets. The recorder's own
/// HTTP listener would do it; without it, samples would pile up between
/// scrapes (or for ever, if nothing scrapes).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// The process's Prometheus recorder, installed by the first call.
/// An error if another recorder was installed first (by a program that
/// embeds Chronik): its metrics are then not Chronik's to serve.
pub fn install() -> Result<PrometheusHandle, String> {
    RECORDER.get_or_init(install_once).clone()
}

fn install_once() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &DURATION_BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("installing the metrics recorder: {e}"))?;
    describe();
    // The series without labels are there from the start: a dashboard shows
    // "no import running", not "no data". (Labelled ones come with their first count.)
    for running in [EXPORTS_RUNNING, IMPORTS_RUNNING, LIVE_STREAMS] {
        gauge!(running).set(0.0);
    }
    for events in [EXPORTED_EVENTS, IMPORTED_EVENTS] {
        counter!(events).increment(0);
    }
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        })
        .map_err(|e| format!("starting the metrics upkeep thread: {e}"))?;
    Ok(handle)
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "Responses, by route template (the matched pattern, `unmatched` for none), method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time from a request's arrival until its response was sent whole (a stream's: until it closed), by route template and method"
    );
    describe_counter!(
        HTTP_UNAVAILABLE,
        "503 responses, by cause: database_unreachable, timeout, pool_wait, exports_full, imports_full, write_collision, other"
    );
    describe_counter!(
        DB_ERRORS,
        "Errors from the database or while getting a connection to it, by kind"
    );
    describe_gauge!(
        POOL_MAX,
        "Most connections a pool opens (requests: all HTTP workers' pools together)"
    );
    describe_gauge!(POOL_OPEN, "Connections a pool holds open now");
    describe_gauge!(POOL_IN_USE, "Connections of a pool handed out now");
    describe_gauge!(POOL_WAITING, "Tasks waiting for a connection of a pool now");
    describe_gauge!(EXPORTS_RUNNING, "Streamed exports running now");
    describe_counter!(EXPORTED_EVENTS, "Events sent by streamed exports");
    describe_counter!(
        EXPORTS_ENDED,
        "Streamed exports that ended, by outcome: complete, client_gone, stalled, max_duration, failed"
    );
    describe_gauge!(IMPORTS_RUNNING, "Imports (POST /v1/import) running now");
    describe_counter!(
        IMPORTED_EVENTS,
        "Events written by imports, counted as each batch is written (an import rolled back later included)"
    );
    describe_gauge!(LIVE_STREAMS, "Live streams (server-sent events) open now");
    describe_counter!(
        DB_READS,
        "Reads that may go to a standby (DATABASE_READ_URL), by the server that served them and why"
    );
}

/// One response: its route template, method and status, and how long it took.
pub fn http_request(route: String, method: &'static str, status: u16, seconds: f64) {
    counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    ::metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method).record(seconds);
}

/// A `503`, and why.
pub fn unavailable(cause: &'static str) {
    counter!(HTTP_UNAVAILABLE, "cause" => cause).increment(1);
}

/// A database error of `kind` (`statement_timeout`, `pool_wait_timeout`, `unique_violation`, …).
pub fn db_error(kind: &'static str) {
    counter!(DB_ERRORS, "kind" => kind).increment(1);
}

/// A read that may go to a standby was served by `served_by` (`replica`,
/// `primary`) because of `reason` (`replica`, `behind`, `down`).
pub fn db_read(served_by: &'static str, reason: &'static str) {
    counter!(DB_READS, "served_by" => served_by, "reason" => reason).increment(1);
}

/// What a pool looks like now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolSample {
    pub max: usize,
    pub open: usize,
    pub in_use: usize,
    pub waiting: usize,
}

/// Sets the gauges of the pool named `pool` (`requests`, `exports`, …).
pub fn pool(pool: &'static str, sample: PoolSample) {
    for (name, value) in [
        (POOL_MAX, sample.max),
        (POOL_OPEN, sample.open),
        (POOL_IN_USE, sample.in_use),
        (POOL_WAITING, sample.waiting),
    ] {
        #[allow(clippy::cast_precision_loss)] // Connection counts are far below 2^52.
        gauge!(name, "pool" => pool).set(value as f64);
    }
}

/// `n` more events sent by an export.
pub fn exported(n: usize) {
    counter!(EXPORTED_EVENTS).increment(n as u64);
}

/// An export ended with `outcome`.
pub fn export_ended(outcome: &'static str) {
    counter!(EXPORTS_ENDED, "outcome" => outcome).increment(1);
}

/// `n` more events written by an import.
pub fn imported(n: usize) {
    counter!(IMPORTED_EVENTS).increment(n as u64);
}

/// One more of something running (an export, an import, a live stream) for
/// as long as it lives.
#[derive(Debug)]
pub struct Running(&'static str);

impl Running {
    /// Counts one more in the gauge `name` until dropped.
    pub fn start(name: &'static str) -> Self {
        gauge!(name).increment(1.0);
        Self(name)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        gauge!(self.0).decrement(1.0);
    }
}

/// The method as a label: one of the methods HTTP defines, or `other`, so
/// that made-up methods add no series.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("PATCH"), "PATCH");
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(method_label("get"), "other");
    }
}
