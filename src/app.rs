//! Builds the actix application: routes, middleware, shared state.

use actix_web::body::EitherBody;
use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::{self, AccessSettings};
use crate::bulk::Slots;
use crate::config::Config;
use crate::db::{self, DbPool};
use crate::error::{ApiError, PROBLEM_JSON, Problem, problem_response};
use crate::idempotency::{self, IdempotencySettings};
use crate::openapi::ApiDoc;
use crate::rate_limit::RateLimiters;
use crate::routes::{
    actors, event_types, events, health, import, revisions, stats, timelines, tokens,
};

#[derive(Clone)]
pub struct AppState {
    /// This worker's own connections (see [`worker_pools`]).
    pub pool: DbPool,
    /// Connections for streaming exports, shared by all workers.
    pub exports: Slots,
    /// Connections for `POST /v1/import`, shared by all workers.
    pub imports: Slots,
    /// Largest `POST /v1/import` body, in bytes (`CHRONIK_MAX_IMPORT_BYTES`).
    pub max_import_bytes: u64,
    /// Largest record of an import (`CHRONIK_MAX_IMPORT_RECORD_BYTES`).
    pub import_limits: crate::import::Limits,
    /// Writes to existing events need `If-Match` (`CHRONIK_REQUIRE_IF_MATCH`).
    pub require_if_match: bool,
}

/// Creates the database if needed, applies migrations and opens the pool.
pub async fn prepare_database(config: &Config) -> anyhow::Result<DbPool> {
    db::ensure_database_exists(&config.database_url).await?;
    db::run_migrations(&config.database_url).await?;
    db::build_pool(&config.database_url, config.db_pool_size)
}

/// One pool per HTTP worker, together `CHRONIK_DB_POOL_SIZE` connections
/// (rounded up to a multiple of the workers).
/// A connection's I/O runs as a task on the thread that opened it; with one
/// pool shared by all workers, a query from another worker cost two thread
/// wake-ups (measured: 7,200 → 10,200 reads by id per second on 2 cores with
/// a pool per worker, bench/README.md). Each worker's pool opens its
/// connections lazily, from that worker's requests, so they stay on it.
fn worker_pools(config: &Config, workers: usize) -> anyhow::Result<Vec<DbPool>> {
    let per_worker = config.db_pool_size.div_ceil(workers).max(1);
    (0..workers)
        .map(|_| db::build_pool(&config.database_url, per_worker))
        .collect()
}

