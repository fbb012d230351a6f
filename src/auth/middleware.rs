//! The access middlewares: rate-limit and identify in front of `/v1`,
//! authorize on each route.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use std::net::IpAddr;

use super::policy::Access;
use super::usage::TokenUses;
use super::{AccessSettings, Caller, secret};
use crate::db::{self, DbPool, tokens::Authentication};
use crate::error::ApiError;
use crate::models::token::Scope;
use crate::rate_limit::store::Limiter;
use crate::rate_limit::{self, Bucket, Decision};
use crate::state::AppState;

/// In front of every `/v1` route: charge the rate limit, identify the caller.
/// It decides nothing about access: [`require`] does, on the route that runs.
pub async fn access(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let (Some(settings), Some(state)) = (
        req.app_data::<web::Data<AccessSettings>>().cloned(),
        req.app_data::<web::Data<AppState>>().cloned(),
    ) else {
        return Err(
            ApiError::internal(anyhow::anyhow!("access settings are not configured")).into(),
        );
    };
    let ip = settings.proxies.client_ip(req.peer_addr(), req.headers());
    let from_query = query_token(&req);
    let (decision, identified) = admit(
        &settings,
        &state.pool,
        req.headers(),
        from_query.as_deref(),
        ip,
    )
    .await;
    let admitted = match decision {
        Decision::Denied { retry_after, .. } => Err(ApiError::RateLimited { retry_after }),
        _ => identified,
    };
    let mut response = match admitted {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.call(req).await?.map_into_left_body()
        }
        Err(err) => req.error_response(err).map_into_right_body(),
    };
    let status = match decision {
        Decision::Allowed(status) | Decision::Denied { status, .. } => Some(status),
        Decision::Unlimited => None,
    };
    if let Some(status) = status {
        rate_limit::add_headers(response.headers_mut(), &status);
    }
    Ok(response)
}

/// Charges the request's bucket, and identifies its caller only if the bucket
/// allows: a client at its limit costs no database connection.
///
/// A token's bucket is keyed by its secret's hash, known without a lookup. A
/// bad token counts against the client's address, like an anonymous request,
/// and an address that has emptied its bucket that way is refused before any
/// lookup until it refills: guessing tokens costs the guesser, not the pool.
async fn admit(
    settings: &AccessSettings,
    pool: &DbPool,
    headers: &HeaderMap,
    from_query: Option<&str>,
    ip: IpAddr,
) -> (Decision, Result<Caller, ApiError>) {
    let limits: &Limiter = &settings.limits;
    let presented = match presented_token(headers).or(from_query.map(Ok)) {
        None => {
            let caller = Caller::Anonymous {
                ip: limits.ip_key(ip),
            };
            return (limits.charge(Bucket::Ip(ip), pool).await, Ok(caller));
        }
        Some(Err(err)) => return (limits.charge_failure(ip, pool).await, Err(err)),
        Some(Ok(presented)) => presented,
    };
    if let Some(blocked) = limits.blocked(ip) {
        return (blocked, Err(ApiError::InvalidToken("unknown token".into())));
    }
    if !secret::well_formed(presented) {
        return (
            limits.charge_failure(ip, pool).await,
            Err(ApiError::InvalidToken("unknown token".into())),
        );
    }
    let decision = limits
        .charge(Bucket::Token(secret::hash(presented)), pool)
        .await;
    if decision.is_denied() {
        return (decision, Err(ApiError::RateLimited { retry_after: 1 }));
    }
    match identify(pool, &settings.uses, presented).await {
        Ok(caller) => (decision, Ok(caller)),
        Err(err @ ApiError::InvalidToken(_)) => (limits.charge_failure(ip, pool).await, Err(err)),
        Err(err) => (decision, Err(err)),
    }
}

/// The bearer token of the `Authorization` header: `None` without one.
/// A stream token in the query string (`?access_token=`), on the live
/// streams only: a browser's `EventSource` cannot send headers. Elsewhere
/// the parameter is not read (and the lists refuse it as unknown).
fn query_token(req: &ServiceRequest) -> Option<String> {
    if !req.path().ends_with("/stream") {
        return None;
    }
    serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()?
        .into_iter()
        .find(|(name, _)| name == super::QUERY_TOKEN)
        .map(|(_, token)| token)
}

