//! The route table: every `/v1` operation, the access it needs, and its
//! handler, in one list, and beside it the operators' operations outside
//! `/v1` that need a token ([`operator`]) and the public health checks
//! ([`unversioned`]). The server registers them ([`Resources`]) and the
//! OpenAPI spec documents them ([`Operations`]), so neither can drift from
//! the other, and no handler can be routed without stating who may call it.
//!
//! A method a path is not routed for gets `405 Method Not Allowed` with
//! `Allow` naming the methods this table routes on it ([`not_allowed`]),
//! whatever registered the path: every path the server knows is here.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::{Method, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{
    Error, FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, Route, web,
};

use super::{
    actors, changes, event_types, events, health, import, metrics, redactions, revisions, stats,
    streams, timelines, tokens,
};
use crate::auth::middleware::require;
use crate::auth::policy::{ADMIN, ANY_TOKEN, Access, Operation, READ, WRITE};
use crate::idempotency;

/// Every operation below is served under this prefix.
pub const PREFIX: &str = "/v1";

/// Something routes are added to: the server, or the spec.
pub trait RouteTable {
    /// `method` on `path` (below the table's prefix: [`PREFIX`] for [`v1`],
    /// none for the others), served by `handler` to callers with `access`.
    fn add<F, Args>(&mut self, method: Method, path: &'static str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static;
}

/// The API: method, path below [`PREFIX`], who may call it, handler.
#[rustfmt::skip]
pub fn v1(t: &mut impl RouteTable) {
    use Method as M;
    t.add(M::GET,    "/events",                              READ,  events::list_events);
    t.add(M::POST,   "/events",                              WRITE, events::create_event);
    // Before `/events/{id}`, which would take `stream` for an id.
    t.add(M::GET,    "/events/stream",                       READ,  streams::stream_events);
    t.add(M::GET,    "/events/{id}",                         READ,  events::get_event);
    t.add(M::GET,    "/events/by-external-id/{external_id}", READ,  events::get_event_by_external_id);
    t.add(M::PATCH,  "/events/{id}",                         WRITE, events::patch_event);
    t.add(M::PUT,    "/events/{id}",                         WRITE, events::replace_event);
    t.add(M::DELETE, "/events/{id}",                         WRITE, events::delete_event);
    t.add(M::POST,   "/events/{id}/restore",                 WRITE, events::restore_event);
    t.add(M::GET,    "/events/{id}/revisions",               READ,  revisions::list_revisions);
    t.add(M::GET,    "/events/{id}/revisions/{version}",     READ,  revisions::get_revision);
    t.add(M::POST,   "/events/{id}/redaction",               ADMIN, redactions::redact_event);
    t.add(M::GET,    "/timelines",                           READ,  timelines::list_timelines);
    t.add(M::POST,   "/timelines",                           WRITE, timelines::create_timeline);
    t.add(M::GET,    "/timelines/{slug}",                    READ,  timelines::get_timeline);
    t.add(M::PATCH,  "/timelines/{slug}",                    WRITE, timelines::patch_timeline);
    t.add(M::DELETE, "/timelines/{slug}",                    ADMIN, timelines::delete_timeline);
    t.add(M::GET,    "/timelines/{slug}/events",             READ,  timelines::list_timeline_events);
    t.add(M::PUT,    "/timelines/{slug}/events/{id}",        WRITE, timelines::add_timeline_event);
    t.add(M::DELETE, "/timelines/{slug}/events/{id}",        WRITE, timelines::remove_timeline_event);
    t.add(M::GET,    "/event-types",                         READ,  event_types::list_event_types);
    t.add(M::POST,   "/event-types",                         ADMIN, event_types::create_event_type);
    t.add(M::GET,    "/actors",                              READ,  actors::list_actors);
    // Streamed: its body limit is `max_import_bytes`, not the PayloadConfig's.
    t.add(M::POST,   "/import",                              WRITE, import::import_events);
    t.add(M::GET,    "/tokens",                              ADMIN, tokens::list_tokens);
    t.add(M::POST,   "/tokens",                              ADMIN, tokens::create_token);
    t.add(M::GET,    "/tokens/{id}",                         ADMIN, tokens::get_token);
    t.add(M::DELETE, "/tokens/{id}",                         ADMIN, tokens::revoke_token);
    t.add(M::GET,    "/stats/histogram",                     READ,  stats::histogram);
    t.add(M::GET,    "/stats/casualties",                    READ,  stats::casualties);
    t.add(M::GET,    "/changes",                             READ,  changes::list_changes);
    t.add(M::GET,    "/timelines/{slug}/stream",             READ,  streams::stream_timeline);
    t.add(M::POST,   "/stream-tokens",                       ANY_TOKEN, streams::create_stream_token);
}

/// For operators, outside [`PREFIX`] (whole paths), behind the access
/// middleware that identifies the caller (registered in `crate::app`).
#[rustfmt::skip]
pub fn operator(t: &mut impl RouteTable) {
    use Method as M;
    // Also served, without a token, on `CHRONIK_METRICS_ADDR` (a private address).
    t.add(M::GET, "/metrics", ADMIN, metrics::metrics);
}

/// The unversioned operations: health checks, for load balancers and
/// orchestrators, outside `/v1` and its access rules (never rate-limited).
#[rustfmt::skip]
pub fn unversioned(t: &mut impl RouteTable) {
    use Method as M;
    t.add(M::GET, "/healthz", Access::Public, health::healthz);
    t.add(M::GET, "/readyz",  Access::Public, health::readyz);
}

/// The interactive docs (`utoipa-swagger-ui`, registered in `crate::app`),
/// the redirect to them, and the spec: not API operations, but known paths,
/// served to `GET` only, so other methods get `405` there too.
pub const DOCS_UI: &str = "/docs/{_:.*}";
pub const DOCS_REDIRECT: &str = "/docs";
pub const SPEC: &str = "/openapi.json";
const DOCS: [&str; 3] = [DOCS_REDIRECT, DOCS_UI, SPEC];

/// The table as data, for the spec and for tests.
#[derive(Debug)]
pub struct Operations {
    /// What the paths added are below.
    prefix: &'static str,
    pub list: Vec<Operation>,
}

impl RouteTable for Operations {
    fn add<F, Args>(&mut self, method: Method, path: &'static str, access: Access, _: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.list.push(Operation {
            method,
            path: format!("{}{path}", self.prefix),
            access,
        });
    }
}

