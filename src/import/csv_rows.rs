//! Reading a CSV import row by row, each row bounded in size before it is
//! held whole, with the line a broken quote opened on.

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use super::quotes::QuoteCheck;
use super::record::{CsvColumns, Record};
use super::sink::{Sink, Stop, fatal, too_large};
use crate::error::FieldError;

/// What the CSV reader buffers ahead of the record it parses.
pub(super) const CSV_BUFFER: usize = 1 << 16;

/// CSV with a header row, one event per row.
pub(super) fn csv_rows<C: CsvColumns>(
    reader: impl Read,
    sink: &mut Sink,
    limit: usize,
) -> Result<(), Stop> {
    let bounds = Rc::new(RowBounds {
        start: Cell::new(0),
        allowed: (limit + CSV_BUFFER) as u64,
        tripped: Cell::new(false),
        quotes: QuoteCheck::default(),
    });
    let limited = Limited {
        inner: reader,
        read: 0,
        bounds: bounds.clone(),
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(CSV_BUFFER)
        .from_reader(limited);
    let header = csv_header(&mut csv, &bounds, limit)?;
    let columns = C::from_header(&header).map_err(|e| Stop::Fatal(e.at_line(1)))?;
    // After a `\r\n`, the reader stands on its `\n` and so counts one line
    // short; whether the header ended so tells which kind of file this is.
    let crlf = u64::from(csv.position().line() == 1);
    let mut row = csv::StringRecord::new();
    loop {
        let next_line = csv.position().line() + crlf;
        let read = csv.read_record(&mut row);
        let start = row.position().map_or(0, csv::Position::byte);
        let end = csv.position().byte();
        bounds.start.set(end);
        // A broken quote misaligns every row after it: name where it opened.
        if let Some(broken) = bounds.quotes.broken_before(end) {
            return Err(fatal(broken.line, broken.message()));
        }
        let record = match read {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let bytes = usize::try_from(end - start).unwrap_or(usize::MAX);
                if bytes > limit {
                    return Err(too_large(next_line, limit));
                }
                Record {
                    line: row.position().map_or(0, csv::Position::line) + crlf,
                    bytes,
                    parsed: match nul_columns(&header, &row) {
                        errors if errors.is_empty() => columns.parse(&row),
                        errors => Err(errors),
                    },
                }
            }
            Err(_) if bounds.tripped.get() => return Err(too_large(next_line, limit)),
            Err(err) => bad_row(&err, crlf)?,
        };
        sink.push(record)?;
    }
}

/// The header row, without the byte order mark of exports made for Excel (`bom=true`).
pub(super) fn csv_header<R: Read>(
    csv: &mut csv::Reader<R>,
    bounds: &RowBounds,
    limit: usize,
) -> Result<csv::StringRecord, Stop> {
    let header = match csv.headers() {
        Ok(header) => header.clone(),
        Err(_) if bounds.tripped.get() => return Err(too_large(1, limit)),
        Err(e) => return Err(fatal(1, format!("the header row cannot be read: {e}"))),
    };
    let end = csv.position().byte();
    if end > limit as u64 {
        return Err(too_large(1, limit));
    }
    bounds.start.set(end);
    let Some(first) = header.get(0).and_then(|h| h.strip_prefix('\u{feff}')) else {
        return Ok(header);
    };
    let fields: Vec<String> = std::iter::once(first)
        .chain(header.iter().skip(1))
        .map(String::from)
        .collect();
    Ok(csv::StringRecord::from(fields))
}

/// A row the CSV reader could not read: an error of that record, or of
/// the whole input if the body could not be read.
pub(super) fn bad_row(err: &csv::Error, crlf: u64) -> Result<Record, Stop> {
    let line = err.position().map_or(0, csv::Position::line) + crlf;
    if let csv::ErrorKind::Io(io) = err.kind() {
        return Err(fatal(line, format!("reading the body failed: {io}")));
    }
    Ok(Record {
        line,
        bytes: 0,
        parsed: Err(vec![FieldError::new(
            "body",
            format!("not a valid CSV row: {err}"),
        )]),
    })
}

/// Where the CSV row being read began in the input, and how far past that
/// reading may go: the limit, plus what the CSV reader buffers ahead.
pub(super) struct RowBounds {
    start: Cell<u64>,
    allowed: u64,
    /// Set when a row grew past `allowed`.
    tripped: Cell<bool>,
    /// Follows the quotes of the input, which the CSV reader does not check.
    quotes: QuoteCheck,
}

/// The input under the CSV reader, which holds a row whole, however long:
/// reading stops once the row being read is over the limit for sure, so
/// a row is never held larger than the limit plus a buffer.
pub(super) struct Limited<R> {
    inner: R,
    read: u64,
    bounds: Rc<RowBounds>,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let end = self.bounds.start.get().saturating_add(self.bounds.allowed);
        let room = usize::try_from(end.saturating_sub(self.read)).unwrap_or(usize::MAX);
        if room == 0 && !buf.is_empty() {
            // At the bound: only the end of the input may follow.
            let n = self.inner.read(buf.get_mut(..1).unwrap_or_default())?;
            if n > 0 {
                self.bounds.tripped.set(true);
                return Err(std::io::Error::other("the row is too large"));
            }
            self.bounds.quotes.end();
            return Ok(0);
        }
        let n = buf.len().min(room);
        let n = self.inner.read(buf.get_mut(..n).unwrap_or_default())?;
        self.read += n as u64;
        if n == 0 && !buf.is_empty() {
            self.bounds.quotes.end();
        }
        self.bounds.quotes.feed(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// A NUL in a cell, named by its column: Postgres cannot store it, and JSON
/// records are checked for it too (`json::from_value`).
pub(super) fn nul_columns(header: &csv::StringRecord, row: &csv::StringRecord) -> Vec<FieldError> {
    row.iter()
        .enumerate()
        .filter(|(_, cell)| cell.contains('\0'))
        .map(|(i, _)| {
            FieldError::new(
                header.get(i).unwrap_or("body"),
                "must not contain NUL (U+0000): it cannot be stored",
            )
        })
        .collect()
}
