//! Configuration, read from the environment (every setting can also be given as a flag).

use clap::{Args, ValueEnum};

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

    /// Maximum number of pooled database connections.
    #[arg(
        long,
        env = "CHRONIK_DB_POOL_SIZE",
        default_value_t = 16,
        global = true
    )]
    pub db_pool_size: usize,

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
            workers: Some(2),
            log: "warn".into(),
            log_format: LogFormat::Text,
            max_body_bytes: 1 << 20,
        }
    }
}
