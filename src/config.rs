//! Configuration, read from the environment (every setting can also be given as a flag).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};
use std::path::PathBuf;

use crate::auth::client_ip::TrustedProxies;
use crate::cors::CorsOrigins;
use crate::rate_limit::RateLimit;

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

    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "CHRONIK_ADDR",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub addr: String,

    /// Database connections for requests, split evenly among the HTTP
    /// workers (each uses only its own); exports have their own, below.
    #[arg(
        long,
        env = "CHRONIK_DB_POOL_SIZE",
        default_value_t = 16,
        global = true
    )]
    pub db_pool_size: usize,

    /// Most exports streaming at once, each on a connection of its own
    /// (opened in addition to the pool's); default: half the pool.
    #[arg(long, env = "CHRONIK_MAX_EXPORTS", global = true)]
    pub max_exports: Option<usize>,

    /// Most `POST /v1/import` requests running at once, each on a connection
    /// of its own (opened in addition to the pool's). An import keeps one
    /// Postgres backend busy on one core for its whole run.
    #[arg(long, env = "CHRONIK_MAX_IMPORTS", default_value_t = 2, global = true)]
    pub max_imports: usize,

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

    /// Proxies (IPs or CIDR ranges, comma list) whose `Forwarded`/`X-Forwarded-For` name the client.
    #[arg(
        long,
        env = "CHRONIK_TRUSTED_PROXIES",
        default_value = "",
        global = true
    )]
    pub trusted_proxies: TrustedProxies,

    /// Where the first start writes the initial admin token's secret (mode 0600).
    #[arg(
        long,
        env = "CHRONIK_INITIAL_TOKEN_FILE",
        default_value = "chronik-admin-token",
        global = true
    )]
    pub initial_token_file: PathBuf,
}

impl Config {
    /// The limits of one import (`POST /v1/import` and `chronik import`).
    pub fn import_limits(&self) -> crate::import::Limits {
        crate::import::Limits {
            record_bytes: self.max_import_record_bytes.max(1),
        }
    }

    pub fn max_exports(&self) -> usize {
        self.max_exports.unwrap_or(self.db_pool_size / 2).max(1)
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
            addr: "127.0.0.1:0".into(),
            db_pool_size: 8,
            max_exports: None,
            max_imports: 2,
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
            trusted_proxies: TrustedProxies::default(),
            initial_token_file: PathBuf::from("chronik-admin-token"),
        }
    }
}
