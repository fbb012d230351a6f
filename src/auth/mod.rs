//! Who is calling, and may they? Bearer tokens with scopes.
//!
//! [`middleware::access`] runs in front of every `/v1` route: it charges the
//! client's rate-limit bucket, identifies the caller (a token or an anonymous
//! client IP) and leaves the [`Caller`] in the request. Then, once actix has
//! routed the request, [`middleware::require`] on the route that runs checks
//! the caller against the access that route states ([`policy`]). Handlers
//! take the caller as an extractor to record who made a change.

pub mod client_ip;
pub mod middleware;
pub mod openapi;
pub mod policy;
pub mod secret;
pub mod usage;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use std::future::{Ready, ready};
use std::net::IpAddr;
use std::sync::Arc;

use client_ip::ProxyTrust;

use crate::error::ApiError;
use crate::models::revision::ChangeMeta;
use crate::models::token::{Scope, TokenId};
use crate::rate_limit::store::Limiter;

/// Access settings shared by all workers.
/// The query parameter that carries a stream token: accepted on the live
/// streams only, and never logged.
pub const QUERY_TOKEN: &str = "access_token";

pub struct AccessSettings {
    /// Whether reads need no token (`CHRONIK_PUBLIC_READS`).
    pub public_reads: bool,
    /// Whose forwarding header names the client (`CHRONIK_TRUSTED_PROXIES`, `CHRONIK_CLIENT_IP_HEADER`).
    pub proxies: ProxyTrust,
    /// Rate limits, in memory or shared (`CHRONIK_RATE_LIMIT_STORE`).
    pub limits: Limiter,
    /// Tokens whose use is to be recorded (`last_used_at`), by a task of its own.
    pub uses: Arc<usage::TokenUses>,
}

/// Who made a request, as the access middleware established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// `ip` is the client's address as per-client limits count it: IPv6
    /// reduced to its network (`CHRONIK_RATE_LIMIT_IPV6_PREFIX`).
    Anonymous {
        ip: IpAddr,
    },
    Token {
        id: TokenId,
        scope: Scope,
    },
}

impl Caller {
    pub fn token_id(&self) -> Option<TokenId> {
        match self {
            Self::Token { id, .. } => Some(*id),
            Self::Anonymous { .. } => None,
        }
    }

    /// Change metadata naming this caller as the author: the token id, never its secret.
    pub fn change_meta(&self) -> ChangeMeta {
        ChangeMeta {
            author: self.token_id().map(|id| id.to_string()),
            ..ChangeMeta::default()
        }
    }

    /// A stable name for state kept per caller, such as idempotency keys.
    pub fn key(&self) -> String {
        match self {
            Self::Token { id, .. } => format!("token:{id}"),
            Self::Anonymous { ip } => format!("ip:{ip}"),
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Caller>().cloned().ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "{} is not behind the access middleware",
                req.path()
            ))
        }))
    }
}
