//! Live streams: server-sent events on top of the change feed.
//!
//! One [`listener`] per instance holds a `LISTEN chronik_changes`
//! connection; after every write that commits, the instance that made it
//! [`notify`]s them all. A notification only wakes the readers: the changes
//! themselves are always read from the feed, so a lost notification (or a
//! listener reconnecting after a Postgres restart) delays delivery and never
//! loses a change. Streams with the same filter share one [`Group`], which
//! reads the feed once per wake-up and broadcasts the entries, already
//! written as SSE messages, to every stream of the filter.

pub mod listener;
pub mod notify;
mod pace;
pub mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix_web::web::Bytes;
use dashmap::DashMap;
use tokio::sync::{broadcast, watch};

pub use crate::config::StreamConfig;
use crate::db::{self, DbPool};
use crate::error::ApiError;
use crate::filter::EventFilter;
use crate::models::change::{ChangeEntry, FeedPosition};

/// Entries per feed read of a group, and so per broadcast batch: a group
/// keeps at most `CHRONIK_STREAM_BUFFER` batches, which bounds its memory.
const GROUP_PAGE: i64 = 100;
/// How soon a group reads again while committed changes wait behind a
/// transaction still running (it cannot know when that one ends), doubling
/// up to the longest while the transaction runs on.
const HELD_BACK_RETRY: Duration = Duration::from_millis(10);
const HELD_BACK_RETRY_MAX: Duration = Duration::from_secs(1);
/// How long a group waits before reading again after a database error.
const ERROR_RETRY: Duration = Duration::from_millis(500);

/// A batch of entries for the streams of one filter: the position it was
/// read after, each entry's position and SSE message, and the position the
/// batch reaches (everything up to it was read).
#[derive(Debug)]
pub struct Batch {
    pub from: FeedPosition,
    pub messages: Vec<(FeedPosition, Bytes)>,
    /// Every message, one after the other: what a stream that is keeping up sends.
    pub joined: Bytes,
    pub next: FeedPosition,
    /// How it reaches the streams, which paces the group's reads.
    pub delivery: pace::Delivery,
}

/// The streams of one filter: what the group's reader broadcasts to them.
pub struct Group {
    sender: broadcast::Sender<Arc<Batch>>,
    audience: Arc<pace::Audience>,
}

impl Group {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.sender.subscribe()
    }

    /// Counts a stream among those reading batches, until the guard drops.
    pub fn listen(&self) -> pace::Listener {
        self.audience.join()
    }
}

/// Each instance's live streams: the wake-up signal, the groups, and the
/// count of streams per client.
pub struct Hub {
    pool: DbPool,
    wake: watch::Sender<u64>,
    /// Set when the server begins to shut down: streams end, so that it need not wait for them.
    closing: watch::Sender<bool>,
    groups: Mutex<HashMap<String, Weak<Group>>>,
    open: DashMap<String, usize>,
    /// Asks for a `NOTIFY` to the other instances ([`notify`]).
    announce: Arc<tokio::sync::Notify>,
    pub config: StreamConfig,
}

impl Drop for Hub {
    fn drop(&mut self) {
        // The notifying task sees the hub gone and ends.
        self.announce.notify_one();
    }
}

impl Hub {
    /// A hub reading the feed on `pool`; [`listener::spawn`] wakes it.
    pub fn new(pool: DbPool, config: StreamConfig) -> Arc<Self> {
        Arc::new_cyclic(|hub| Self {
            announce: notify::spawn(hub.clone(), pool.clone()),
            pool,
            wake: watch::channel(0).0,
            closing: watch::channel(false).0,
            groups: Mutex::default(),
            open: DashMap::new(),
            config,
        })
    }

    /// A write of this instance has committed: wakes its streams now, and
    /// the other instances' through a `NOTIFY`.
    pub fn changed(&self) {
        self.wake();
        self.announce.notify_one();
    }

    /// Tells every group to read the feed.
    pub fn wake(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Ends every stream (each with a `resume` message): the server is
    /// shutting down, and its clients should reconnect, to another instance.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Tells a stream when the server shuts down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// The group of `filter`'s streams, started if none is running.
    pub fn group(self: &Arc<Self>, filter: Option<&EventFilter>) -> Result<Arc<Group>, ApiError> {
        let key = format!("{filter:?}");
        let mut groups = self
            .groups
            .lock()
            .map_err(|_| ApiError::internal(anyhow::anyhow!("the stream groups are poisoned")))?;
        if let Some(group) = groups.get(&key).and_then(Weak::upgrade) {
            return Ok(group);
        }
        let group = Arc::new(Group {
            sender: broadcast::channel(self.config.stream_buffer.max(1)).0,
            audience: Arc::default(),
        });
        groups.insert(key.clone(), Arc::downgrade(&group));
        groups.retain(|_, g| g.strong_count() > 0);
        tokio::spawn(read_for(
            Arc::clone(self),
            key,
            filter.cloned(),
            Arc::downgrade(&group),
        ));
        Ok(group)
    }

    /// Counts a stream against its client's caps; the stream is uncounted when the guard drops.
    pub fn admit(self: &Arc<Self>, keys: Vec<(String, Option<usize>)>) -> Result<Slot, ApiError> {
        let mut taken = Vec::new();
        for (key, cap) in keys {
            let mut count = self.open.entry(key.clone()).or_insert(0);
            if cap.is_some_and(|cap| *count >= cap) {
                drop(count);
                drop(Slot {
                    hub: Arc::clone(self),
                    keys: taken,
                });
                return Err(ApiError::TooManyStreams(format!(
                    "this client already has {} streams open ({key}), as many as one may",
                    cap.unwrap_or_default()
                )));
            }
            *count += 1;
            drop(count);
            taken.push(key);
        }
        Ok(Slot {
            hub: Arc::clone(self),
            keys: taken,
        })
    }
}

/// A stream's place in its client's caps.
pub struct Slot {
    hub: Arc<Hub>,
    keys: Vec<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        for key in &self.keys {
            let empty = self.hub.open.get_mut(key).is_some_and(|mut count| {
                *count = count.saturating_sub(1);
                *count == 0
            });
            if empty {
                self.hub.open.remove_if(key, |_, count| *count == 0);
            }
        }
    }
}

