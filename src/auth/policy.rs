//! Who may call what: the one table of access rules.
//!
//! The rule is chosen by method and route pattern. Reads (`GET`, `HEAD`) need
//! `read` (public unless `CHRONIK_PUBLIC_READS=false`); every other method
//! needs `write`; the operations listed in [`ADMIN_ONLY`] need `admin`. So a
//! new endpoint is protected the moment it is registered: a write route
//! cannot be left open by forgetting a guard. The same function decides
//! what the OpenAPI spec declares (`security` on each operation), and a test
//! checks that spec against the running server for every operation.

use actix_web::http::Method;

use crate::models::token::Scope;

/// What an operation requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, always (health checks, the spec, the docs).
    Public,
    /// A token with at least this scope; `Scope::Read` alone is waived while reads are public.
    Token(Scope),
}

/// Operations only admins may call: `(method, route pattern)`; `*` is any method.
pub const ADMIN_ONLY: &[(&str, &str)] = &[
    ("POST", "/v1/event-types"),
    ("DELETE", "/v1/timelines/{slug}"),
    ("*", "/v1/tokens"),
    ("*", "/v1/tokens/{id}"),
];

/// Every route under this prefix is behind the access rules; the rest is public.
pub const PROTECTED_PREFIX: &str = "/v1/";

/// The access rule for a request with `method` on the route `pattern`
/// (`None` for a path that matches no route: it gets the method's default).
pub fn required(method: &Method, pattern: Option<&str>) -> Access {
    if let Some(pattern) = pattern {
        if !pattern.starts_with(PROTECTED_PREFIX) {
            return Access::Public;
        }
        let admin = ADMIN_ONLY
            .iter()
            .any(|(m, p)| *p == pattern && (*m == "*" || *m == method.as_str()));
        if admin {
            return Access::Token(Scope::Admin);
        }
    }
    if is_read(method) {
        Access::Token(Scope::Read)
    } else {
        Access::Token(Scope::Write)
    }
}

/// Methods that only read. `OPTIONS` reaching the app (not a CORS preflight,
/// which is answered before) only lists what is allowed.
pub fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_need_read_writes_need_write() {
        let events = Some("/v1/events/{id}");
        assert_eq!(required(&Method::GET, events), Access::Token(Scope::Read));
        assert_eq!(
            required(&Method::PATCH, events),
            Access::Token(Scope::Write)
        );
        assert_eq!(
            required(&Method::DELETE, events),
            Access::Token(Scope::Write)
        );
        // A route added tomorrow is protected without anyone remembering to.
        assert_eq!(
            required(&Method::POST, Some("/v1/events/{id}/restore")),
            Access::Token(Scope::Write)
        );
        assert_eq!(required(&Method::PUT, None), Access::Token(Scope::Write));
    }

    #[test]
    fn admin_operations_are_listed() {
        assert_eq!(
            required(&Method::POST, Some("/v1/event-types")),
            Access::Token(Scope::Admin)
        );
        assert_eq!(
            required(&Method::GET, Some("/v1/event-types")),
            Access::Token(Scope::Read)
        );
        assert_eq!(
            required(&Method::DELETE, Some("/v1/timelines/{slug}")),
            Access::Token(Scope::Admin)
        );
        assert_eq!(
            required(&Method::PATCH, Some("/v1/timelines/{slug}")),
            Access::Token(Scope::Write)
        );
        assert_eq!(
            required(&Method::GET, Some("/v1/tokens/{id}")),
            Access::Token(Scope::Admin)
        );
    }

    #[test]
    fn service_routes_are_public() {
        assert_eq!(required(&Method::GET, Some("/healthz")), Access::Public);
        assert_eq!(
            required(&Method::GET, Some("/openapi.json")),
            Access::Public
        );
    }
}
