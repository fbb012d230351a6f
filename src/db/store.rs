//! The store's version (migration `store_version`): a counter a trigger
//! moves in the commit of every change to what reads show. Whole-result
//! exports derive their `ETag` from it.

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::sql::SqlBuilder;
use crate::error::ApiError;

/// Where the store stands: equal markers mean nothing a read shows changed.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct StoreVersion {
    /// Tells this database from any other (or an earlier one of the same name).
    #[diesel(sql_type = Text)]
    pub epoch: String,
    #[diesel(sql_type = BigInt)]
    pub version: i64,
}

const CURRENT_SQL: &str = "SELECT (SELECT epoch::text FROM store_epoch) AS epoch, \
     (SELECT sum(version)::bigint FROM store_version) AS version";

/// The current version: the 16 shards of the counter, read in one snapshot
/// (each commit bumps one, so their sum moves with every commit). Hand-built:
/// two scalar subqueries with casts (diesel's `sum` of a bigint is numeric).
pub async fn current(conn: &mut AsyncPgConnection) -> Result<StoreVersion, ApiError> {
    // Through `SqlBuilder`: prepared once per connection, as it runs before
    // every export (a `sql_query` is planned each time).
    let version = SqlBuilder::fixed(CURRENT_SQL)
        .build()
        .get_result(conn)
        .await?;
    Ok(version)
}
