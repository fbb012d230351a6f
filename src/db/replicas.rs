//! Reads from standbys (`DATABASE_READ_URL`), as crates.io splits `db_read`
//! from `db_write`: a read that may be served by a replica asks
//! [`ReadPools::get`] for its connection, everything else uses the primary.
//!
//! A replica serves a read only if it answers, and, when the client sent the
//! position of its own write, only once it has replayed that far; otherwise
//! the next replica is asked, and then the primary. Checking costs one short
//! query per read served by a replica; it also finds a connection broken by
//! a replica's restart before the read's own query would fail on it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{DbConn, DbPool, Session};
use crate::error::ApiError;
use crate::models::position::Position;
use crate::telemetry::metrics;

/// How long a replica that failed is left alone before it is asked again.
const DOWN_FOR: Duration = Duration::from_secs(2);
/// How long a read waits for a replica's connection before it asks the next server.
const REPLICA_WAIT: Duration = Duration::from_secs(1);

/// One standby and when it may be asked again after a failure.
pub struct Replica {
    pool: DbPool,
    down_until: Mutex<Option<Instant>>,
}

impl Replica {
    /// A replica reached at `url` with up to `max_size` connections.
    pub fn new(url: &str, max_size: usize, session: Session) -> anyhow::Result<Self> {
        Ok(Self {
            pool: super::build_pool_waiting(url, max_size, session, REPLICA_WAIT)?,
            down_until: Mutex::new(None),
        })
    }

    fn is_down(&self) -> bool {
        let mut down_until = self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *down_until {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *down_until = None;
                false
            }
            None => false,
        }
    }

    fn mark_down(&self) {
        *self
            .down_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + DOWN_FOR);
    }

    /// A connection of this replica if it answers and has replayed up to
    /// `at`; `Ok(None)` if it is behind.
    async fn checkout(&self, at: Option<Position>) -> anyhow::Result<Option<DbConn>> {
        let mut conn = self.pool.get().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        match replayed(&mut conn, at.unwrap_or_default()).await {
            Ok(true) => Ok(Some(conn)),
            Ok(false) => Ok(None),
            Err(err) => {
                // Not back into the pool: the next read would fail on it too.
                let _ = deadpool::managed::Object::take(conn);
                Err(err.into())
            }
        }
    }
}

#[derive(QueryableByName)]
struct Replayed {
    #[diesel(sql_type = Bool)]
    replayed: bool,
}

/// Whether the server of `conn` has replayed the primary's log up to `at`
/// (false on a primary, which replays nothing).
async fn replayed(conn: &mut AsyncPgConnection, at: Position) -> diesel::QueryResult<bool> {
    let row: Replayed = diesel::sql_query(
        "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS replayed",
    )
    .bind::<Text, _>(at.to_string())
    .get_result(conn)
    .await?;
    Ok(row.replayed)
}

#[derive(QueryableByName)]
struct Current {
    #[diesel(sql_type = Text)]
    position: String,
}

/// The primary's position now: after a write has committed, at or past its commit.
pub async fn current_position(conn: &mut AsyncPgConnection) -> anyhow::Result<Position> {
    let row: Current = diesel::sql_query("SELECT pg_current_wal_lsn()::text AS position")
        .get_result(conn)
        .await?;
    row.position.parse().map_err(|e: String| anyhow::anyhow!(e))
}

/// The connection a read got, and which kind of server it is on.
pub struct ReadConn {
    conn: DbConn,
    /// True if a replica serves the read.
    pub replica: bool,
}

impl std::ops::Deref for ReadConn {
    type Target = AsyncPgConnection;
    fn deref(&self) -> &AsyncPgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for ReadConn {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }
}

/// Where reads get their connections: the replicas in turn, then the primary.
#[derive(Clone)]
pub struct ReadPools {
    primary: DbPool,
    replicas: Arc<[Replica]>,
    next: Arc<AtomicUsize>,
}

impl ReadPools {
    /// Reads from `replicas` (none: from `primary` only).
    pub fn new(primary: DbPool, replicas: Arc<[Replica]>) -> Self {
        Self {
            primary,
            replicas,
            next: Arc::default(),
        }
    }

    /// The standbys' pools (for their metrics).
    pub fn replica_pools(&self) -> Vec<DbPool> {
        self.replicas.iter().map(|r| r.pool.clone()).collect()
    }

    /// A connection for a read that must see at least `at` (a write's
    /// position, if the client sent one back).
    pub async fn get(&self, at: Option<Position>) -> Result<ReadConn, ApiError> {
        let count = self.replicas.len();
        if count == 0 {
            return self.primary().await;
        }
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut reason = "down";
        for replica in self.replicas.iter().cycle().skip(first % count).take(count) {
            if replica.is_down() {
                continue;
            }
            match replica.checkout(at).await {
                Ok(Some(conn)) => {
                    metrics::db_read("replica", "replica");
                    return Ok(ReadConn {
                        conn,
                        replica: true,
                    });
                }
                Ok(None) => reason = "behind",
                Err(err) => {
                    tracing::warn!(error = %err, "a replica did not answer; reads go elsewhere for a while");
                    replica.mark_down();
                }
            }
        }
        let conn = self.primary().await?;
        metrics::db_read("primary", reason);
        Ok(conn)
    }

    /// A connection of the primary, for a read that must not go to a standby.
    pub async fn primary(&self) -> Result<ReadConn, ApiError> {
        Ok(ReadConn {
            conn: self.primary.get().await?,
            replica: false,
        })
    }
}
