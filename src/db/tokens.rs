//! All SQL for API tokens.

use super::sql::SqlBuilder;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Binary, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::secret::{self, Secret};
use crate::error::ApiError;
use crate::models::token::{CreatedToken, Scope, Token, TokenId, TokenStatus};

const COLUMNS: &str =
    "id, name, scope, prefix, created_at, expires_at, revoked_at, last_used_at, created_by";

#[derive(QueryableByName)]
struct TokenRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    scope: String,
    #[diesel(sql_type = Text)]
    prefix: String,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    expires_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    revoked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_used_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
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
    let rows: Vec<TokenRow> = SqlBuilder::fixed(&format!(
        "INSERT INTO api_tokens (id, name, scope, secret_hash, prefix, expires_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .arg::<SqlUuid, _>(TokenId::new().0)
    .arg::<Text, _>(spec.name.trim().to_owned())
    .arg::<Text, _>(spec.scope.as_str())
    .arg::<Binary, _>(secret.hash().to_vec())
    .arg::<Text, _>(secret.display_prefix())
    .arg::<Nullable<Timestamptz>, _>(spec.expires_at)
    .arg::<Nullable<SqlUuid>, _>(spec.created_by.map(|id| id.0))
    .build()
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
    let rows: Vec<TokenRow> =
        SqlBuilder::fixed(&format!("SELECT {COLUMNS} FROM api_tokens ORDER BY id"))
            .build()
            .load(conn)
            .await?;
    rows.into_iter().map(TokenRow::into_model).collect()
}

pub async fn find(conn: &mut AsyncPgConnection, id: TokenId) -> Result<Option<Token>, ApiError> {
    let rows: Vec<TokenRow> =
        SqlBuilder::fixed(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1"))
            .arg::<SqlUuid, _>(id.0)
            .build()
            .load(conn)
            .await?;
    rows.into_iter()
        .next()
        .map(TokenRow::into_model)
        .transpose()
}

/// Revokes a token at once. Revoking a revoked token changes nothing (its
/// `revoked_at` stays the first revocation).
pub async fn revoke(conn: &mut AsyncPgConnection, id: TokenId) -> Result<Token, ApiError> {
    let rows: Vec<TokenRow> = SqlBuilder::fixed(&format!(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .arg::<SqlUuid, _>(id.0)
    .build().load(conn)
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
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        exists: bool,
    }
    let rows: Vec<Exists> = SqlBuilder::fixed(
        "SELECT EXISTS (SELECT 1 FROM api_tokens WHERE scope = 'admin' AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > now())) AS exists",
    )
    .build()
    .load(conn)
    .await?;
    Ok(rows.iter().any(|r| r.exists))
}

/// The outcome of presenting a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authentication {
    Valid { id: TokenId, scope: Scope },
    Unknown,
    Expired,
    Revoked,
}

#[derive(QueryableByName)]
struct AuthRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    scope: String,
    #[diesel(sql_type = Binary)]
    secret_hash: Vec<u8>,
    #[diesel(sql_type = Bool)]
    expired: bool,
    #[diesel(sql_type = Bool)]
    revoked: bool,
    #[diesel(sql_type = Bool)]
    stale: bool,
}

/// Looks up the token whose secret was presented. See [`secret::same_hash`]
/// for why this reveals nothing about secrets through its timing.
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    presented: &str,
) -> Result<Authentication, ApiError> {
    if !secret::well_formed(presented) {
        return Ok(Authentication::Unknown);
    }
    let computed = secret::hash(presented);
    let rows: Vec<AuthRow> = SqlBuilder::fixed(
        "SELECT id, scope, secret_hash, \
                COALESCE(expires_at <= now(), false) AS expired, \
                revoked_at IS NOT NULL AS revoked, \
                COALESCE(last_used_at < now() - interval '1 minute', true) AS stale \
         FROM api_tokens WHERE secret_hash = $1",
    )
    .arg::<Binary, _>(computed.to_vec())
    .build()
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
    if row.expired {
        return Ok(Authentication::Expired);
    }
    if row.stale {
        // At most one write per token and minute, not one per request.
        SqlBuilder::fixed("UPDATE api_tokens SET last_used_at = now() WHERE id = $1")
            .arg::<SqlUuid, _>(row.id)
            .build()
            .execute(conn)
            .await?;
    }
    Ok(Authentication::Valid {
        id: TokenId(row.id),
        scope: row
            .scope
            .parse()
            .map_err(|e: String| ApiError::internal(anyhow::anyhow!(e)))?,
    })
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
