//! The rules for `known_at`, the time a change became public.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::sql::SqlBuilder;
use crate::error::{ApiError, FieldError};
use crate::models::values::EventId;

#[derive(QueryableByName)]
struct Clock {
    #[diesel(sql_type = Timestamptz)]
    now: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    previous: Option<DateTime<Utc>>,
}

const CHECK_KNOWN_AT_SQL: &str = "SELECT clock_timestamp() AS now, (SELECT known_at FROM event_revisions WHERE event_id = $1 \
         ORDER BY version DESC LIMIT 1) AS previous";

/// A `known_at` the writer gives must lie between the event's previous
/// revision's `known_at` and now.
pub(super) async fn check_known_at(
    conn: &mut AsyncPgConnection,
    id: EventId,
    known_at: DateTime<Utc>,
) -> Result<(), ApiError> {
    let clock: Clock = SqlBuilder::fixed(CHECK_KNOWN_AT_SQL)
        .arg::<SqlUuid, _>(id.0)
        .build()
        .get_result(conn)
        .await?;
    match known_at_error(known_at, clock.now, clock.previous) {
        Some(error) => Err(ApiError::Validation(vec![error])),
        None => Ok(()),
    }
}

/// What is wrong with a `known_at` given for a change, if anything: it must
/// not be after `now`, nor before the event's `previous` revision's.
pub fn known_at_error(
    known_at: DateTime<Utc>,
    now: DateTime<Utc>,
    previous: Option<DateTime<Utc>>,
) -> Option<FieldError> {
    let message = match previous {
        _ if known_at > now => format!(
            "must not be in the future (the server's time is {})",
            now.to_rfc3339()
        ),
        Some(previous) if known_at < previous => format!(
            "must not be before the event's previous revision, known at {}",
            previous.to_rfc3339()
        ),
        _ => return None,
    };
    Some(FieldError::new("known_at", message))
}
