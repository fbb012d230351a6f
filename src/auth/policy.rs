//! What an operation requires of its caller.
//!
//! Every operation states its [`Access`] where it is routed (the route table,
//! `routes::table`), and the rule is enforced by a middleware on that route
//! alone, after actix has matched it: the rule that runs is the rule of the
//! handler that runs, whatever spelling of the path reached it (`%74okens`,
//! `//`, `;`…). A path that matches no route is a `404`: nothing is served
//! under a default rule. The OpenAPI spec's `security` is generated from the
//! same table, and a test checks it against the running server.

use actix_web::http::Method;

use crate::models::token::Scope;

/// What an operation requires of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, always (health checks, the spec, the docs).
    Public,
    /// A token with at least this scope; `Scope::Read` alone is waived while reads are public.
    Token(Scope),
    /// A token of any scope, even while reads are public (what it does is
    /// only meaningful for a caller that has one).
    AnyToken,
}

/// Reads: public unless `CHRONIK_PUBLIC_READS=false`.
pub const READ: Access = Access::Token(Scope::Read);
/// Stream tokens: only a caller with a token can hand one on.
pub const ANY_TOKEN: Access = Access::AnyToken;
/// Changes to events, timelines and imports.
pub const WRITE: Access = Access::Token(Scope::Write);
/// Tokens, the event-type vocabulary, deleting timelines, redacting history.
pub const ADMIN: Access = Access::Token(Scope::Admin);

/// One operation of the API: a method on a route pattern, and who may call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub method: Method,
    /// The pattern as registered, with its `/v1` prefix, as the spec names it.
    pub path: String,
    pub access: Access,
}
