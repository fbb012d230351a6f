//! Connections for long-running work: streamed exports and imports.
//!
//! Each of them holds one database connection for as long as it runs. Taken
//! from a worker's request pool, a few at once would leave that worker's
//! requests waiting for a connection, so they run on a pool of their own,
//! with one permit per connection: work beyond the permits is refused at
//! once (`503` with `Retry-After`) rather than queued behind hours of work.
//! The same limit holds for all servers on one database together: each job
//! also holds one of the limit's slots, a Postgres advisory lock on its own
//! connection ([`db::slots`]), and is refused when every slot is held, by
//! whichever server. Exports also have a cap per client, held the same way
//! for all servers, so that one client cannot take every slot (`429` with
//! `Retry-After`).

use deadpool::managed::Object;
use diesel_async::AsyncPgConnection;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::auth::Caller;
use crate::config::Config;
use crate::db::{self, DbConn, DbPool, slots};
use crate::error::{ApiError, BusyCause};
use crate::telemetry::metrics;

/// What bounds one kind of long-running work.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most running at once, on all servers of the database together.
    pub max: usize,
    /// The first key of the advisory locks that are its slots ([`slots`]).
    pub lock_key: i32,
    /// What the work is called in a refusal, plural: "exports".
    pub what: &'static str,
    /// The setting that raises `max`.
    pub setting: &'static str,
    /// How its connections start their sessions.
    pub session: db::Session,
    /// Longest one may run; the work itself stops at its slot's deadline.
    pub max_duration: Option<Duration>,
    /// Most running at once for one client, if capped.
    pub per_client: Option<ClientLimit>,
    /// The `503`'s cause when `max` are running.
    pub full: BusyCause,
    /// The gauge that counts those running.
    pub gauge: &'static str,
}

/// A cap on the work one client (a token, or an IP without one) runs at once.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimit {
    pub max: usize,
    /// The setting that raises it.
    pub setting: &'static str,
}

impl Limits {
    pub fn exports(config: &Config) -> Self {
        Self {
            max: config.max_exports(),
            lock_key: slots::EXPORTS,
            what: "exports",
            setting: "CHRONIK_MAX_EXPORTS",
            session: config.export_session(),
            max_duration: config.export_max_duration.0,
            per_client: config.max_exports_per_client.0.map(|max| ClientLimit {
                max,
                setting: "CHRONIK_MAX_EXPORTS_PER_CLIENT",
            }),
            full: BusyCause::ExportsFull,
            gauge: metrics::EXPORTS_RUNNING,
        }
    }

    pub fn imports(config: &Config) -> Self {
        Self {
            max: config.max_imports.max(1),
            lock_key: slots::IMPORTS,
            what: "imports",
            setting: "CHRONIK_MAX_IMPORTS",
            session: config.bulk_session(),
            // An import's length follows its upload (CHRONIK_MAX_IMPORT_BYTES).
            max_duration: None,
            // Imports need a write token, and there are few of them (`max`).
            per_client: None,
            full: BusyCause::ImportsFull,
            gauge: metrics::IMPORTS_RUNNING,
        }
    }
}

/// At most `limits.max` connections for one kind of long-running work.
#[derive(Clone)]
pub struct Slots {
    pool: DbPool,
    permits: Arc<Semaphore>,
    limits: Arc<Limits>,
    /// How many each client runs now (only clients with any).
    running: Running,
}

type Running = Arc<Mutex<HashMap<String, usize>>>;

/// A connection and the permit that lets its work run; both are given back
/// when it is dropped (the connection closed, which frees its slot lock).
pub struct Slot {
    pub conn: JobConn,
    /// When the work must have ended, if its kind has a time limit.
    pub deadline: Option<Instant>,
    _permit: OwnedSemaphorePermit,
    _share: Option<ClientShare>,
    _running: metrics::Running,
}

/// A job's connection, which holds the job's slot lock. It leaves the pool
/// and is closed when dropped: the lock ends with its session, so a job that
/// ends in any way (a panic, a client gone) frees its slot, where an explicit
/// unlock would need a round trip that `drop` cannot wait for.
pub struct JobConn(Option<DbConn>);

impl Deref for JobConn {
    type Target = AsyncPgConnection;
    fn deref(&self) -> &AsyncPgConnection {
        match &self.0 {
            Some(conn) => conn,
            None => unreachable!("a job's connection is taken only when it is dropped"),
        }
    }
}

impl DerefMut for JobConn {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        match &mut self.0 {
            Some(conn) => conn,
            None => unreachable!("a job's connection is taken only when it is dropped"),
        }
    }
}

