//! The instance's one `LISTEN` connection: it wakes the hub on every
//! notification, on a timer (so that a lost notification only delays), and
//! after every reconnect (so that what was committed while it was away is read).

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;

use super::Hub;

/// The channel every instance listens on and notifies after its writes ([`super::notify`]).
pub const CHANNEL: &str = "chronik_changes";
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts listening for `hub`; runs until the hub is dropped.
pub fn spawn(hub: &Arc<Hub>, database_url: String) {
    let hub = Arc::downgrade(hub);
    tokio::spawn(async move {
        let mut retry = FIRST_RETRY;
        loop {
            let Some(strong) = hub.upgrade() else {
                return;
            };
            let poll = strong.config.stream_poll.0;
            drop(strong);
            match listen(&hub, &database_url, poll).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, retry_in = ?retry, "the change listener lost its connection");
                }
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(LAST_RETRY);
        }
    });
}

/// Listens until the connection fails (an error) or the hub is gone (`Ok`).
async fn listen(
    hub: &std::sync::Weak<Hub>,
    database_url: &str,
    poll: Option<Duration>,
) -> anyhow::Result<()> {
    let mut conn =
        tokio::time::timeout(CONNECT_TIMEOUT, AsyncPgConnection::establish(database_url))
            .await
            .map_err(|_| anyhow::anyhow!("connecting timed out"))??;
    diesel::sql_query(format!("LISTEN {CHANNEL}"))
        .execute(&mut conn)
        .await?;
    tracing::info!("listening for changes");
    // Whatever was committed while no one listened.
    if !wake(hub) {
        return Ok(());
    }
    let mut notifications = std::pin::pin!(conn.notifications_stream());
    let poll = poll.unwrap_or(Duration::from_secs(3600));
    loop {
        tokio::select! {
            next = notifications.next() => match next {
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.into()),
                None => anyhow::bail!("the connection closed"),
            },
            () = tokio::time::sleep(poll) => {}
        }
        if !wake(hub) {
            return Ok(());
        }
    }
}

/// Wakes the hub; `false` once it is gone (the server stopped).
fn wake(hub: &std::sync::Weak<Hub>) -> bool {
    hub.upgrade().map(|hub| hub.wake()).is_some()
}
