//! What the OpenAPI spec says about access, derived from the route table's
//! [`Operation`]s: the bearer scheme, `security` on every operation, the
//! `401`/`403`/`429` responses, and `Idempotency-Key` on every `POST`.
//! Generated from the same table the server routes by, so an operation added
//! later is documented correctly without anyone remembering to. A `/v1`
//! operation missing from the table gets no `security` at all, which the
//! spec tests refuse.

use actix_web::http::Method;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation as PathOperation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    Content, ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Required, Response,
    ResponseBuilder, Type,
};

use super::policy::{Access, Operation};
use crate::error::{IDEMPOTENCY_KEY, PROBLEM_JSON};
use crate::models::token::Scope;

pub const SCHEME: &str = "bearer_token";

/// Operations under this prefix are documented only from the route table; the rest are public.
const PROTECTED_PREFIX: &str = "/v1/";

/// Documents access on every operation of `openapi` by the rules of `operations`.
pub fn document_access(openapi: &mut OpenApi, operations: &[Operation]) {
    {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("chronik_<43 base64url characters>")
                    .description(Some(
                        "An API token: `Authorization: Bearer <secret>`. Scopes: `read` ⊂ `write` ⊂ `admin`. \
                         Create tokens with `chronik token create` or `POST /v1/tokens`.",
                    ))
                    .build(),
            ),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let methods = [
                (Method::GET, &mut item.get),
                (Method::POST, &mut item.post),
                (Method::PUT, &mut item.put),
                (Method::PATCH, &mut item.patch),
                (Method::DELETE, &mut item.delete),
                (Method::HEAD, &mut item.head),
            ];
            for (method, operation) in methods {
                let Some(operation) = operation else {
                    continue;
                };
                let rule = operations
                    .iter()
                    .find(|op| op.method == method && op.path == *path)
                    .map(|op| op.access);
                match rule {
                    Some(access) => document(operation, &method, path, access),
                    None if !path.starts_with(PROTECTED_PREFIX) => {
                        document(operation, &method, path, Access::Public)
                    }
                    None => {}
                }
            }
        }
    }
}

fn document(operation: &mut PathOperation, method: &Method, path: &str, access: Access) {
    operation.security = Some(security(access));
    let responses = &mut operation.responses.responses;
    let (scope, waived) = match access {
        Access::Public => return,
        Access::AnyToken => (Scope::Read, false),
        Access::Token(scope) => (scope, scope == Scope::Read),
    };
    responses.entry("401".into()).or_insert_with(|| {
        problem(if waived {
            "The token is missing (only when `CHRONIK_PUBLIC_READS=false`), unknown, expired or revoked; \
             see `WWW-Authenticate`"
        } else {
            "The token is missing, unknown, expired or revoked; see `WWW-Authenticate`"
        })
        .into()
    });
    if scope > Scope::Read {
        responses.entry("403".into()).or_insert_with(|| {
            problem(&format!(
                "The token's scope does not include `{scope}` (`WWW-Authenticate: Bearer error=\"insufficient_scope\"`)"
            ))
            .into()
        });
    }
    responses
        .entry("429".into())
        .or_insert_with(|| too_many_requests().into());
    if *method == Method::POST && !crate::idempotency::STREAMED_BODIES.contains(&path) {
        document_idempotency(operation);
    }
}

fn security(access: Access) -> Vec<SecurityRequirement> {
    match access {
        // `{}` alone: no credentials needed.
        Access::Public => vec![SecurityRequirement::default()],
        // Optional: anonymous while reads are public, otherwise any token.
        Access::Token(Scope::Read) => vec![
            SecurityRequirement::default(),
            SecurityRequirement::new(SCHEME, [Scope::Read.as_str()]),
        ],
        Access::Token(scope) => vec![SecurityRequirement::new(SCHEME, [scope.as_str()])],
        // Any token: `read` is the least scope there is.
        Access::AnyToken => vec![SecurityRequirement::new(SCHEME, [Scope::Read.as_str()])],
    }
}

fn document_idempotency(operation: &mut PathOperation) {
    let parameter = ParameterBuilder::new()
        .name(IDEMPOTENCY_KEY)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "A unique value (such as a UUID) that makes retries safe: a retry with the same key and the \
             same request gets the first (successful) response again, with `Idempotent-Replayed: true`, \
             instead of running twice. Keys are kept 24 hours per token.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .examples([serde_json::json!("5b0b6a8e-3a3c-4a8a-9d36-2a1f0f6c1e42")]),
        ))
        .build();
    operation
        .parameters
        .get_or_insert_with(Vec::new)
        .push(parameter.into());
    let responses = &mut operation.responses.responses;
    extend(
        responses
            .entry("409".into())
            .or_insert_with(|| problem("Conflict").into()),
        "the first request with this `Idempotency-Key` is still running (retry after `Retry-After` seconds)",
    );
    extend(
        responses
            .entry("422".into())
            .or_insert_with(|| problem("Invalid request").into()),
        "this `Idempotency-Key` was used for a different request (`errors[].field` is `Idempotency-Key`)",
    );
}

/// Appends another cause to a response's description.
fn extend(response: &mut RefOr<Response>, cause: &str) {
    if let RefOr::T(response) = response {
        response.description = format!("{}; or {cause}", response.description);
    }
}

pub(crate) fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, problem_content())
        .build()
}

/// The body of every error response: a [`crate::error::Problem`].
pub(crate) fn problem_content() -> Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
}

fn too_many_requests() -> Response {
    let mut response =
        problem("Rate limit exceeded for this token or (without one) this client IP");
    for (name, description) in [
        (
            "Retry-After",
            "Seconds until a request will be accepted again",
        ),
        (
            "RateLimit-Limit",
            "Requests the bucket holds (also sent on successful responses)",
        ),
        ("RateLimit-Remaining", "Requests left now: 0 here"),
        ("RateLimit-Reset", "Seconds until the bucket is full again"),
    ] {
        response
            .headers
            .insert(name.into(), integer_header(description).into());
    }
    response
}

pub(crate) fn integer_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
        .description(Some(description))
        .build()
}