fn presented_token(headers: &HeaderMap) -> Option<Result<&str, ApiError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some(bearer_token(value.to_str().unwrap_or("")).ok_or_else(|| {
        ApiError::InvalidToken("the Authorization header must be `Bearer <token>`".into())
    }))
}

/// The token whose secret is `presented`. Its use is noted in `uses`, to be
/// written later: authenticating reads and never writes.
async fn identify(pool: &DbPool, uses: &TokenUses, presented: &str) -> Result<Caller, ApiError> {
    let mut conn = pool.get().await?;
    match db::tokens::authenticate(&mut conn, presented).await? {
        Authentication::Valid {
            id,
            scope,
            stale_use,
        } => {
            if stale_use {
                uses.note(id);
            }
            Ok(Caller::Token { id, scope })
        }
        Authentication::Unknown => Err(ApiError::InvalidToken("unknown token".into())),
        Authentication::Expired => Err(ApiError::InvalidToken("the token has expired".into())),
        Authentication::Revoked => Err(ApiError::InvalidToken("the token has been revoked".into())),
    }
}

/// On each route, after routing: refuses a caller that lacks `access`. A
/// request that reaches it without a caller (a route outside [`access`]) is
/// refused too.
pub async fn require(
    access: Access,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let public_reads = req
        .app_data::<web::Data<AccessSettings>>()
        .map(|settings| settings.public_reads);
    let caller = req.extensions().get::<Caller>().cloned();
    let verdict = match (caller, public_reads) {
        (Some(caller), Some(public_reads)) => authorize(&caller, access, public_reads),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "{} is routed outside the access middleware",
            req.path()
        ))),
    };
    match verdict {
        Ok(()) => next.call(req).await,
        Err(err) => Ok(req.error_response(err)),
    }
}

/// `Bearer <token>` (the scheme is case-insensitive, RFC 7235).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether `caller` may make a request that requires `access`.
pub fn authorize(caller: &Caller, access: Access, public_reads: bool) -> Result<(), ApiError> {
    let required = match access {
        Access::Public => return Ok(()),
        Access::AnyToken if matches!(caller, Caller::Anonymous { .. }) => {
            return Err(ApiError::MissingToken);
        }
        Access::AnyToken => return Ok(()),
        Access::Token(required) => required,
    };
    match caller {
        Caller::Anonymous { .. } if required == Scope::Read && public_reads => Ok(()),
        Caller::Anonymous { .. } => Err(ApiError::MissingToken),
        Caller::Token { scope, .. } if scope.includes(required) => Ok(()),
        Caller::Token { scope, .. } => Err(ApiError::InsufficientScope {
            required,
            scope: *scope,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::token::TokenId;

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[test]
    fn scopes_and_public_reads_decide() {
        let anonymous = Caller::Anonymous {
            ip: "192.0.2.1".parse().unwrap(),
        };
        let token = |scope| Caller::Token {
            id: TokenId::new(),
            scope,
        };
        let read = Access::Token(Scope::Read);
        let write = Access::Token(Scope::Write);
        assert!(authorize(&anonymous, read, true).is_ok());
        assert!(matches!(
            authorize(&anonymous, read, false),
            Err(ApiError::MissingToken)
        ));
        assert!(matches!(
            authorize(&anonymous, write, true),
            Err(ApiError::MissingToken)
        ));
        assert!(authorize(&anonymous, Access::Public, false).is_ok());
        assert!(authorize(&token(Scope::Read), read, false).is_ok());
        assert!(matches!(
            authorize(&token(Scope::Read), write, true),
            Err(ApiError::InsufficientScope {
                required: Scope::Write,
                scope: Scope::Read
            })
        ));
        assert!(authorize(&token(Scope::Admin), write, true).is_ok());
    }
}
