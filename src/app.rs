//! Builds the actix application: routes, middleware, shared state.

use actix_web::body::EitherBody;
use actix_web::dev::{Server, ServerHandle, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::usage::{self, TokenUses};
use crate::auth::{self, AccessSettings};
use crate::bulk::{Limits, Slots};
use crate::config::Config;
use crate::db::replicas::{ReadPools, Replica};
use crate::db::{self, DbPool};
use crate::error::{ApiError, PROBLEM_JSON, Problem, body_too_large, problem_response};
use crate::idempotency::IdempotencySettings;
use crate::openapi::ApiDoc;
use crate::rate_limit::store::{self, Limiter};
use crate::rate_limit::{self, RateLimiters};
use crate::routes::table;
use crate::state::AppState;
use crate::telemetry::scrape::Scrape;
use crate::telemetry::{RequestSpan, metrics, request_log};

/// Creates the database if needed, applies migrations and opens the pool.
pub async fn prepare_database(config: &Config) -> anyhow::Result<DbPool> {
    db::ensure_database_exists(&config.database_url).await?;
    db::run_migrations(&config.database_url).await?;
    db::build_pool(&config.database_url, config.db_pool_size)
}

/// Opens the pool on a database that already has exactly this binary's
/// migrations, changing nothing: an error says what to do otherwise.
pub async fn open_migrated_database(config: &Config) -> anyhow::Result<DbPool> {
    db::schema_check::ensure_current(&config.database_url).await?;
    db::build_pool(&config.database_url, config.db_pool_size)
}

/// One pool per HTTP worker, together `CHRONIK_DB_POOL_SIZE` connections
/// (rounded up to a multiple of the workers).
/// A connection's I/O runs as a task on the thread that opened it; with one
/// pool shared by all workers, a query from another worker costs two thread
/// wake-ups (bench/README.md, "Design choices measured"). Each worker's pool opens its
/// connections lazily, from that worker's requests, so they stay on it.
fn worker_pools(config: &Config, workers: usize) -> anyhow::Result<Vec<DbPool>> {
    let per_worker = config.db_pool_size.div_ceil(workers).max(1);
    (0..workers)
        .map(|_| db::build_pool_with(&config.database_url, per_worker, config.request_session()))
        .collect()
}

/// Each worker's reads: its primary pool of `primaries`, and pools of its
/// own on every standby of `DATABASE_READ_URL`, sized like the primary's.
fn worker_reads(config: &Config, primaries: &[DbPool]) -> anyhow::Result<Vec<ReadPools>> {
    let per_worker = config.db_pool_size.div_ceil(primaries.len().max(1)).max(1);
    primaries
        .iter()
        .map(|primary| {
            let replicas = config
                .database_read_url
                .iter()
                .map(|url| Replica::new(url, per_worker, config.request_session()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok(ReadPools::new(primary.clone(), replicas.into()))
        })
        .collect()
}

/// Live streams read the feed on a few connections of their own, whatever
/// the number of streams (one read per filter and change, not per stream).
const LIVE_POOL_SIZE: usize = 4;

/// The hub of live streams, with its listener started.
fn live_hub(config: &Config) -> anyhow::Result<Arc<crate::live::Hub>> {
    if config.streams.stream_token_ttl.0.is_none() {
        anyhow::bail!("CHRONIK_STREAM_TOKEN_TTL cannot be `off`: stream tokens must expire");
    }
    let pool = db::build_pool(&config.database_url, LIVE_POOL_SIZE)?;
    let hub = crate::live::Hub::new(pool, config.streams.clone());
    crate::live::listener::spawn(&hub, config.database_url.clone());
    crate::live::close_on_shutdown(&hub);
    Ok(hub)
}

/// Starts serving on `listener`, and `/metrics` alone on
/// `CHRONIK_METRICS_ADDR` if set; the returned server runs until stopped.
pub fn run(listener: TcpListener, config: &Config) -> anyhow::Result<Server> {
    let metrics_listener = match &config.metrics_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .map_err(|e| anyhow::anyhow!("binding CHRONIK_METRICS_ADDR {addr}: {e}"))?,
        ),
        None => None,
    };
    run_with(listener, metrics_listener, config)
}

/// Starts serving the API on `listener` and, if given, `/metrics` without
/// a token on `metrics_listener` (the private address), which stops when
/// the API's server does.
pub fn run_with(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: &Config,
) -> anyhow::Result<Server> {
    let workers = config.workers();
    let pools = worker_pools(config, workers)?;
    let first_pool = pools
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no HTTP worker to serve with"))?;
    let reads = worker_reads(config, &pools)?;
    let first_reads = reads
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no HTTP worker to serve with"))?;
    let base = AppState {
        pool: first_pool.clone(),
        reads: first_reads.clone(),
        exports: Slots::new(&config.database_url, Limits::exports(config))?,
        imports: Slots::new(&config.database_url, Limits::imports(config))?,
        max_import_bytes: config.max_import_bytes,
        import_limits: config.import_limits(),
        require_if_match: config.require_if_match,
        readiness: Arc::default(),
        vocabulary: Arc::default(),
        live: live_hub(config)?,
    };
    let scrape = web::Data::new(Scrape::new(
        metrics::install().map_err(|e| anyhow::anyhow!(e))?,
        vec![
            ("requests", pools.clone()),
            ("exports", vec![base.exports.pool().clone()]),
            ("imports", vec![base.imports.pool().clone()]),
            ("live", vec![base.live.pool().clone()]),
            (
                "replicas",
                reads.iter().flat_map(ReadPools::replica_pools).collect(),
            ),
        ]
        .into_iter()
        // Without standbys, no `replicas` series.
        .filter(|(_, pools)| !pools.is_empty())
        .collect(),
    ));
    // Held by every worker's factory: when the API's server is gone, so is this one.
    let private_metrics = match metrics_listener {
        Some(listener) => Some(Arc::new(StopsWith(serve_metrics(listener, &scrape)?))),
        None => None,
    };
    // actix calls the factory once per worker (again for a worker it
    // restarts): each call takes the next pool.
    let next_pool = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let max_body = config.max_body_bytes;
    // Built once, outside the worker factory: every worker counts in the same buckets.
    let limits = Arc::new(RateLimiters::new(
        config.rate_limit_anonymous,
        config.rate_limit_token,
        config.rate_limit_ipv6_prefix,
    ));
    rate_limit::spawn_sweeper(&limits, rate_limit::SWEEP_EVERY);
    let limits = Limiter::new(
        limits,
        &config.rate_limit_store,
        config.rate_limit_anonymous,
        config.rate_limit_token,
    )?;
    // One connection for the background writes: token uses once a second,
    // full shared buckets once a minute.
    let background = db::build_pool_with(&config.database_url, 1, config.request_session())?;
    store::spawn_sweeper(&limits, background.clone(), rate_limit::SWEEP_EVERY);
    let uses = Arc::new(TokenUses::default());
    usage::spawn_writer(&uses, background, usage::WRITE_EVERY);
    let access = web::Data::new(AccessSettings {
        public_reads: config.public_reads,
        proxies: config.proxy_trust(),
        limits,
        uses,
    });
    let idempotency = web::Data::new(IdempotencySettings {
        max_body_bytes: max_body,
    });
    let cors_origins = config.cors_origins.clone();
    let server = HttpServer::new(move || {
        let _stops_with_this_server = &private_metrics;
        let n = next_pool.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let state = web::Data::new(AppState {
            pool: pools.get(n % pools.len()).unwrap_or(&first_pool).clone(),
            reads: reads.get(n % reads.len()).unwrap_or(&first_reads).clone(),
            ..base.clone()
        });
        App::new()
            // Innermost of these: its 400 is logged and gets CORS headers like any answer.
            // After the handler, so after the write's commit: its position.
            .wrap(from_fn(crate::read_your_writes::stamp_writes))
            .wrap(from_fn(crate::control_chars::reject_in_url))
            .wrap(crate::cors::cors(cors_origins.as_ref()))
            .wrap(ErrorHandlers::new().default_handler(move |res| as_problem(res, max_body)))
            .wrap(TracingLogger::<RequestSpan>::new())
            // Outermost: the request id comes first (the request span logs
            // it), and the request's line is written last.
            .wrap(from_fn(request_log::track))
            .app_data(state.clone())
            .app_data(scrape.clone())
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
    // After SIGTERM: in-flight requests get this long, then are cut off.
    .shutdown_timeout(config.shutdown_timeout.whole_seconds())
    .listen(listener)?;
    Ok(server.run())
}

/// Serves `GET /metrics`, and nothing else, without a token on `listener`:
/// an address only the scraper can reach (`CHRONIK_METRICS_ADDR`).
fn serve_metrics(
    listener: TcpListener,
    scrape: &web::Data<Scrape>,
) -> anyhow::Result<ServerHandle> {
    let scrape = scrape.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(scrape.clone())
            .route("/metrics", web::get().to(crate::routes::metrics::metrics))
    })
    .workers(1)
    // It stops with the API's server (see `StopsWith`), not on a signal of
    // its own: while the API drains its requests, it is still scraped.
    .disable_signals()
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(handle)
}

/// Stops a server when dropped.
struct StopsWith(ServerHandle);

impl Drop for StopsWith {
    fn drop(&mut self) {
        // The stop is sent at once; waiting for it to finish is not needed.
        drop(self.0.stop(false));
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    // The last wrap runs first: rate limit and identify the caller, then
    // conditional reads (closest to the handlers, so that they see the body
    // the handler made). Access and `Idempotency-Key` are checked on each
    // route, after routing (see `routes::table`).
    let mut v1 = web::scope(table::PREFIX)
        .wrap(from_fn(crate::conditional::conditional_get))
        .wrap(from_fn(auth::middleware::access));
    for resource in table::Resources::v1() {
        v1 = v1.service(resource);
    }
    cfg.service(v1);
    // Outside `/v1`, each behind the access middleware that identifies the
    // caller for the route's own rule (`table::operator`).
    for resource in table::Resources::operator() {
        cfg.service(resource.wrap(from_fn(auth::middleware::access)));
    }
    for resource in table::Resources::unversioned() {
        cfg.service(resource);
    }
    cfg.route(
        table::DOCS_REDIRECT,
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, "/docs/"))
                .finish()
        }),
    )
    .service(SwaggerUi::new(table::DOCS_UI).url(table::SPEC, ApiDoc::openapi()));
    // After the docs' own (GET) resources: any other method there is a 405.
    for resource in table::docs_not_allowed() {
        cfg.service(resource);
    }
}

