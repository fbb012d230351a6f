//! The access middleware: identify, rate-limit, authorize.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use std::net::IpAddr;

use super::client_ip::client_ip;
use super::policy::{self, Access};
use super::{AccessSettings, Caller};
use crate::app::AppState;
use crate::db::{self, DbPool, tokens::Authentication};
use crate::error::ApiError;
use crate::models::token::Scope;
use crate::rate_limit::{self, Bucket, Decision};

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
    let ip = client_ip(req.peer_addr(), req.headers(), &settings.trusted_proxies);
    let identified = identify(&state.pool, req.headers(), ip).await;
    // Bad tokens count against the client's address, so guessing costs like any anonymous request.
    let bucket = match &identified {
        Ok(Caller::Token { id, .. }) => Bucket::Token(*id),
        _ => Bucket::Ip(ip),
    };
    let decision = settings.limits.check(bucket);
    let required = policy::required(req.method(), req.match_pattern().as_deref());
    let admitted = match decision {
        Decision::Denied { retry_after, .. } => Err(ApiError::RateLimited { retry_after }),
        _ => identified.and_then(|caller| {
            authorize(&caller, required, settings.public_reads).map(|()| caller)
        }),
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

/// The caller named by the `Authorization` header, or an anonymous one without it.
async fn identify(pool: &DbPool, headers: &HeaderMap, ip: IpAddr) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous { ip });
    };
    let presented = bearer_token(value.to_str().unwrap_or("")).ok_or_else(|| {
        ApiError::InvalidToken("the Authorization header must be `Bearer <token>`".into())
    })?;
    let mut conn = pool.get().await?;
    match db::tokens::authenticate(&mut conn, presented).await? {
        Authentication::Valid { id, scope } => Ok(Caller::Token { id, scope }),
        Authentication::Unknown => Err(ApiError::InvalidToken("unknown token".into())),
        Authentication::Expired => Err(ApiError::InvalidToken("the token has expired".into())),
        Authentication::Revoked => Err(ApiError::InvalidToken("the token has been revoked".into())),
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
