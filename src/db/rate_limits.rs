//! All SQL for rate-limit buckets shared by the servers of one database
//! (`CHRONIK_RATE_LIMIT_STORE=postgres`): GCRA, one row per bucket holding
//! its theoretical arrival time (`tat`, when the bucket is full again),
//! judged by the database's clock so that servers' clocks do not matter.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::sql::SqlBuilder;
use crate::error::ApiError;

/// Charges one request to a bucket in one atomic statement: the upsert moves
/// `tat` on by one interval unless that would put it more than the burst's
/// worth of intervals ahead of now; concurrent charges of one bucket queue
/// on its row. A refused request changes nothing and reads the row as it
/// is. Hand-written: an upsert with a condition, and a fallback read, in one
/// round trip. (`excluded.tat - now()` is the interval, bound once.)
const CHARGE_SQL: &str = "WITH p AS (SELECT $1::text AS key, \
         $2::bigint * interval '1 microsecond' AS step, \
         $3::bigint * interval '1 microsecond' AS span), \
     up AS (INSERT INTO rate_limit_buckets AS b (key, tat) SELECT key, now() + step FROM p \
         ON CONFLICT (key) DO UPDATE SET tat = greatest(b.tat, now()) + (excluded.tat - now()) \
         WHERE greatest(b.tat, now()) + (excluded.tat - now()) <= now() + (SELECT span FROM p) \
         RETURNING b.tat) \
     SELECT true AS allowed, (extract(epoch FROM up.tat - now()) * 1e6)::bigint AS ahead_us FROM up \
     UNION ALL \
     SELECT false, (extract(epoch FROM greatest(b.tat, now()) - now()) * 1e6)::bigint \
         FROM rate_limit_buckets b JOIN p USING (key) WHERE NOT EXISTS (SELECT FROM up)";

/// Full buckets: the same as no row.
const SWEEP_SQL: &str = "DELETE FROM rate_limit_buckets WHERE tat < now()";

/// What charging a bucket found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Charge {
    #[diesel(sql_type = Bool)]
    pub allowed: bool,
    /// How far the bucket's `tat` is ahead of now, in microseconds, after
    /// the charge (or, refused, as it stands): how long until it is full.
    #[diesel(sql_type = BigInt)]
    pub ahead_us: i64,
}

/// Charges one request of `step_us` (the emission interval) to the bucket
/// `key`, which may run at most `span_us` (interval × burst) ahead of now.
/// `None` in the rare race where a refused request finds no row to read
/// (it was inserted after the statement's snapshot): refuse it.
pub async fn charge(
    conn: &mut AsyncPgConnection,
    key: String,
    step_us: i64,
    span_us: i64,
) -> Result<Option<Charge>, ApiError> {
    let rows: Vec<Charge> = SqlBuilder::fixed(CHARGE_SQL)
        .arg::<Text, _>(key)
        .arg::<BigInt, _>(step_us)
        .arg::<BigInt, _>(span_us)
        .build()
        .load(conn)
        .await?;
    Ok(rows.into_iter().next())
}

/// Deletes full buckets; returns how many.
pub async fn sweep(conn: &mut AsyncPgConnection) -> Result<usize, ApiError> {
    Ok(SqlBuilder::fixed(SWEEP_SQL).build().execute(conn).await?)
}
