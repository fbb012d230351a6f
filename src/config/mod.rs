//! Configuration, read from the environment (every setting can also be given as a flag).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::client_ip::{ClientIpHeader, ProxyTrust, TrustedProxies};
use crate::cors::CorsOrigins;
use crate::db::Session;
use crate::rate_limit::RateLimit;
use crate::rate_limit::store::RateLimitStore;

mod streams;
mod values;

pub use streams::StreamConfig;
pub use values::{ClientCap, GracePeriod, TimeLimit};

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Postgres connection URL; the database is created if it does not exist.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@localhost:5432/chronik",
        global = true
    )]
    pub database_url: String,

    /// Standby servers (Postgres streaming replicas of DATABASE_URL's) that
    /// serve reads, as comma-separated URLs; unset: every read goes to
    /// DATABASE_URL. A read that sends a write's `Chronik-Position` back is
    /// served by a standby only once it has replayed that write.
    #[arg(long, env = "DATABASE_READ_URL", value_delimiter = ',', global = true)]
    pub database_read_url: Vec<String>,

    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "CHRONIK_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub addr: String,

    /// A second, private address that serves `GET /metrics` without a token
    /// (and nothing else), for a Prometheus scraper; unset: none. On the
    /// API's address `/metrics` needs an admin token.
    #[arg(long, env = "CHRONIK_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<String>,

    /// Database connections for requests, split evenly among the HTTP
    /// workers (each uses only its own); exports have their own, below.
    #[arg(
        long,
        env = "CHRONIK_DB_POOL_SIZE",
        default_value_t = 16,
        global = true
    )]
    pub db_pool_size: usize,

    /// Most exports streaming at once on all servers of the database
    /// together, each on a connection of its own (opened in addition to the
    /// pool's); default: half the pool.
    #[arg(long, env = "CHRONIK_MAX_EXPORTS", global = true)]
    pub max_exports: Option<usize>,

    /// Most exports one client may stream at once (on all servers together),
    /// counted per token, or per client IP for requests without one; `off`
    /// for no such cap.
    #[arg(
        long,
        env = "CHRONIK_MAX_EXPORTS_PER_CLIENT",
        default_value = "2",
        global = true
    )]
    pub max_exports_per_client: ClientCap,

    /// Most `POST /v1/import` requests running at once on all servers of the
    /// database together, each on a connection of its own (opened in
    /// addition to the pool's). An import keeps one
    /// Postgres backend busy on one core for its whole run.
    #[arg(long, env = "CHRONIK_MAX_IMPORTS", default_value_t = 2, global = true)]
    pub max_imports: usize,

    /// Longest one SQL statement of a request may run (Postgres's
    /// `statement_timeout` on the request pools' connections): `30s`,
    /// `500ms`, `2min`, or `off`. A statement cut short answers `503`.
    #[arg(
        long,
        env = "CHRONIK_STATEMENT_TIMEOUT",
        default_value = "30s",
        global = true
    )]
    pub statement_timeout: TimeLimit,

    /// The same for the connections of exports and imports, whose statements
    /// each read or write thousands of events.
    #[arg(
        long,
        env = "CHRONIK_BULK_STATEMENT_TIMEOUT",
        default_value = "5min",
        global = true
    )]
    pub bulk_statement_timeout: TimeLimit,

    /// Longest an export may stream, however fast or slowly its client reads:
    /// it holds a connection and a snapshot (which holds back vacuum) meanwhile.
    #[arg(
        long,
        env = "CHRONIK_EXPORT_MAX_DURATION",
        default_value = "1h",
        global = true
    )]
    pub export_max_duration: TimeLimit,

    /// After SIGTERM, how long requests still running (exports, imports) may
    /// take to finish before they are cut off and the server exits; it
    /// accepts no new connections meanwhile. Whole seconds (rounded up); `0`
    /// cuts them at once. (SIGINT and SIGQUIT cut them at once.)
    #[arg(
        long,
        env = "CHRONIK_SHUTDOWN_TIMEOUT",
        default_value = "30s",
        global = true
    )]
    pub shutdown_timeout: GracePeriod,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "CHRONIK_WORKERS", global = true)]
    pub workers: Option<usize>,

    /// Log filter in `tracing` syntax, e.g. `info` or `chronik=debug,actix_web=info`.
    #[arg(long, env = "CHRONIK_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log output format.
    #[arg(long, env = "CHRONIK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "CHRONIK_MAX_BODY_BYTES", default_value_t = 1 << 20, global = true)]
    pub max_body_bytes: usize,

    /// Largest `POST /v1/import` body, in bytes (streamed, so memory use does not grow with it).
    #[arg(long, env = "CHRONIK_MAX_IMPORT_BYTES", default_value_t = 8 << 30, global = true)]
    pub max_import_bytes: u64,

    /// Largest record of an import (an NDJSON line, a JSON array element or bundle
    /// timeline, a CSV row), in bytes; a larger one stops the import before it is held whole.
    #[arg(long, env = "CHRONIK_MAX_IMPORT_RECORD_BYTES",
          default_value_t = crate::import::read::DEFAULT_RECORD_BYTES, global = true)]
    pub max_import_record_bytes: usize,

    /// Whether reads (GET) need no token; `false` makes them need a `read` token.
    #[arg(long, env = "CHRONIK_PUBLIC_READS", default_value_t = true, action = ArgAction::Set,
          value_parser = BoolishValueParser::new(), global = true)]
    pub public_reads: bool,

    /// Whether changes to existing events (PATCH, PUT, DELETE, restore) need
    /// `If-Match`; without it they are `428`. Default: last writer wins.
    #[arg(long, env = "CHRONIK_REQUIRE_IF_MATCH", default_value_t = false, action = ArgAction::Set,
          value_parser = BoolishValueParser::new(), global = true)]
    pub require_if_match: bool,

    /// Origins that may write from a browser (comma list, or `*` for any); any origin may read.
    #[arg(long, env = "CHRONIK_CORS_ORIGINS", global = true)]
    pub cors_origins: Option<CorsOrigins>,

    /// Rate limit per client IP for requests without a token: `COUNT/PERIOD[:BURST]` or `off`.
    #[arg(
        long,
        env = "CHRONIK_RATE_LIMIT_ANONYMOUS",
        default_value = "120/min",
        global = true
    )]
    pub rate_limit_anonymous: RateLimit,

    /// Rate limit per token: `COUNT/PERIOD[:BURST]` or `off`.
    #[arg(
        long,
        env = "CHRONIK_RATE_LIMIT_TOKEN",
        default_value = "1200/min",
        global = true
    )]
    pub rate_limit_token: RateLimit,

    /// Where rate-limit buckets are kept: `memory` (each server counts for
    /// itself), `postgres` (one count for all servers on the database) or a
    /// `redis://` URL (one count for all servers using that Redis).
    #[arg(
        long,
        env = "CHRONIK_RATE_LIMIT_STORE",
        default_value = "memory",
        global = true
    )]
    pub rate_limit_store: RateLimitStore,

    /// Proxies (IPs or CIDR ranges, comma list) whose `CHRONIK_CLIENT_IP_HEADER` names the client.
    #[arg(
        long,
        env = "CHRONIK_TRUSTED_PROXIES",
        default_value = "",
        global = true
    )]
    pub trusted_proxies: TrustedProxies,

    /// The one forwarding header the trusted proxies write; any other is ignored.
    #[arg(
        long,
        env = "CHRONIK_CLIENT_IP_HEADER",
        value_enum,
        default_value_t = ClientIpHeader::XForwardedFor,
        global = true
    )]
    pub client_ip_header: ClientIpHeader,

    /// IPv6 clients share an anonymous rate-limit bucket per network of this prefix length (1-128).
    #[arg(
        long,
        env = "CHRONIK_RATE_LIMIT_IPV6_PREFIX",
        default_value_t = 64,
        value_parser = clap::value_parser!(u8).range(1..=128),
        global = true
    )]
    pub rate_limit_ipv6_prefix: u8,

    /// Where the first start writes the initial admin token's secret (mode 0600).
    #[arg(
        long,
        env = "CHRONIK_INITIAL_TOKEN_FILE",
        default_value = "chronik-admin-token",
        global = true
    )]
    pub initial_token_file: PathBuf,

    #[command(flatten)]
    pub streams: StreamConfig,
}