/// Every operation of [`v1`] and [`operator`] (the health checks are
/// documented by their handlers: public, outside the access rules).
pub fn operations() -> Vec<Operation> {
    let mut table = Operations {
        prefix: PREFIX,
        list: Vec::new(),
    };
    v1(&mut table);
    table.prefix = "";
    operator(&mut table);
    table.list
}

/// The table as actix resources, one per path, each route behind its own
/// access rule (checked after routing) and, for `POST`, `Idempotency-Key`;
/// other methods get [`not_allowed`] with the methods routed on the path.
#[derive(Default)]
pub struct Resources {
    prefix: &'static str,
    resources: Vec<(&'static str, Resource, Vec<Method>)>,
}

impl RouteTable for Resources {
    fn add<F, Args>(&mut self, method: Method, path: &'static str, access: Access, handler: F)
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let route = web::method(method.clone()).to(handler);
        let route = announcing(with_idempotency(route, &method, path), &method);
        // Public operations are served outside the access middleware, which `require` needs.
        let route = match access {
            Access::Public => route,
            _ => route.wrap(from_fn(move |req: ServiceRequest, next: Next<BoxBody>| {
                require(access, req, next)
            })),
        };
        // A path is one resource: actix does not look past the first resource a path matches.
        let at = match self.resources.iter().position(|(p, ..)| *p == path) {
            Some(at) => at,
            None => {
                self.resources.push((path, web::resource(path), Vec::new()));
                self.resources.len() - 1
            }
        };
        let (p, resource, mut methods) = self.resources.remove(at);
        methods.push(method);
        self.resources
            .insert(at, (p, resource.route(route), methods));
    }
}

impl Resources {
    /// The resources of [`v1`], to register under [`PREFIX`].
    pub fn v1() -> Vec<Resource> {
        let mut table = Self {
            prefix: PREFIX,
            ..Self::default()
        };
        v1(&mut table);
        table.finish()
    }

    /// The resources of [`operator`], to register at the root, each to be
    /// wrapped in the access middleware that identifies the caller.
    pub fn operator() -> Vec<Resource> {
        let mut table = Self::default();
        operator(&mut table);
        table.finish()
    }

    /// The resources of [`unversioned`], to register at the root.
    pub fn unversioned() -> Vec<Resource> {
        let mut table = Self::default();
        unversioned(&mut table);
        table.finish()
    }

    fn finish(self) -> Vec<Resource> {
        let prefix = self.prefix;
        self.resources
            .into_iter()
            .map(|(path, resource, methods)| {
                resource.default_service(not_allowed(format!("{prefix}{path}"), methods))
            })
            .collect()
    }
}

/// The [`DOCS`] paths' answer to any method but `GET` (which the docs'
/// own resources serve before this one is reached).
pub fn docs_not_allowed() -> Vec<Resource> {
    DOCS.iter()
        .map(|path| {
            let shown = path.split("{_").next().unwrap_or(path);
            web::resource(*path).default_service(not_allowed(shown.to_owned(), vec![Method::GET]))
        })
        .collect()
}

/// `405 Method Not Allowed` for `path`, with `Allow` naming `methods`. The
/// app's error handler makes it problem+json, with this detail, keeping `Allow`.
fn not_allowed(path: String, methods: Vec<Method>) -> Route {
    let allow = methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    web::to(move |req: HttpRequest| {
        let detail = format!(
            "{} is not a method of {path}; it allows {allow}",
            req.method()
        );
        let response = HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, allow.clone()))
            .finish();
        std::future::ready(Err::<HttpResponse, _>(Error::from(
            InternalError::from_response(detail, response),
        )))
    })
}

/// `POST`s take `Idempotency-Key`, except those whose body is streamed, which refuse it.
fn with_idempotency(route: Route, method: &Method, path: &str) -> Route {
    if *method != Method::POST {
        return route;
    }
    if idempotency::STREAMED_BODIES.contains(&format!("{PREFIX}{path}").as_str()) {
        route.wrap(from_fn(idempotency::refuse_key))
    } else {
        route.wrap(from_fn(idempotency::idempotency))
    }
}

/// Routes that write tell the live streams when they have committed.
fn announcing(route: Route, method: &Method) -> Route {
    if matches!(*method, Method::GET | Method::HEAD) {
        return route;
    }
    route.wrap(from_fn(super::streams::announce_writes))
}

/// What [`Resources`] route responses look like, for the middleware signatures.
pub type RouteResponse = Result<ServiceResponse<BoxBody>, Error>;
