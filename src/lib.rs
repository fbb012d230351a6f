//! Chronik: an event store for dated news events, served as queryable timelines.

pub mod app;
pub mod config;
pub mod db;
pub mod error;
pub mod filter;
pub mod import;
pub mod json;
pub mod models;
pub mod openapi;
pub mod routes;
pub mod telemetry;