/// How long an export's transaction may sit idle: a minute more than a scan
/// waits for its reader to take a batch.
pub const EXPORT_IDLE_LIMIT: Duration =
    Duration::from_secs(crate::db::events::SCAN_SEND_TIMEOUT.as_secs() + 60);

impl Config {
    pub fn proxy_trust(&self) -> ProxyTrust {
        ProxyTrust {
            proxies: self.trusted_proxies.0.clone(),
            header: self.client_ip_header,
        }
    }

    /// The limits of one import (`POST /v1/import` and `chronik import`).
    pub fn import_limits(&self) -> crate::import::Limits {
        crate::import::Limits {
            record_bytes: self.max_import_record_bytes.max(1),
        }
    }

    pub fn max_exports(&self) -> usize {
        self.max_exports.unwrap_or(self.db_pool_size / 2).max(1)
    }

    /// How the request pools' connections start their sessions.
    pub fn request_session(&self) -> Session {
        Session {
            statement_timeout: self.statement_timeout.0,
            ..Session::default()
        }
    }

    /// How the connections of exports and imports start their sessions.
    pub fn bulk_session(&self) -> Session {
        Session {
            statement_timeout: self.bulk_statement_timeout.0,
            ..Session::default()
        }
    }

    /// How the connections of exports start their sessions: as bulk ones,
    /// and Postgres ends an export's transaction left idle for longer than
    /// the server ever waits for a reader, should the server fail to end it.
    pub fn export_session(&self) -> Session {
        Session {
            idle_in_transaction_timeout: Some(EXPORT_IDLE_LIMIT),
            ..self.bulk_session()
        }
    }