/// Unknown and repeated query parameters are named; other parse errors are passed on as they are.
fn query_error(message: &str) -> ApiError {
    let named = |marker: &str| {
        message
            .split_once(marker)
            .and_then(|(_, rest)| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(field) = named("duplicate field `") {
        let detail = format!(
            "`{field}` is given twice; give it once (a list of values goes in one parameter, comma-separated)"
        );
        return ApiError::field(&field, detail);
    }
    let field = named("unknown field `").unwrap_or_else(|| "query".to_owned());
    ApiError::field(&field, message)
}

/// Turns errors produced outside our handlers (unknown routes, wrong methods,
/// oversized bodies) into problem+json as well. `max_body` is the limit of JSON
/// bodies, named in a 413.
fn as_problem<B>(
    res: ServiceResponse<B>,
    max_body: usize,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
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
        // The only bodies actix refuses for their size are JSON bodies (imports are streamed).
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => body_too_large(max_body),
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
        request_id: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_parameter_is_named_in_chronik_words() {
        let err = query_error("Query deserialize error: duplicate field `from`");
        let text = format!("{err:?}");
        assert!(text.contains("\"from\""), "{text}");
        assert!(
            text.contains("`from` is given twice; give it once"),
            "{text}"
        );
        assert!(!text.contains("deserialize"), "{text}");
    }
}
