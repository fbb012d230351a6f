//! Integration tests: the real HTTP app against a real Postgres.

mod auth;
mod bench_sql;
mod concurrency;
mod control_chars;
mod cors;
mod demo;
mod event_reads;
mod event_writes;
mod exports;
mod helpers;
mod history;
mod idempotency;
mod import;
mod import_limits;
mod list_filters;
mod paging;
mod rate_limit;
mod search;
mod service;
mod stats;
mod timelines;
mod tokens;
mod vocabulary;