    /// HTTP workers: as configured, else one per core (as actix would pick).
    pub fn workers(&self) -> usize {
        self.workers
            .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
            .unwrap_or(1)
            .max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// Settings for tests and embedding: defaults everywhere but the database.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            database_read_url: Vec::new(),
            addr: "127.0.0.1:0".into(),
            metrics_addr: None,
            db_pool_size: 8,
            max_exports: None,
            max_imports: 2,
            // Tests start several exports from one client; those that test the cap set it.
            max_exports_per_client: ClientCap(None),
            statement_timeout: TimeLimit(Some(Duration::from_secs(30))),
            bulk_statement_timeout: TimeLimit(Some(Duration::from_secs(5 * 60))),
            export_max_duration: TimeLimit(Some(Duration::from_secs(60 * 60))),
            shutdown_timeout: GracePeriod(Duration::from_secs(30)),
            workers: Some(2),
            log: "warn".into(),
            log_format: LogFormat::Text,
            max_body_bytes: 1 << 20,
            max_import_bytes: 8 << 30,
            max_import_record_bytes: crate::import::read::DEFAULT_RECORD_BYTES,
            public_reads: true,
            require_if_match: false,
            cors_origins: None,
            // Tests would trip over limits meant for the public internet; those that test limits set them.
            rate_limit_anonymous: RateLimit::Off,
            rate_limit_token: RateLimit::Off,
            rate_limit_store: RateLimitStore::Memory,
            trusted_proxies: TrustedProxies::default(),
            client_ip_header: ClientIpHeader::XForwardedFor,
            rate_limit_ipv6_prefix: 64,
            initial_token_file: PathBuf::from("chronik-admin-token"),
            streams: StreamConfig::default(),
        }
    }
}
