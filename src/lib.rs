//! Chronik: an event store for dated news events, served as queryable timelines.

pub mod app;
pub mod auth;
#[cfg(feature = "bench")]
pub mod bench_sql;
pub mod bulk;
pub mod conditional;
pub mod config;
pub mod control_chars;
pub mod cors;
pub mod db;
pub mod error;
pub mod filter;
pub mod formats;
pub mod idempotency;
pub mod import;
pub mod json;
pub mod models;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod schema;
pub mod state;
pub mod suggest;
pub mod telemetry;
pub mod tokens;
pub mod vocabulary;
