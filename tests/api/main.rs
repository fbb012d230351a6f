//! Integration tests: the real HTTP app against a real Postgres.

mod concurrency;
mod demo;
mod event_reads;
mod event_writes;
mod helpers;
mod list_filters;
mod paging;
mod service;
mod timelines;
mod vocabulary;
