//! All SQL for remembered `Idempotency-Key` requests.

use super::sql::SqlBuilder;
use diesel::QueryableByName;
use diesel::dsl;
use diesel::prelude::*;
use diesel::sql_types::{Binary, Bool, Jsonb, SmallInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::error::ApiError;
use crate::schema::idempotency_keys;

/// Keys are kept (and replayed) this long.
pub const RETENTION: &str = "24 hours";
/// A key whose request has been in flight this long belongs to a server that
/// died mid-request; a retry may take it over.
pub const ABANDONED_AFTER: &str = "10 minutes";

/// Identifies one use of a key.
pub struct KeyRef<'a> {
    pub caller: &'a str,
    pub key: &'a str,
}

/// A response as it will be replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The state of a key somebody else claimed first.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    pub request_hash: Vec<u8>,
    /// `None` while the first request is still running.
    pub response: Option<StoredResponse>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This request runs; settle the key with [`complete`] or [`release`].
    Claimed,
    Existing(Existing),
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Bool)]
    #[allow(dead_code)]
    claimed: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = idempotency_keys, check_for_backend(diesel::pg::Pg))]
struct Row {
    request_hash: Vec<u8>,
    status: Option<i16>,
    headers: Option<serde_json::Value>,
    body: Option<Vec<u8>>,
}

/// `idempotency_keys` filtered down to the row of one key.
type KeyRow<'a> = dsl::Filter<
    dsl::Filter<idempotency_keys::table, dsl::Eq<idempotency_keys::caller, &'a str>>,
    dsl::Eq<idempotency_keys::key, &'a str>,
>;

/// The row of `key`.
fn of_key<'a>(key: &KeyRef<'a>) -> KeyRow<'a> {
    idempotency_keys::table
        .filter(idempotency_keys::caller.eq(key.caller))
        .filter(idempotency_keys::key.eq(key.key))
}

/// Claims a key: new, expired, or abandoned by a request that never finished.
static CLAIM_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "INSERT INTO idempotency_keys (caller, key, method, path, request_hash) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (caller, key) DO UPDATE SET method = EXCLUDED.method, path = EXCLUDED.path, \
             request_hash = EXCLUDED.request_hash, status = NULL, headers = NULL, body = NULL, \
             created_at = now(), completed_at = NULL \
         WHERE idempotency_keys.created_at < now() - interval '{RETENTION}' \
            OR (idempotency_keys.status IS NULL \
                AND idempotency_keys.created_at < now() - interval '{ABANDONED_AFTER}') \
         RETURNING true AS claimed"
    )
});

/// Claims `key` for a request, or returns what is known about its first use.
/// Expired keys and abandoned claims are taken over as if they were new.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    key: &KeyRef<'_>,
    method: &str,
    path: &str,
    request_hash: &[u8],
) -> Result<Claim, ApiError> {
    // The row can vanish between the two statements (its request failed and
    // released it): then claim again.
    for _ in 0..3 {
        // Hand-built: an upsert whose DO UPDATE has a condition.
        let claimed: Vec<Claimed> = SqlBuilder::fixed(&CLAIM_SQL)
            .arg::<Text, _>(key.caller.to_owned())
            .arg::<Text, _>(key.key.to_owned())
            .arg::<Text, _>(method.to_owned())
            .arg::<Text, _>(path.to_owned())
            .arg::<Binary, _>(request_hash.to_vec())
            .build()
            .load(conn)
            .await?;
        if !claimed.is_empty() {
            return Ok(Claim::Claimed);
        }
        let rows: Vec<Row> = of_key(key).select(Row::as_select()).load(conn).await?;
        if let Some(row) = rows.into_iter().next() {
            return Ok(Claim::Existing(row.into_existing()));
        }
    }
    Err(ApiError::IdempotencyInFlight)
}

impl Row {
    fn into_existing(self) -> Existing {
        let response = self.status.map(|status| StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            headers: self
                .headers
                .and_then(|h| serde_json::from_value(h).ok())
                .unwrap_or_default(),
            body: self.body.unwrap_or_default(),
        });
        Existing {
            request_hash: self.request_hash,
            response,
        }
    }
}

const COMPLETE_SQL: &str = "UPDATE idempotency_keys SET status = $1, headers = $2, body = $3, completed_at = now() \
         WHERE caller = $4 AND key = $5";

/// Records the response to replay for `key`.
pub async fn complete(
    conn: &mut AsyncPgConnection,
    key: &KeyRef<'_>,
    response: &StoredResponse,
) -> Result<(), ApiError> {
    let headers = serde_json::to_value(&response.headers).map_err(ApiError::internal)?;
    // Hand-built: diesel never keeps an UPDATE prepared, and this runs once
    // per write sent with a key.
    SqlBuilder::fixed(COMPLETE_SQL)
        .arg::<SmallInt, _>(i16::try_from(response.status).unwrap_or(500))
        .arg::<Jsonb, _>(headers)
        .arg::<Binary, _>(response.body.clone())
        .arg::<Text, _>(key.caller.to_owned())
        .arg::<Text, _>(key.key.to_owned())
        .build()
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets a claim whose request failed, so that a retry runs again.
pub async fn release(conn: &mut AsyncPgConnection, key: &KeyRef<'_>) -> Result<(), ApiError> {
    diesel::delete(of_key(key).filter(idempotency_keys::status.is_null()))
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes keys past their retention; returns how many.
pub async fn purge_expired(conn: &mut AsyncPgConnection) -> Result<usize, ApiError> {
    // Hand-built: diesel types `now - interval` as `timestamp`, not comparable
    // with `created_at` (and `created_at + interval < now` would not use its index).
    Ok(SqlBuilder::fixed(&format!(
        "DELETE FROM idempotency_keys WHERE created_at < now() - interval '{RETENTION}'"
    ))
    .build()
    .execute(conn)
    .await?)
}
