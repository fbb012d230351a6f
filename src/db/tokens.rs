//! All SQL for API tokens.

use chrono::{DateTime, Utc};
use diesel::dsl::{self, IntervalDsl, exists};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamptz};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::sql::SqlBuilder;
use crate::auth::secret::{self, Secret};
use crate::error::ApiError;
use crate::models::token::{CreatedToken, Scope, Token, TokenId, TokenStatus};
use crate::schema::api_tokens;

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_tokens, check_for_backend(diesel::pg::Pg))]
struct TokenRow {
    id: Uuid,
    name: String,
    scope: String,
    prefix: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    created_by: Option<Uuid>,
}

/// A new row; the timestamps other than `expires_at` are the columns' defaults.
#[derive(Insertable)]
#[diesel(table_name = api_tokens, treat_none_as_default_value = false)]
struct NewTokenRow<'a> {
    id: Uuid,
    name: &'a str,
    scope: &'a str,
    secret_hash: &'a [u8],
    prefix: &'a str,
    expires_at: Option<DateTime<Utc>>,
    created_by: Option<Uuid>,
}

impl TokenRow {
    fn into_model(self) -> Result<Token, ApiError> {
        let now = Utc::now();
        let status = if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        };
        Ok(Token {
            id: TokenId(self.id),
            name: self.name,
            scope: self
                .scope
                .parse()
                .map_err(|e: String| ApiError::internal(anyhow::anyhow!(e)))?,
            prefix: self.prefix,
            status,
            created_at: self.created_at,
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
            created_by: self.created_by.map(TokenId),
        })
    }
}

/// What a new token should be.
#[derive(Debug, Clone)]
pub struct TokenSpec {
    pub name: String,
    pub scope: Scope,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: Option<TokenId>,
}

impl TokenSpec {
    pub fn new(name: impl Into<String>, scope: Scope) -> Self {
        Self {
            name: name.into(),
            scope,
            expires_at: None,
            created_by: None,
        }
    }

    fn check(&self) -> Result<(), ApiError> {
        let len = self.name.chars().count();
        if self.name.trim().is_empty() || len > 200 {
            return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
        }
        if self.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(ApiError::invalid("expires_at", "must be in the future"));
        }
        Ok(())
    }
}

/// Creates a token with a fresh secret; the returned secret is its only copy.
pub async fn create(
    conn: &mut AsyncPgConnection,
    spec: TokenSpec,
) -> Result<CreatedToken, ApiError> {
    spec.check()?;
    let secret = Secret::generate().map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    let name = spec.name.trim();
    let hash = secret.hash();
    let prefix = secret.display_prefix();
    let row = NewTokenRow {
        id: TokenId::new().0,
        name,
        scope: spec.scope.as_str(),
        secret_hash: &hash,
        prefix: &prefix,
        expires_at: spec.expires_at,
        created_by: spec.created_by.map(|id| id.0),
    };
    let rows: Vec<TokenRow> = diesel::insert_into(api_tokens::table)
        .values(&row)
        .returning(TokenRow::as_returning())
        .load(conn)
        .await?;
    let token = single(rows)?;
    Ok(CreatedToken {
        token,
        secret: secret.into_string(),
    })
}

/// Every token, oldest first (ids are UUID v7), revoked and expired ones included.
pub async fn list(conn: &mut AsyncPgConnection) -> Result<Vec<Token>, ApiError> {
    let rows: Vec<TokenRow> = api_tokens::table
        .select(TokenRow::as_select())
        .order(api_tokens::id)
        .load(conn)
        .await?;
    rows.into_iter().map(TokenRow::into_model).collect()
}

pub async fn find(conn: &mut AsyncPgConnection, id: TokenId) -> Result<Option<Token>, ApiError> {
    api_tokens::table
        .find(id.0)
        .select(TokenRow::as_select())
        .first::<TokenRow>(conn)
        .await
        .optional()?
        .map(TokenRow::into_model)
        .transpose()
}

diesel::define_sql_function! {
    /// SQL's `COALESCE`, for a nullable timestamp and a fallback.
    fn coalesce(value: Nullable<Timestamptz>, fallback: Timestamptz) -> Nullable<Timestamptz>;
}

/// Revokes a token at once. Revoking a revoked token changes nothing (its
/// `revoked_at` stays the first revocation).
pub async fn revoke(conn: &mut AsyncPgConnection, id: TokenId) -> Result<Token, ApiError> {
    let rows: Vec<TokenRow> = diesel::update(api_tokens::table.find(id.0))
        .set(api_tokens::revoked_at.eq(coalesce(api_tokens::revoked_at, dsl::now)))
        .returning(TokenRow::as_returning())
        .load(conn)
        .await?;
    match rows.into_iter().next() {
        Some(row) => row.into_model(),
        None => Err(not_found(id)),
    }
}

