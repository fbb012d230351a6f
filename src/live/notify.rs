//! Telling every instance that changes were committed: a `NOTIFY` sent
//! after the write has committed, on a connection of its own.
//!
//! Not from inside the writing transaction (a trigger did that at first):
//! Postgres serializes the commits of all transactions that notify, fsync
//! included, to keep its queue in commit order, so every write waited for
//! the one before it to reach the disk. Sent afterwards, writes commit
//! together again. A write made outside Chronik (psql, a script) notifies
//! no one and is delivered at the listener's next poll
//! (`CHRONIK_STREAM_POLL`), or sooner with the next write of Chronik's.

use std::sync::{Arc, Weak};

use diesel::QueryResult;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tokio::sync::Notify;

use super::Hub;
use super::listener::CHANNEL;
use crate::db::DbPool;

/// Sends `NOTIFY` on the change channel (commits on its own).
pub async fn notify(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query(format!("NOTIFY {CHANNEL}"))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The task that sends the hub's notifications: one at a time, and for
/// every burst of writes meanwhile just one more.
pub(super) fn spawn(hub: Weak<Hub>, pool: DbPool) -> Arc<Notify> {
    let wanted = Arc::new(Notify::new());
    let signal = Arc::clone(&wanted);
    tokio::spawn(async move {
        loop {
            signal.notified().await;
            if hub.strong_count() == 0 {
                return;
            }
            let sent = match pool.get().await {
                Ok(mut conn) => notify(&mut conn).await.map_err(anyhow::Error::from),
                Err(err) => Err(anyhow::anyhow!("{err}")),
            };
            if let Err(err) = sent {
                // Other instances read the change at their next poll.
                tracing::warn!(error = %err, "could not notify the other instances of a change");
            }
        }
    });
    wanted
}
