//! Slots for long-running work (exports, imports) as Postgres advisory
//! locks, so that a limit on how many run at once holds for every server on
//! one database, not per process.
//!
//! A kind of work has slots `0..n`, each the session-level advisory lock
//! `(kind, slot)` in the two-key space of advisory locks, which Postgres
//! keeps apart from the one-key locks (`pg_advisory_lock(bigint)`) the
//! migrations and the initial admin token use. A client's shares of a kind
//! (the cap per client) are one-key locks on a hash. A job holds its locks on its
//! own connection for as long as it runs; closing that connection releases
//! it, and so does Postgres when the process holding it dies.

use diesel::QueryableByName;
use diesel::sql_types::{Integer, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::sql::SqlBuilder;
use crate::error::ApiError;

/// The first key of streamed exports' slots.
pub const EXPORTS: i32 = 7_205_121;
/// The first key of imports' slots.
pub const IMPORTS: i32 = 7_205_122;

/// Tries the slots in order and takes the first that is free. Without
/// `ORDER BY`, `LIMIT 1` stops the scan at the first lock taken, so a
/// session never takes more than one.
const TAKE_SQL: &str = "SELECT (SELECT s FROM generate_series(0, $1 - 1) AS s \
     WHERE pg_try_advisory_lock($2, s) LIMIT 1) AS slot";

/// The same for one client's shares of a kind, in the one-key space: the
/// key is a hash of the kind, the client and the share (a collision with
/// another key only refuses one export that had a free share).
const TAKE_SHARE_SQL: &str = "SELECT (SELECT s FROM generate_series(0, $1 - 1) AS s \
     WHERE pg_try_advisory_lock(hashtextextended($2 || ':' || s, 0)) LIMIT 1) AS slot";

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = Nullable<Integer>)]
    slot: Option<i32>,
}

/// Takes one of the `slots` slots of `kind` on `conn`, for as long as this
/// session lasts: the slot taken, or `None` when every one is held.
pub async fn try_take(
    conn: &mut AsyncPgConnection,
    kind: i32,
    slots: usize,
) -> Result<Option<i32>, ApiError> {
    let slots = i32::try_from(slots).unwrap_or(i32::MAX);
    let taken: Vec<Taken> = SqlBuilder::fixed(TAKE_SQL)
        .arg::<Integer, _>(slots)
        .arg::<Integer, _>(kind)
        .build()
        .load(conn)
        .await?;
    Ok(taken.into_iter().next().and_then(|t| t.slot))
}

/// Takes one of the `shares` that `client` may hold of `kind` on `conn`, for
/// as long as this session lasts: `None` when the client holds them all.
pub async fn try_take_share(
    conn: &mut AsyncPgConnection,
    kind: i32,
    client: &str,
    shares: usize,
) -> Result<Option<i32>, ApiError> {
    let shares = i32::try_from(shares).unwrap_or(i32::MAX);
    let taken: Vec<Taken> = SqlBuilder::fixed(TAKE_SHARE_SQL)
        .arg::<Integer, _>(shares)
        .arg::<Text, _>(format!("chronik:{kind}:{client}"))
        .build()
        .load(conn)
        .await?;
    Ok(taken.into_iter().next().and_then(|t| t.slot))
}
