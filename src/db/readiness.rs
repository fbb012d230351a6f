//! The answer of `/readyz`: whether the database answers, asked at most
//! once a second whatever the number of probes.

use diesel_async::RunQueryDsl;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use super::DbPool;
use crate::error::ApiError;

/// How long one answer of the database is given to every `/readyz`.
const READINESS_TTL: Duration = Duration::from_secs(1);

/// The last readiness answer, shared by all workers. `/readyz` is public and
/// outside the rate limits, so without it a flood of probes would be a flood
/// of queries; with it, a second costs at most one.
#[derive(Default)]
pub struct Readiness {
    /// When the database last answered, and what.
    last: Mutex<Option<(Instant, Answer)>>,
}

/// What asking the database came to.
#[derive(Debug, Clone)]
enum Answer {
    Ready,
    Busy(crate::error::Busy),
    Unavailable,
}

impl Readiness {
    /// The database's readiness: the last answer while it is fresh, else a
    /// new one. Callers that come while a question is out wait for its answer
    /// rather than asking too.
    pub async fn check(&self, pool: &DbPool) -> Result<(), ApiError> {
        let mut last = self.last.lock().await;
        if let Some((at, answer)) = last.as_ref()
            && at.elapsed() < READINESS_TTL
        {
            return answer.clone().into_result();
        }
        let answer = Answer::of(ask(pool).await);
        *last = Some((Instant::now(), answer.clone()));
        answer.into_result()
    }
}

impl Answer {
    fn of(result: Result<(), ApiError>) -> Self {
        match result {
            Ok(()) => Self::Ready,
            Err(ApiError::Busy(detail)) => Self::Busy(detail),
            Err(_) => Self::Unavailable,
        }
    }

    fn into_result(self) -> Result<(), ApiError> {
        match self {
            Self::Ready => Ok(()),
            Self::Busy(detail) => Err(ApiError::Busy(detail)),
            Self::Unavailable => Err(ApiError::Unavailable),
        }
    }
}

/// Asks the database for `SELECT 1` over one of `pool`'s connections.
async fn ask(pool: &DbPool) -> Result<(), ApiError> {
    let mut conn = pool.get().await?;
    diesel::sql_query("SELECT 1")
        .execute(&mut conn)
        .await
        .map_err(|_| ApiError::Unavailable)?;
    Ok(())
}
