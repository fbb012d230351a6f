//! Recording when tokens were last used, off the request path.
//!
//! Authentication only reads (so that it does not need the primary, nor
//! wait for a row lock). A token whose `last_used_at` is stale is noted
//! here, in memory, and a task of its own writes the noted tokens in one
//! statement every [`WRITE_EVERY`], at most once per token and minute (the
//! statement checks). Memory stays bounded by the number of tokens in use.
//! What is noted in the last moment before the process ends is not written.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use crate::db::{self, DbPool};
use crate::models::token::TokenId;

/// How often noted uses are written: `last_used_at` lags by at most this.
pub const WRITE_EVERY: Duration = Duration::from_secs(1);

/// Tokens used since the last write, whose use is not recorded yet.
#[derive(Default)]
pub struct TokenUses {
    pending: Mutex<HashSet<TokenId>>,
}

impl TokenUses {
    /// Notes a use of `id`, to be written by the writer task.
    pub fn note(&self, id: TokenId) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }

    /// The noted uses, forgotten here.
    fn take(&self) -> Vec<TokenId> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = pending.drain().collect();
        pending.shrink_to_fit();
        taken
    }
}

/// Writes the uses noted in `uses` every `every` over `pool`, on a task of
/// its own, until the last other reference to `uses` is dropped.
pub fn spawn_writer(uses: &Arc<TokenUses>, pool: DbPool, every: Duration) {
    let weak: Weak<TokenUses> = Arc::downgrade(uses);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(uses) = weak.upgrade() else { break };
            let ids = uses.take();
            drop(uses);
            if !ids.is_empty() {
                write(&pool, &ids).await;
            }
        }
    });
}

async fn write(pool: &DbPool, ids: &[TokenId]) {
    let written = match pool.get().await {
        Ok(mut conn) => db::tokens::record_uses(&mut conn, ids).await,
        Err(err) => Err(err.into()),
    };
    // Only these `last_used_at` are lost: each token's next use notes it again.
    if let Err(err) = written {
        tracing::warn!(%err, tokens = ids.len(), "could not record when tokens were last used");
    }
}
