//! `/v1/tokens`: API tokens, managed by admins.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::problems::{MalformedJson, NoSuchToken, UnsupportedContentType};
use super::{JSON, parse_path};
use crate::auth::Caller;
use crate::db;
use crate::db::tokens::TokenSpec;
use crate::error::ApiError;
use crate::idempotency::NotReplayable;
use crate::json::parse_body;
use crate::models::token::{CreatedToken, NewToken, Token, TokenId, TokenList, expires_after};
use crate::state::AppState;
use crate::telemetry::rows::Rows;

/// Create a token. Its secret is in the response, this once only.
///
/// A retry with the same `Idempotency-Key` does not show the secret again
/// (it is not stored): it gets a `409` naming the token that was created.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens",
    request_body(content = NewToken, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = CreatedToken,
            headers(("Location" = String, description = "`/v1/tokens/{id}`"), ("Cache-Control" = String, description = "`no-store`"))),
        MalformedJson,
        UnsupportedContentType,
        (status = 422, description = "Invalid name, scope or expiry"),
    ))]
pub async fn create_token(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let new: NewToken = parse_body(&req, &body, &[JSON])?;
    let expires_at = match (&new.expires_in, new.expires_at) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "expires_at",
                "give `expires_in` or `expires_at`, not both",
            ));
        }
        (Some(lifetime), None) => Some(
            lifetime
                .duration()
                .and_then(expires_after)
                .map_err(|e| ApiError::invalid("expires_in", e))?,
        ),
        (None, at) => at,
    };
    let spec = TokenSpec {
        name: new.name,
        scope: new.scope,
        expires_at,
        created_by: caller.token_id(),
    };
    let mut conn = state.pool.get().await?;
    let created = db::tokens::create(&mut conn, spec).await?;
    let id = created.token.id;
    let mut response = HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/tokens/{id}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(&created);
    response.extensions_mut().insert(NotReplayable {
        detail: format!(
            "token {id} was already created with this Idempotency-Key; its secret was shown once and is not stored. \
             Revoke it (DELETE /v1/tokens/{id}) if the secret was lost, and create another with a new key"
        ),
    });
    Ok(response)
}

/// List tokens (without secrets), revoked and expired ones included.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses((status = 200, description = "All tokens, oldest first", body = TokenList)))]
pub async fn list_tokens(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut conn = state.pool.get().await?;
    let data = db::tokens::list(&mut conn).await?;
    Rows::set(&req, data.len());
    Ok(HttpResponse::Ok().json(TokenList { data }))
}

/// Get one token (without its secret).
#[utoipa::path(get, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = uuid::Uuid, Path, description = "Token id (UUID)", example = "01943b10-2f4e-7a31-8c55-0b7e4d2f9a10")),
    responses(
        (status = 200, description = "The token", body = Token),
        (status = 400, description = "The id is not a UUID"),
        NoSuchToken,
    ))]
pub async fn get_token(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: TokenId = parse_path("id", &path)?;
    let mut conn = state.pool.get().await?;
    let token = db::tokens::find(&mut conn, id)
        .await?
        .ok_or_else(|| db::tokens::not_found(id))?;
    Ok(HttpResponse::Ok().json(token))
}

/// Revoke a token: from now on it gets `401`. Revoking twice is harmless.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = uuid::Uuid, Path, description = "Token id (UUID)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The id is not a UUID"),
        NoSuchToken,
    ))]
pub async fn revoke_token(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: TokenId = parse_path("id", &path)?;
    let mut conn = state.pool.get().await?;
    db::tokens::revoke(&mut conn, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