/// Starts serving on `listener`; the returned server runs until stopped.
pub fn run(listener: TcpListener, config: &Config) -> anyhow::Result<Server> {
    let workers = config.workers();
    let pools = worker_pools(config, workers)?;
    let base = AppState {
        pool: pools[0].clone(),
        exports: Slots::new(
            &config.database_url,
            config.max_exports(),
            "exports",
            "CHRONIK_MAX_EXPORTS",
        )?,
        imports: Slots::new(
            &config.database_url,
            config.max_imports.max(1),
            "imports",
            "CHRONIK_MAX_IMPORTS",
        )?,
        max_import_bytes: config.max_import_bytes,
        import_limits: config.import_limits(),
        require_if_match: config.require_if_match,
    };
    // actix calls the factory once per worker (again for a worker it
    // restarts): each call takes the next pool.
    let next_pool = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let max_body = config.max_body_bytes;
    // Built once, outside the worker factory: every worker counts in the same buckets.
    let access = web::Data::new(AccessSettings {
        public_reads: config.public_reads,
        trusted_proxies: config.trusted_proxies.0.clone(),
        limits: RateLimiters::new(config.rate_limit_anonymous, config.rate_limit_token),
    });
    let idempotency = web::Data::new(IdempotencySettings {
        max_body_bytes: max_body,
    });
    let cors_origins = config.cors_origins.clone();
    let server = HttpServer::new(move || {
        let n = next_pool.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let state = web::Data::new(AppState {
            pool: pools[n % pools.len()].clone(),
            ..base.clone()
        });
        App::new()
            // Innermost of these: its 400 is logged and gets CORS headers like any answer.
            .wrap(from_fn(crate::control_chars::reject_in_url))
            .wrap(crate::cors::cors(cors_origins.as_ref()))
            .wrap(ErrorHandlers::new().default_handler(as_problem))
            .wrap(TracingLogger::default())
            .app_data(state.clone())
            .app_data(access.clone())
            .app_data(idempotency.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|err, _| query_error(&err.to_string()).into()),
            )
            .configure(routes)
    })
    .workers(workers)
    .listen(listener)?;
    Ok(server.run())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1")
            // The last wrap runs first: access (who, how often, may they), then
            // idempotency, then conditional reads (closest to the handlers, so
            // that they see the body the handler made).
            .wrap(from_fn(crate::conditional::conditional_get))
            .wrap(from_fn(idempotency::idempotency))
            .wrap(from_fn(auth::middleware::access))
            .service(
                web::resource("/events")
                    .get(events::list_events)
                    .post(events::create_event),
            )
            .service(
                web::resource("/events/{id}")
                    .get(events::get_event)
                    .patch(events::patch_event)
                    .put(events::replace_event)
                    .delete(events::delete_event),
            )
            .service(web::resource("/events/{id}/restore").post(events::restore_event))
            .service(web::resource("/events/{id}/revisions").get(revisions::list_revisions))
            .service(web::resource("/events/{id}/revisions/{version}").get(revisions::get_revision))
            .service(
                web::resource("/timelines")
                    .get(timelines::list_timelines)
                    .post(timelines::create_timeline),
            )
            .service(
                web::resource("/timelines/{slug}")
                    .get(timelines::get_timeline)
                    .patch(timelines::patch_timeline)
                    .delete(timelines::delete_timeline),
            )
            .service(web::resource("/timelines/{slug}/events").get(timelines::list_timeline_events))
            .service(
                web::resource("/timelines/{slug}/events/{id}")
                    .put(timelines::add_timeline_event)
                    .delete(timelines::remove_timeline_event),
            )
            .service(
                web::resource("/event-types")
                    .get(event_types::list_event_types)
                    .post(event_types::create_event_type),
            )
            .service(web::resource("/actors").get(actors::list_actors))
            // Streamed: its body limit is `max_import_bytes`, not the PayloadConfig's.
            .service(web::resource("/import").post(import::import_events))
            .service(
                web::resource("/tokens")
                    .get(tokens::list_tokens)
                    .post(tokens::create_token),
            )
            .service(
                web::resource("/tokens/{id}")
                    .get(tokens::get_token)
                    .delete(tokens::revoke_token),
            )
            .service(web::resource("/stats/histogram").get(stats::histogram))
            .service(web::resource("/stats/casualties").get(stats::casualties)),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .route(
        "/docs",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, "/docs/"))
                .finish()
        }),
    )
    .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()));
}

/// Unknown and repeated query parameters are named; other parse errors are passed on as they are.
fn query_error(message: &str) -> ApiError {
    let field = ["unknown field `", "duplicate field `"]
        .iter()
        .find_map(|marker| message.split_once(marker))
        .and_then(|(_, rest)| rest.split('`').next())
        .unwrap_or("query");
    ApiError::field(field, message)
}

/// Turns errors produced outside our handlers (unknown routes, wrong methods,
/// oversized bodies) into problem+json as well.
fn as_problem<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let title = status.canonical_reason().unwrap_or("Error").to_owned();
    let detail = match res.response().error() {
        Some(err) if !status.is_server_error() => err.to_string(),
        _ => title.clone(),
    };
    let problem = Problem {
        problem_type: "about:blank".into(),
        title,
        status: status.as_u16(),
        detail,
        errors: Vec::new(),
        current_version: None,
        total_errors: None,
        invalid_records: None,
    };
    let (req, original) = res.into_parts();
    let mut response = problem_response(status, &problem);
    // Keep what other layers added (Allow, CORS, rate-limit headers); only the body changes.
    let own: Vec<_> = response.headers().keys().cloned().collect();
    for (name, value) in original.headers() {
        if !own.contains(name) && name != header::CONTENT_LENGTH {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    let res = ServiceResponse::new(req, response).map_body(|_, body| EitherBody::right(body));
    Ok(ErrorHandlerResponse::Response(res))
}
