//! Streaming a whole result: a task scans the matching events from one
//! snapshot and hands batches through a bounded channel to the response body,
//! which encodes each batch as the client reads. Memory stays constant
//! whatever the result size; the first bytes leave after the first batch.
//!
//! Failures before the first batch are ordinary problem+json responses. A
//! failure after that cannot change the status any more: it is logged and the
//! connection is closed without the final chunk, so the client sees an
//! incomplete transfer rather than a silently truncated file.

use actix_web::web::Bytes;
use actix_web::{HttpResponse, HttpResponseBuilder};
use futures_util::StreamExt as _;
use futures_util::stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::encoder::EventEncoder;
use crate::auth::Caller;
use crate::bulk::Slot;
use crate::db::events::{self as store, ScanError};
use crate::error::ApiError;
use crate::filter::{EventFilter, SortOrder};
use crate::models::event::StoredEvent;
use crate::state::AppState;
use crate::telemetry::metrics;
use crate::telemetry::rows::Rows;

/// Batches in flight between the scan and the response body.
const CHANNEL_BATCHES: usize = 1;

/// Responds to `client` with every event matching `filter`, encoded by
/// `encoder`, counting the events sent in `rows`.
pub async fn respond(
    state: &AppState,
    client: &Caller,
    filter: EventFilter,
    sort: SortOrder,
    mut encoder: Box<dyn EventEncoder>,
    mut builder: HttpResponseBuilder,
    rows: Rows,
) -> Result<HttpResponse, ApiError> {
    let slot = state.exports.acquire(client).await?;
    let (sender, mut batches) = mpsc::channel::<Vec<StoredEvent>>(CHANNEL_BATCHES);
    let scan: JoinHandle<Result<(), ScanError>> =
        tokio::spawn(scan_into(slot, filter, sort, sender));
    let Some(first) = batches.recv().await else {
        return Err(match scan.await {
            Ok(Err(ScanError::Failed(err))) => err,
            // Its first statements alone took the whole time an export may run.
            Ok(Err(ScanError::Expired)) => ApiError::TimedOut,
            _ => ApiError::internal(anyhow::anyhow!("the export ended before its first batch")),
        });
    };
    let mut head = encoder.head();
    head.extend(encoder.events(&first)?);
    sent(&rows, first.len());
    let rest = stream::unfold(Some((batches, scan, encoder, rows)), next_chunk);
    Ok(builder.streaming(stream::once(async { Ok(Bytes::from(head)) }).chain(rest)))
}

/// Runs the export's scan on `slot`, which it keeps, permit and all, until
/// the scan ends. (An `async move` block naming only `slot.conn` would
/// capture that field alone, giving the permit back when the response starts.)
async fn scan_into(
    mut slot: Slot,
    filter: EventFilter,
    sort: SortOrder,
    sender: mpsc::Sender<Vec<StoredEvent>>,
) -> Result<(), ScanError> {
    let result = store::scan(&mut slot.conn, &filter, sort, &sender, slot.deadline).await;
    let outcome = match &result {
        Ok(()) => "complete",
        Err(ScanError::Closed) => {
            tracing::debug!("export ended: the client went away");
            "client_gone"
        }
        Err(ScanError::Stalled) => {
            tracing::warn!("export ended: the client read nothing for too long");
            "stalled"
        }
        Err(ScanError::Expired) => {
            tracing::warn!("export ended: it ran longer than CHRONIK_EXPORT_MAX_DURATION");
            "max_duration"
        }
        Err(ScanError::Failed(_)) => "failed",
    };
    metrics::export_ended(outcome);
    result
}

/// `n` more events went into an export's body.
fn sent(rows: &Rows, n: usize) {
    rows.add(n);
    metrics::exported(n);
}

type Streaming = (
    mpsc::Receiver<Vec<StoredEvent>>,
    JoinHandle<Result<(), ScanError>>,
    Box<dyn EventEncoder>,
    Rows,
);

/// The next piece of the body: a batch, the tail once the scan has finished
/// cleanly, or an error that cuts the response short.
async fn next_chunk(
    state: Option<Streaming>,
) -> Option<(Result<Bytes, std::io::Error>, Option<Streaming>)> {
    let (mut batches, scan, mut encoder, rows) = state?;
    match batches.recv().await {
        Some(events) => match encoder.events(&events) {
            Ok(bytes) => {
                sent(&rows, events.len());
                Some((Ok(Bytes::from(bytes)), Some((batches, scan, encoder, rows))))
            }
            Err(err) => Some((Err(cut_short(&err.to_string())), None)),
        },
        None => match scan.await {
            Ok(Ok(())) => Some((Ok(Bytes::from(encoder.tail())), None)),
            Ok(Err(ScanError::Failed(err))) => Some((Err(cut_short(&describe(&err))), None)),
            Ok(Err(ScanError::Expired)) => Some((
                Err(cut_short("it ran longer than CHRONIK_EXPORT_MAX_DURATION")),
                None,
            )),
            Ok(Err(_)) => Some((Err(cut_short("the scan stopped")), None)),
            Err(err) => Some((Err(cut_short(&err.to_string())), None)),
        },
    }
}

/// The error with its causes, for the log (no backtrace).
fn describe(err: &ApiError) -> String {
    match err {
        ApiError::Internal(cause) => format!("{cause:#}"),
        other => other.to_string(),
    }
}

fn cut_short(reason: &str) -> std::io::Error {
    tracing::error!(
        reason,
        "export failed after the response started; closing it unfinished"
    );
    std::io::Error::other(format!("export failed: {reason}"))
}