pub fn not_found(id: TokenId) -> ApiError {
    ApiError::NotFound(format!("no token with id {id}"))
}

/// Whether some admin token can still be used (neither revoked nor expired).
pub async fn has_live_admin(conn: &mut AsyncPgConnection) -> Result<bool, ApiError> {
    let live_admins = api_tokens::table
        .filter(api_tokens::scope.eq(Scope::Admin.as_str()))
        .filter(api_tokens::revoked_at.is_null())
        .filter(
            api_tokens::expires_at
                .is_null()
                .or(api_tokens::expires_at.gt(dsl::now)),
        );
    Ok(diesel::select(exists(live_admins)).get_result(conn).await?)
}

/// The outcome of presenting a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    /// `stale_use`: the token's `last_used_at` is unset or over a minute old,
    /// so this use should be recorded ([`record_uses`]).
    Valid {
        id: TokenId,
        scope: Scope,
        stale_use: bool,
    },
    Unknown,
    Expired,
    Revoked,
}

/// A token as authentication needs it, judged by the database's clock.
#[derive(Queryable)]
struct AuthRow {
    id: Uuid,
    scope: String,
    secret_hash: Vec<u8>,
    /// `expires_at <= now()`; `None` for a token that never expires.
    expired: Option<bool>,
    revoked: bool,
    /// `last_used_at + 1 minute >= now()`; `None` for a token never used.
    used_recently: Option<bool>,
}

/// Looks up the token whose secret was presented: a read, never a write (so
/// that it could be served by a replica); the caller records the use apart.
/// See [`secret::same_hash`] for why this reveals nothing about secrets
/// through its timing.
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    presented: &str,
) -> Result<Authentication, ApiError> {
    if !secret::well_formed(presented) {
        return Ok(Authentication::Unknown);
    }
    let computed = secret::hash(presented);
    let rows: Vec<AuthRow> = api_tokens::table
        .select((
            api_tokens::id,
            api_tokens::scope,
            api_tokens::secret_hash,
            api_tokens::expires_at.le(dsl::now),
            api_tokens::revoked_at.is_not_null(),
            (api_tokens::last_used_at + 1.minute()).ge(dsl::now),
        ))
        .filter(api_tokens::secret_hash.eq(computed.as_slice()))
        .load(conn)
        .await?;
    let Some(row) = rows
        .into_iter()
        .find(|row| secret::same_hash(&row.secret_hash, &computed))
    else {
        return Ok(Authentication::Unknown);
    };
    if row.revoked {
        return Ok(Authentication::Revoked);
    }
    if row.expired.unwrap_or(false) {
        return Ok(Authentication::Expired);
    }
    Ok(Authentication::Valid {
        id: TokenId(row.id),
        stale_use: !row.used_recently.unwrap_or(false),
        scope: row
            .scope
            .parse()
            .map_err(|e: String| ApiError::internal(anyhow::anyhow!(e)))?,
    })
}

/// Sets `last_used_at` to now for those of `ids` whose use is not recorded
/// yet or was over a minute ago: at most one write per token and minute,
/// however many requests it makes. Returns how many rows changed.
pub async fn record_uses(conn: &mut AsyncPgConnection, ids: &[TokenId]) -> Result<usize, ApiError> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    let stale = api_tokens::last_used_at
        .is_null()
        .or((api_tokens::last_used_at + 1.minute()).lt(dsl::now));
    Ok(diesel::update(
        api_tokens::table
            .filter(api_tokens::id.eq_any(ids))
            .filter(stale),
    )
    .set(api_tokens::last_used_at.eq(dsl::now))
    .execute(conn)
    .await?)
}

/// Creates an admin token if none is live, atomically: several servers
/// starting at once on a fresh database make exactly one. `persist` receives
/// the new token before the transaction commits; if it fails, no token is made.
pub async fn create_admin_if_none<F>(
    conn: &mut AsyncPgConnection,
    name: &str,
    persist: F,
) -> anyhow::Result<Option<CreatedToken>>
where
    F: FnOnce(&CreatedToken) -> anyhow::Result<()> + Send,
{
    let name = name.to_owned();
    conn.transaction::<_, anyhow::Error, _>(async move |conn| {
        // Hand-built: a function called for its effect, no table to query.
        SqlBuilder::fixed("SELECT pg_advisory_xact_lock(7205120)")
            .build()
            .execute(conn)
            .await?;
        if has_live_admin(conn).await.map_err(anyhow::Error::msg)? {
            return Ok(None);
        }
        let created = create(conn, TokenSpec::new(name, Scope::Admin))
            .await
            .map_err(anyhow::Error::msg)?;
        persist(&created)?;
        Ok(Some(created))
    })
    .await
}

fn single(rows: Vec<TokenRow>) -> Result<Token, ApiError> {
    rows.into_iter()
        .next()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("INSERT returned no row")))?
        .into_model()
}
