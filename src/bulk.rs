//! Connections for long-running work: streamed exports and imports.
//!
//! Each of them holds one database connection for as long as it runs. Taken
//! from a worker's request pool, a few at once would leave that worker's
//! requests waiting for a connection, so they run on a pool of their own,
//! with one permit per connection: work beyond the permits is refused at
//! once (`503` with `Retry-After`) rather than queued behind hours of work.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::db::{self, DbConn, DbPool};
use crate::error::ApiError;

/// At most `max` connections for one kind of long-running work.
#[derive(Clone)]
pub struct Slots {
    pool: DbPool,
    permits: Arc<Semaphore>,
    max: usize,
    /// What the work is called in a refusal, plural: "exports".
    what: &'static str,
    /// The setting that raises `max`.
    setting: &'static str,
}

/// A connection and the permit that lets its work run; both are given back
/// when it is dropped.
pub struct Slot {
    pub conn: DbConn,
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    pub fn new(
        database_url: &str,
        max: usize,
        what: &'static str,
        setting: &'static str,
        session: db::Session,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            pool: db::build_pool_with(database_url, max, session)?,
            permits: Arc::new(Semaphore::new(max)),
            max,
            what,
            setting,
        })
    }

    /// A connection for one more, or [`ApiError::Busy`] if `max` are running.
    pub async fn acquire(&self) -> Result<Slot, ApiError> {
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| {
            ApiError::Busy(format!(
                "{} {} are running, the most this server allows at once ({}); retry shortly",
                self.max, self.what, self.setting
            ))
        })?;
        // The pool has a connection per permit, so this never waits for another's.
        let conn = self.pool.get().await?;
        Ok(Slot {
            conn,
            _permit: permit,
        })
    }
}