impl Drop for JobConn {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            // Out of the pool (which opens another when asked), and closed.
            drop(Object::take(conn));
        }
    }
}

/// One of a client's running slots, counted while it exists.
struct ClientShare {
    running: Running,
    client: String,
}

impl ClientShare {
    /// Counts one more for `client`, unless it has `limit.max` already.
    fn take(running: &Running, client: String, limit: ClientLimit) -> Option<Self> {
        let mut counts = running.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(client.clone()).or_default();
        if *count >= limit.max {
            return None;
        }
        *count += 1;
        Some(Self {
            running: running.clone(),
            client,
        })
    }
}

impl Drop for ClientShare {
    fn drop(&mut self) {
        let mut counts = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            // Forget idle clients, so that the map holds only running ones.
            if *count == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

impl Slots {
    pub fn new(database_url: &str, limits: Limits) -> anyhow::Result<Self> {
        Ok(Self {
            pool: db::build_pool_with(database_url, limits.max, limits.session)?,
            permits: Arc::new(Semaphore::new(limits.max)),
            limits: Arc::new(limits),
            running: Running::default(),
        })
    }

    /// A connection for one more by `client`: [`ApiError::TooManyExports`]
    /// if that client runs its most already, [`ApiError::Busy`] if `max`
    /// are running in all, on this server or, by their slot locks, on all
    /// servers of the database together.
    pub async fn acquire(&self, client: &Caller) -> Result<Slot, ApiError> {
        let limits = &self.limits;
        // First, so that a client at its cap never takes a slot, not even for a moment.
        let share = self.share_for(client)?;
        // This server's own count first: refused without a round trip.
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| self.full())?;
        // The pool has a connection per permit, so this never waits for another's.
        // Whatever happens next, it is closed when dropped, never pooled
        // with a lock it might hold.
        let mut conn = JobConn(Some(self.pool.get().await?));
        // The client's share on all servers first, as above.
        if let Some(limit) = limits.per_client {
            let key = client.key();
            if slots::try_take_share(&mut conn, limits.lock_key, &key, limit.max)
                .await?
                .is_none()
            {
                return Err(self.too_many(client, limit));
            }
        }
        if slots::try_take(&mut conn, limits.lock_key, limits.max)
            .await?
            .is_none()
        {
            return Err(self.full());
        }
        Ok(Slot {
            conn,
            deadline: limits.max_duration.map(|limit| Instant::now() + limit),
            _permit: permit,
            _share: share,
            _running: metrics::Running::start(limits.gauge),
        })
    }

    /// The refusal when `max` are running.
    fn full(&self) -> ApiError {
        let limits = &self.limits;
        ApiError::busy(
            limits.full,
            format!(
                "{} {} are running on the servers of this database, the most allowed at once ({}); \
                 retry shortly",
                limits.max, limits.what, limits.setting
            ),
        )
    }

    /// The connections of this kind of work, for the pool gauges.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Counts one more for `client` if its work is capped per client.
    fn share_for(&self, client: &Caller) -> Result<Option<ClientShare>, ApiError> {
        let Some(limit) = self.limits.per_client else {
            return Ok(None);
        };
        ClientShare::take(&self.running, client.key(), limit)
            .map(Some)
            .ok_or_else(|| self.too_many(client, limit))
    }

    /// The refusal when `client` runs `limit.max` already.
    fn too_many(&self, client: &Caller, limit: ClientLimit) -> ApiError {
        let who = match client {
            Caller::Token { .. } => "token",
            Caller::Anonymous { .. } => "IP address",
        };
        ApiError::TooManyExports(format!(
            "this {who} already runs {} {}, the most one client may at once ({}); \
             retry when one has finished",
            limit.max, self.limits.what, limit.setting
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_share_back_and_is_forgotten_when_its_work_ends() {
        let running = Running::default();
        let limit = ClientLimit {
            max: 2,
            setting: "TEST",
        };
        let take = |client: &str| ClientShare::take(&running, client.to_owned(), limit);
        let first = take("ip:192.0.2.1");
        let second = take("ip:192.0.2.1");
        assert!(first.is_some() && second.is_some());
        assert!(take("ip:192.0.2.1").is_none(), "a third is over the cap");
        let other = take("token:x");
        assert!(other.is_some(), "each client has a share of its own");
        drop(first);
        let again = take("ip:192.0.2.1");
        assert!(again.is_some(), "an ended one is given back");
        drop((second, again, other));
        assert!(running.lock().map(|m| m.is_empty()).unwrap_or(false));
    }
}
