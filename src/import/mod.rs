//! Bulk import: `POST /v1/import` and `chronik import FILE` both run
//! [`import`]: the input is read on a blocking thread ([`read`]) and written
//! in batches of [`BATCH`] events per statement, all in one transaction.
//! Any invalid record fails the whole import (every error is collected,
//! the first [`MAX_LISTED`] listed with their lines); nothing is written.

pub mod acled;
pub mod body;
mod countries;
pub mod csv;
#[cfg(test)]
mod csv_round_trip;
mod csv_rows;
mod format;
mod json_doc;
mod load;
#[cfg(test)]
mod properties;
mod quotes;
pub mod read;
pub mod record;
mod sink;

pub use format::InputFormat;
pub use load::{BATCH, BATCH_BYTES, MAX_LISTED, Mode, Summary, import};
pub use read::Limits;

/// The demo timeline shipped in `data/`, built into the binary.
pub const DEMO: &str = include_str!("../../data/kazakhstan-2022-unrest.json");
