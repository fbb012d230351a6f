//! Connections for long-running work: streamed exports and imports.
//!
//! Each of them holds one database connection for as long as it runs. Taken
//! from a worker's request pool, a few at once would leave that worker's
//! requests waiting for a connection, so they run on a pool of their own,
//! with one permit per connection: work beyond the permits is refused at
//! once (`503` with `Retry-After`) rather than queued behind hours of work.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::Config;
use crate::db::{self, DbConn, DbPool};
use crate::error::ApiError;

/// What bounds one kind of long-running work.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most running at once.
    pub max: usize,
    /// What the work is called in a refusal, plural: "exports".
    pub what: &'static str,
    /// The setting that raises `max`.
    pub setting: &'static str,
    /// How its connections start their sessions.
    pub session: db::Session,
    /// Longest one may run; the work itself stops at its slot's deadline.
    pub max_duration: Option<Duration>,
}

impl Limits {
    pub fn exports(config: &Config) -> Self {
        Self {
            max: config.max_exports(),
            what: "exports",
            setting: "CHRONIK_MAX_EXPORTS",
            session: config.export_session(),
            max_duration: config.export_max_duration.0,
        }
    }

    pub fn imports(config: &Config) -> Self {
        Self {
            max: config.max_imports.max(1),
            what: "imports",
            setting: "CHRONIK_MAX_IMPORTS",
            session: config.bulk_session(),
            // An import's length follows its upload (CHRONIK_MAX_IMPORT_BYTES).
            max_duration: None,
        }
    }
}

/// At most `limits.max` connections for one kind of long-running work.
#[derive(Clone)]
pub struct Slots {
    pool: DbPool,
    permits: Arc<Semaphore>,
    limits: Arc<Limits>,
}

/// A connection and the permit that lets its work run; both are given back
/// when it is dropped.
pub struct Slot {
    pub conn: DbConn,
    /// When the work must have ended, if its kind has a time limit.
    pub deadline: Option<Instant>,
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    pub fn new(database_url: &str, limits: Limits) -> anyhow::Result<Self> {
        Ok(Self {
            pool: db::build_pool_with(database_url, limits.max, limits.session)?,
            permits: Arc::new(Semaphore::new(limits.max)),
            limits: Arc::new(limits),
        })
    }

    /// A connection for one more, or [`ApiError::Busy`] if `max` are running.
    pub async fn acquire(&self) -> Result<Slot, ApiError> {
        let limits = &self.limits;
        let permit = self.permits.clone().try_acquire_owned().map_err(|_| {
            ApiError::Busy(format!(
                "{} {} are running, the most this server allows at once ({}); retry shortly",
                limits.max, limits.what, limits.setting
            ))
        })?;
        // The pool has a connection per permit, so this never waits for another's.
        let conn = self.pool.get().await?;
        Ok(Slot {
            conn,
            deadline: limits.max_duration.map(|limit| Instant::now() + limit),
            _permit: permit,
        })
    }
}
