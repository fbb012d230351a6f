//! Cross-origin access for browser apps (`actix-cors`).
//!
//! Any origin may read (`GET`, `HEAD`), since reads are what a public archive
//! is for. Origins listed in `CHRONIK_CORS_ORIGINS` may also write; `*` lets
//! every origin write. No cookies are involved (tokens travel in the
//! `Authorization` header), so credentials are never allowed.

use actix_cors::Cors;
use actix_web::dev::RequestHead;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use std::fmt;

use crate::rate_limit;

/// Which origins may write, from `CHRONIK_CORS_ORIGINS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: every origin may use every method.
    Any,
    /// These origins (`https://newsroom.example`) may use every method.
    List(Vec<String>),
}

impl std::str::FromStr for CorsOrigins {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        if raw.trim() == "*" {
            return Ok(Self::Any);
        }
        let origins = raw
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(|origin| {
                let (scheme, rest) = origin.split_once("://").unwrap_or(("", ""));
                let valid = matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && !rest.contains(['/', '?', '#', ' ']);
                if valid {
                    Ok(origin.to_ascii_lowercase())
                } else {
                    Err(format!(
                        "`{origin}` is not an origin such as `https://newsroom.example` or `http://localhost:3000` (no path, no trailing slash)"
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::List(origins))
    }
}

impl fmt::Display for CorsOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::List(list) => f.write_str(&list.join(",")),
        }
    }
}

const READ_METHODS: [Method; 2] = [Method::GET, Method::HEAD];
const ALL_METHODS: [Method; 6] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The CORS middleware for `origins` (`None`: reads from any origin only).
pub fn cors(origins: Option<&CorsOrigins>) -> Cors {
    let request_headers = [
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        HeaderName::from_static("idempotency-key"),
        // Resuming a stream from a script (EventSource sends it by itself).
        HeaderName::from_static("last-event-id"),
        HeaderName::from_static(crate::models::position::POSITION_HEADER),
    ];
    let exposed = [
        header::ETAG,
        header::LINK,
        header::LOCATION,
        header::RETRY_AFTER,
        header::WWW_AUTHENTICATE,
        rate_limit::LIMIT,
        rate_limit::REMAINING,
        rate_limit::RESET,
        crate::error::REPLAYED,
        HeaderName::from_static(crate::models::position::POSITION_HEADER),
        HeaderName::from_static(crate::models::change::NEXT_CURSOR_HEADER),
    ];
    let base = Cors::default()
        .allowed_headers(request_headers)
        .expose_headers(exposed)
        .max_age(3600);
    match origins {
        Some(CorsOrigins::Any) => base
            .allow_any_origin()
            .send_wildcard()
            .allowed_methods(ALL_METHODS),
        Some(CorsOrigins::List(list)) => {
            let list = list.clone();
            base.allowed_methods(ALL_METHODS)
                .allowed_origin_fn(move |origin, head| {
                    reads_only(head) || list.iter().any(|o| origin.as_bytes() == o.as_bytes())
                })
        }
        None => base
            .allowed_methods(READ_METHODS)
            .allowed_origin_fn(|_, head| reads_only(head)),
    }
}

/// Whether the request (or, for a preflight, the request it announces) only reads.
fn reads_only(head: &RequestHead) -> bool {
    let method = if head.method == Method::OPTIONS {
        head.headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v: &HeaderValue| Method::from_bytes(v.as_bytes()).ok())
    } else {
        Some(head.method.clone())
    };
    method.is_some_and(|m| READ_METHODS.contains(&m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse() {
        assert_eq!("*".parse(), Ok(CorsOrigins::Any));
        assert_eq!(
            "https://a.example, http://localhost:3000".parse(),
            Ok(CorsOrigins::List(vec![
                "https://a.example".into(),
                "http://localhost:3000".into()
            ]))
        );
        assert!("https://a.example/".parse::<CorsOrigins>().is_err());
        assert!("a.example".parse::<CorsOrigins>().is_err());
    }
}