/// Closes `hub`'s streams when the process is asked to stop (SIGTERM,
/// Ctrl-C), while the server finishes its other requests: an open stream
/// would otherwise hold the shutdown for its whole timeout.
pub fn close_on_shutdown(hub: &Arc<Hub>) {
    let hub = Arc::downgrade(hub);
    tokio::spawn(async move {
        shutdown_signal().await;
        if let Some(hub) = hub.upgrade() {
            tracing::info!("shutting down: ending the live streams");
            hub.close();
        }
    });
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// An entry as one SSE message: `id` (its cursor), `event` (its kind), `data` (the entry).
pub fn message(entry: &ChangeEntry) -> Result<Bytes, ApiError> {
    let mut out = format!(
        "id: {}\nevent: {}\ndata: ",
        entry.cursor,
        entry.kind.as_str()
    )
    .into_bytes();
    // JSON written by serde_json has no raw newline, so `data` is one line.
    entry.write_json(&mut out).map_err(ApiError::internal)?;
    out.extend_from_slice(b"\n\n");
    Ok(Bytes::from(out))
}

/// A group's reader: from the feed's head when the group started, reads on
/// every wake-up until it has caught up, and broadcasts what it read.
/// Ends when the group's last stream has gone.
async fn read_for(hub: Arc<Hub>, key: String, filter: Option<EventFilter>, group: Weak<Group>) {
    let mut wake = hub.wake.subscribe();
    let mut at = None;
    let mut held_back = HELD_BACK_RETRY;
    let mut last: Option<Arc<Batch>> = None;
    loop {
        let Some(strong) = group.upgrade() else {
            break;
        };
        let started = tokio::time::Instant::now();
        let outcome = read_to_end(&hub, filter.as_ref(), &strong, &mut at, &mut last).await;
        drop(strong);
        let pause = match outcome {
            Ok(true) => {
                held_back = (held_back * 2).min(HELD_BACK_RETRY_MAX);
                Some(held_back / 2)
            }
            Ok(false) => {
                held_back = HELD_BACK_RETRY;
                None
            }
            Err(err) => {
                tracing::warn!(error = %err, "a live stream group could not read the feed; retrying");
                Some(ERROR_RETRY)
            }
        };
        let poll = hub
            .config
            .stream_poll
            .0
            .unwrap_or(Duration::from_secs(3600));
        let wait = pause.unwrap_or(poll).min(poll);
        tokio::select! {
            changed = wake.changed() => if changed.is_err() { break },
            () = tokio::time::sleep(wait) => {},
        }
        // The batch paces only the read after it: an idle group reads at once.
        let interval = match last.take() {
            Some(batch) => batch.delivery.interval().await,
            None => pace::LEAST_INTERVAL,
        };
        tokio::time::sleep_until(started + interval).await;
    }
    if let Ok(mut groups) = hub.groups.lock()
        && groups.get(&key).is_some_and(|g| g.strong_count() == 0)
    {
        groups.remove(&key);
    }
}

/// Reads and broadcasts until the feed has nothing more settled; `last`
/// becomes the last batch sent. Returns whether committed changes wait
/// behind a running transaction.
async fn read_to_end(
    hub: &Hub,
    filter: Option<&EventFilter>,
    group: &Group,
    at: &mut Option<FeedPosition>,
    last: &mut Option<Arc<Batch>>,
) -> Result<bool, ApiError> {
    let mut conn = hub.pool.get().await?;
    let mut from = match *at {
        Some(from) => from,
        None => {
            let head = db::changes::head(&mut conn).await?;
            *at = Some(head);
            head
        }
    };
    loop {
        let page = db::changes::read(&mut conn, filter, from, GROUP_PAGE, None).await?;
        if !page.entries.is_empty() || page.next != from {
            let messages = page
                .entries
                .iter()
                .map(|e| Ok((e.cursor, message(e)?)))
                .collect::<Result<Vec<_>, ApiError>>()?;
            let joined = Bytes::from(
                messages
                    .iter()
                    .flat_map(|(_, m)| m.iter().copied())
                    .collect::<Vec<u8>>(),
            );
            let batch = Arc::new(Batch {
                from,
                messages,
                joined,
                next: page.next,
                delivery: pace::Delivery::start(&group.audience),
            });
            // No stream listening is not an error: one may subscribe before the next batch.
            let _ = group.sender.send(Arc::clone(&batch));
            *last = Some(batch);
        }
        from = page.next;
        *at = Some(from);
        if !page.has_more {
            return db::changes::unsettled_after(&mut conn, from).await;
        }
    }
}
