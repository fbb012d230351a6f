//! Integration tests: the real HTTP app against a real Postgres.

// Tests may panic on what they did not expect: that is how they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod access_paths;
mod auth;
#[cfg(feature = "bench")]
mod bench_sql;
mod binary;
mod changes;
mod cli;
mod concurrency;
mod control_chars;
mod cors;
mod counts;
mod demo;
mod docs_examples;
mod docs_mirror;
mod event_reads;
mod event_writes;
mod exports;
mod external_ids;
mod feed_order;
mod filter_vocabulary;
mod helpers;
mod history;
mod idempotency;
mod import;
mod import_limits;
mod instances;
mod list_filters;
mod methods;
mod metrics;
mod migrations;
mod outage;
mod paging;
mod polling;
mod private_postgres;
mod rate_limit;
mod redaction;
mod replicas;
mod request_ids;
mod rolling_deploy;
mod search;
mod service;
mod shutdown;
mod stats;
mod stream_restart;
mod stream_wakeups;
mod streams;
mod timelines;
mod timeouts;
mod tokens;
mod vague_periods;
mod vocabulary;
