//! One client's stream: what it missed (read from the feed), then what its
//! group broadcasts, with heartbeats, until the client goes or falls too far
//! behind.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};
use tokio::sync::watch;
use tokio::time::{Interval, MissedTickBehavior};

use super::pace::Listener;
use super::{Batch, Group, Slot, message};
use crate::db::{self, DbPool};
use crate::error::ApiError;
use crate::filter::EventFilter;
use crate::models::change::FeedPosition;

/// Entries per feed read while a stream catches up.
const CATCH_UP_PAGE: i64 = 500;
/// Most waiting batches one write to the client gathers.
const MAX_BATCHES_PER_CHUNK: usize = 64;

/// What a stream starts from.
pub struct StreamStart {
    /// Connections for catching up (the request's worker's pool).
    pub pool: DbPool,
    pub filter: Option<EventFilter>,
    pub group: Arc<Group>,
    /// The position after which the client wants every change.
    pub after: FeedPosition,
    pub heartbeat: Option<Duration>,
    pub retry_ms: u32,
    pub slot: Slot,
    /// Changes to `true` when the server shuts down.
    pub closing: watch::Receiver<bool>,
}

enum Phase {
    Hello,
    CatchUp,
    Live,
    Done,
}

struct State {
    start: StreamStart,
    receiver: broadcast::Receiver<Arc<Batch>>,
    /// Everything up to here was sent (or did not concern the stream).
    at: FeedPosition,
    phase: Phase,
    heartbeat: Option<Interval>,
    /// Counts the stream in its group's audience while it is live.
    listener: Option<Listener>,
}

/// The SSE body of a stream.
pub fn sse(start: StreamStart) -> impl Stream<Item = Result<Bytes, ApiError>> {
    let heartbeat = start.heartbeat.map(|every| {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
    let state = State {
        receiver: start.group.subscribe(),
        at: start.after,
        start,
        phase: Phase::Hello,
        heartbeat,
        listener: None,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        let chunk = state.next_chunk().await?;
        Some((Ok(chunk), state))
    })
}

impl State {
    /// The next bytes to send; `None` ends the stream.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if !matches!(self.phase, Phase::Live) {
                self.listener = None;
            }
            match self.phase {
                Phase::Hello => {
                    self.phase = Phase::CatchUp;
                    return Some(Bytes::from(format!(
                        "retry: {}\n: changes after {}\n\n",
                        self.start.retry_ms, self.at
                    )));
                }
                Phase::CatchUp => match self.catch_up().await {
                    Ok(Some(chunk)) => return Some(chunk),
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "a stream could not catch up; ending it");
                        self.phase = Phase::Done;
                        return Some(self.resume("the server could not read the change feed"));
                    }
                },
                Phase::Live => {
                    if let Some(chunk) = self.live().await {
                        return Some(chunk);
                    }
                }
                Phase::Done => return None,
            }
        }
    }

    /// One page of what the client missed; switches to live once caught up.
    async fn catch_up(&mut self) -> Result<Option<Bytes>, ApiError> {
        let mut conn = self.start.pool.get().await?;
        let page = db::changes::read(
            &mut conn,
            self.start.filter.as_ref(),
            self.at,
            CATCH_UP_PAGE,
            None,
        )
        .await?;
        let mut chunk = Vec::new();
        for entry in &page.entries {
            chunk.extend_from_slice(&message(entry)?);
        }
        self.at = page.next;
        if !page.has_more {
            // Batches broadcast while this stream caught up are behind it;
            // listening afresh keeps them from counting as falling behind.
            self.receiver = self.start.group.subscribe();
            self.phase = Phase::Live;
            self.listener = Some(self.start.group.listen());
        }
        Ok((!chunk.is_empty()).then(|| Bytes::from(chunk)))
    }

    /// The next broadcast batch (what the client has not seen of it), or a
    /// heartbeat; `None` when nothing is to be sent yet.
    async fn live(&mut self) -> Option<Bytes> {
        if *self.start.closing.borrow() {
            self.phase = Phase::Done;
            return Some(self.resume("the server is shutting down; reconnect"));
        }
        let heartbeat = async {
            match &mut self.heartbeat {
                Some(heartbeat) => heartbeat.tick().await,
                None => std::future::pending().await,
            }
        };
        let received = tokio::select! {
            received = self.receiver.recv() => received,
            _ = heartbeat => return Some(Bytes::from_static(b": heartbeat\n\n")),
            changed = self.start.closing.changed() => {
                if changed.is_err() {
                    // No hub to say so any more: the server is gone.
                    self.phase = Phase::Done;
                    return Some(self.resume("the server is shutting down; reconnect"));
                }
                return None;
            }
        };
        let first = match received {
            Ok(batch) => batch,
            Err(RecvError::Lagged(_)) => {
                self.phase = Phase::Done;
                return Some(self.resume("the client read too slowly"));
            }
            Err(RecvError::Closed) => {
                self.phase = Phase::Done;
                return Some(self.resume("the server is closing the stream"));
            }
        };
        // Whatever else is waiting goes out with it, in one write: a
        // stream that fell behind catches up in fewer, larger chunks.
        let mut batches = vec![first];
        while batches.len() < MAX_BATCHES_PER_CHUNK {
            match self.receiver.try_recv() {
                Ok(batch) => batches.push(batch),
                Err(TryRecvError::Lagged(_)) => {
                    self.phase = Phase::Done;
                    return Some(self.resume("the client read too slowly"));
                }
                Err(_) => break,
            }
        }
        self.take(&batches)
    }

    /// The messages of `batches` this stream has not had, as one chunk.
    fn take(&mut self, batches: &[Arc<Batch>]) -> Option<Bytes> {
        for batch in batches {
            batch.delivery.taken();
        }
        // The common case, a stream keeping up: the batch as written, uncopied.
        if let [batch] = batches
            && batch.from == self.at
        {
            self.at = batch.next;
            return (!batch.joined.is_empty()).then(|| batch.joined.clone());
        }
        let mut chunk = Vec::new();
        for batch in batches {
            if batch.next <= self.at {
                continue;
            }
            if batch.from > self.at {
                // The group read past where this stream is (a batch went out
                // before this stream listened): read the gap from the feed.
                self.phase = Phase::CatchUp;
                break;
            }
            for (position, message) in &batch.messages {
                if *position > self.at {
                    chunk.extend_from_slice(message);
                }
            }
            self.at = batch.next;
        }
        (!chunk.is_empty()).then(|| Bytes::from(chunk))
    }

    /// The last message of a stream the server ends: where to resume.
    fn resume(&self, reason: &str) -> Bytes {
        let data = serde_json::json!({"after": self.at.to_string(), "reason": reason});
        Bytes::from(format!("id: {}\nevent: resume\ndata: {data}\n\n", self.at))
    }
}
