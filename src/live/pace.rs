//! How often a group reads the feed. Each read becomes one write to every
//! live stream of the group, and those writes (a wake-up, a copy, a system
//! call per stream) cost far more than reading. So a group reads again only
//! after its last batch has reached most of its streams, and waits a few
//! times as long as that took: when writes come fast and the streams are
//! many, batches grow instead of multiplying, and delivering takes a bounded
//! share of the server's time instead of crowding out the writes.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The least time between two reads of a group, however fast delivery is:
/// changes committed meanwhile go out together.
pub const LEAST_INTERVAL: Duration = Duration::from_millis(20);
/// The longest a group waits between reads while delivery is slow: the
/// latency a busy server adds at most.
pub const MOST_INTERVAL: Duration = Duration::from_millis(100);
/// A group waits this many times as long as its last batch took to reach
/// most streams, so delivering takes at most about a third of the time.
const DUTY: u32 = 3;

/// The streams of a group that are live (caught up and reading batches).
#[derive(Debug, Default)]
pub struct Audience(AtomicUsize);

impl Audience {
    /// Counts a stream as live until the guard drops.
    pub fn join(self: &std::sync::Arc<Self>) -> Listener {
        self.0.fetch_add(1, Ordering::Relaxed);
        Listener(std::sync::Arc::clone(self))
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// A live stream's place in its group's audience.
#[derive(Debug)]
pub struct Listener(std::sync::Arc<Audience>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How one batch is getting to its streams.
#[derive(Debug)]
pub struct Delivery {
    sent: Instant,
    /// Nine in ten of the streams live when it was sent.
    quorum: usize,
    taken: AtomicUsize,
    reached: OnceLock<Instant>,
    notify: Notify,
}

impl Delivery {
    pub fn start(audience: &Audience) -> Self {
        let live = audience.count();
        let delivery = Self {
            sent: Instant::now(),
            quorum: live - live / 10,
            taken: AtomicUsize::new(0),
            reached: OnceLock::new(),
            notify: Notify::new(),
        };
        if delivery.quorum == 0 {
            let _ = delivery.reached.set(delivery.sent);
        }
        delivery
    }

    /// A stream has taken the batch (and writes it to its client next).
    pub fn taken(&self) {
        if self.taken.fetch_add(1, Ordering::Relaxed) + 1 == self.quorum {
            let _ = self.reached.set(Instant::now());
            self.notify.notify_one();
        }
    }

    /// How long the group waits after reading this batch before reading
    /// again: [`DUTY`] times as long as the batch took to reach its quorum,
    /// within [`LEAST_INTERVAL`] and [`MOST_INTERVAL`]. Waits for the quorum
    /// (at most [`MOST_INTERVAL`]) if it has not been reached.
    pub async fn interval(&self) -> Duration {
        if self.reached.get().is_none() {
            let _ =
                tokio::time::timeout_at(self.sent + MOST_INTERVAL, self.notify.notified()).await;
        }
        let took = self
            .reached
            .get()
            .map_or(MOST_INTERVAL, |reached| reached.duration_since(self.sent));
        (took * DUTY).clamp(LEAST_INTERVAL, MOST_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_batch_without_live_streams_leaves_the_least_interval() {
        let audience = Arc::new(Audience::default());
        let delivery = Delivery::start(&audience);
        assert_eq!(delivery.interval().await, LEAST_INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_delivery_stretches_the_interval_to_three_times_its_length() {
        let audience = Arc::new(Audience::default());
        let listeners: Vec<_> = (0..10).map(|_| audience.join()).collect();
        let delivery = Delivery::start(&audience);
        tokio::time::advance(Duration::from_millis(30)).await;
        for _ in 0..9 {
            delivery.taken();
        }
        tokio::time::advance(Duration::from_millis(100)).await;
        assert_eq!(delivery.interval().await, Duration::from_millis(90));
        drop(listeners);
        assert_eq!(audience.count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quorum_never_reached_waits_the_most_interval() {
        let audience = Arc::new(Audience::default());
        let _listener = audience.join();
        let delivery = Delivery::start(&audience);
        assert_eq!(delivery.interval().await, MOST_INTERVAL);
        assert_eq!(Instant::now().duration_since(delivery.sent), MOST_INTERVAL);
    }
}
