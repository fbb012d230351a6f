//! Where the reading thread puts records: batched into [`Item`]s of at most
//! [`RECORDS_PER_ITEM`] records or [`BYTES_PER_ITEM`] bytes for the writer.

use tokio::sync::mpsc;

use super::record::Record;
use crate::error::FieldError;
use crate::models::timeline::NewTimeline;

/// Records per message from the reading thread to the writer.
pub(super) const RECORDS_PER_ITEM: usize = 500;

/// Input bytes per message: a group of large records is handed on sooner.
pub(super) const BYTES_PER_ITEM: usize = 4 << 20;

/// What the reading thread sends the writer, in input order.
#[derive(Debug)]
pub enum Item {
    /// A bundle's timelines, to create before the events that follow.
    Timelines(Vec<NewTimeline>),
    Records(Vec<Record>),
    /// The input cannot be read further (a syntax error in a JSON array, a
    /// broken upload); no more records follow.
    Fatal(FieldError),
    /// The input was read to its end.
    End,
}

/// Why reading ended early.
#[derive(Debug)]
pub(super) enum Stop {
    Fatal(FieldError),
    /// The writer stopped listening.
    Closed,
}

pub(super) fn fatal(line: u64, message: impl Into<String>) -> Stop {
    Stop::Fatal(FieldError::new("body", message).at_line(line))
}

/// A record over the limit: the import stops, before the record is held whole.
pub(super) fn too_large(line: u64, limit: usize) -> Stop {
    fatal(
        line,
        format!(
            "the record on line {line} is larger than {limit} bytes \
             (CHRONIK_MAX_IMPORT_RECORD_BYTES); the input was not read further"
        ),
    )
}

pub(super) struct Sink {
    tx: mpsc::Sender<Item>,
    records: Vec<Record>,
    /// Input bytes of `records`.
    bytes: usize,
}

impl Sink {
    pub(super) fn new(tx: mpsc::Sender<Item>) -> Self {
        Self {
            tx,
            records: Vec::with_capacity(RECORDS_PER_ITEM),
            bytes: 0,
        }
    }

    pub(super) fn push(&mut self, record: Record) -> Result<(), Stop> {
        self.bytes += record.bytes;
        self.records.push(record);
        if self.records.len() >= RECORDS_PER_ITEM || self.bytes >= BYTES_PER_ITEM {
            self.flush()?;
        }
        Ok(())
    }

    pub(super) fn flush(&mut self) -> Result<(), Stop> {
        if self.records.is_empty() {
            return Ok(());
        }
        let records = std::mem::replace(&mut self.records, Vec::with_capacity(RECORDS_PER_ITEM));
        self.bytes = 0;
        self.send(Item::Records(records))
    }

    pub(super) fn send(&mut self, item: Item) -> Result<(), Stop> {
        self.tx.blocking_send(item).map_err(|_| Stop::Closed)
    }
}
