//! Reading an import: turns a byte stream in one of the input formats into
//! records, on a blocking thread, a batch at a time, so that memory stays
//! bounded however long the input is. Each record keeps the line it starts
//! on, for error reports.
//!
//! Memory is bounded per record as well: a record (an NDJSON line, an
//! element of a JSON array or of a bundle's `timelines`, a CSV row) larger
//! than [`Limits::record_bytes`] stops the import as soon as the reader has
//! seen that many bytes of it, before it is held whole. Records are handed
//! on in groups of at most [`RECORDS_PER_ITEM`] or [`BYTES_PER_ITEM`], at
//! most [`ITEMS_AHEAD`] groups ahead of the writer.

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;
use tokio::sync::mpsc;

use super::InputFormat;
use super::quotes::QuoteCheck;
use super::record::{CsvColumns, Record, json_record};
use crate::error::{ApiError, FieldError};
use crate::models::timeline::NewTimeline;

/// Records per message from the reading thread to the writer.
const RECORDS_PER_ITEM: usize = 500;
/// Input bytes per message: a group of large records is handed on sooner.
const BYTES_PER_ITEM: usize = 4 << 20;
/// Messages the reading thread may be ahead of the writer.
const ITEMS_AHEAD: usize = 4;
/// The default of [`Limits::record_bytes`] (`CHRONIK_MAX_IMPORT_RECORD_BYTES`):
/// the default largest body of `POST /v1/events`, so an event that can be
/// posted can be imported.
pub const DEFAULT_RECORD_BYTES: usize = 1 << 20;
/// What the CSV reader buffers ahead of the record it parses.
const CSV_BUFFER: usize = 1 << 16;

/// How large an import's parts may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest record, in bytes of input (an NDJSON line without its
    /// line break, a JSON element, a CSV row with its line break).
    pub record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            record_bytes: DEFAULT_RECORD_BYTES,
        }
    }
}

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

/// Starts reading `reader` as `format` on a blocking thread.
pub fn spawn(
    format: InputFormat,
    reader: impl Read + Send + 'static,
    limits: Limits,
) -> mpsc::Receiver<Item> {
    let (tx, rx) = mpsc::channel(ITEMS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut sink = Sink {
            tx,
            records: Vec::with_capacity(RECORDS_PER_ITEM),
            bytes: 0,
        };
        let limit = limits.record_bytes;
        let result = match format {
            InputFormat::Ndjson => ndjson(reader, &mut sink, limit),
            InputFormat::Json => json(reader, &mut sink, limit),
            InputFormat::Csv => csv_rows::<super::csv::EventColumns>(reader, &mut sink, limit),
            InputFormat::Acled => csv_rows::<super::acled::AcledColumns>(reader, &mut sink, limit),
        };
        // A closed channel means the writer gave up; nobody is listening.
        let _ = match result {
            Ok(()) => sink.flush().and_then(|()| sink.send(Item::End)),
            Err(Stop::Fatal(error)) => sink.flush().and_then(|()| sink.send(Item::Fatal(error))),
            Err(Stop::Closed) => Ok(()),
        };
    });
    rx
}

/// Why reading ended early.
#[derive(Debug)]
enum Stop {
    Fatal(FieldError),
    /// The writer stopped listening.
    Closed,
}

fn fatal(line: u64, message: impl Into<String>) -> Stop {
    Stop::Fatal(FieldError::new("body", message).at_line(line))
}

/// A record over the limit: the import stops, before the record is held whole.
fn too_large(line: u64, limit: usize) -> Stop {
    fatal(
        line,
        format!(
            "the record on line {line} is larger than {limit} bytes \
             (CHRONIK_MAX_IMPORT_RECORD_BYTES); the input was not read further"
        ),
    )
}

struct Sink {
    tx: mpsc::Sender<Item>,
    records: Vec<Record>,
    /// Input bytes of `records`.
    bytes: usize,
}

impl Sink {
    fn push(&mut self, record: Record) -> Result<(), Stop> {
        self.bytes += record.bytes;
        self.records.push(record);
        if self.records.len() >= RECORDS_PER_ITEM || self.bytes >= BYTES_PER_ITEM {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if self.records.is_empty() {
            return Ok(());
        }
        let records = std::mem::replace(&mut self.records, Vec::with_capacity(RECORDS_PER_ITEM));
        self.bytes = 0;
        self.send(Item::Records(records))
    }

    fn send(&mut self, item: Item) -> Result<(), Stop> {
        self.tx.blocking_send(item).map_err(|_| Stop::Closed)
    }
}

/// NDJSON: one event per line; blank lines are skipped.
fn ndjson(reader: impl Read, sink: &mut Sink, limit: usize) -> Result<(), Stop> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut buf = Vec::new();
    let mut line = 0;
    // A line of `limit` bytes may still end in `\r\n`; reading stops there.
    let most = limit.saturating_add(2) as u64;
    loop {
        buf.clear();
        line += 1;
        let read = (&mut reader)
            .take(most)
            .read_until(b'\n', &mut buf)
            .map_err(|e| fatal(line, format!("reading the body failed: {e}")))?;
        if read == 0 {
            return Ok(());
        }
        let text = without_line_break(&buf);
        if text.len() > limit {
            return Err(too_large(line, limit));
        }
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let bytes = text.len();
        let record = match serde_json::from_slice(text) {
            Ok(value) => json_record(line, bytes, value),
            Err(e) => Record {
                line,
                bytes,
                parsed: Err(vec![FieldError::new("body", format!("not JSON: {e}"))]),
            },
        };
        sink.push(record)?;
    }
}

fn without_line_break(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Where the JSON reader is: the current line, and the line the next
/// record starts on (the first byte after `arm` that is not whitespace or a
/// comma); and how far the current record reaches, to stop one that grows
/// past the limit while serde_json still reads it.
struct Position {
    line: Cell<u64>,
    armed: Cell<bool>,
    start: Cell<u64>,
    /// Bytes read so far.
    offset: Cell<u64>,
    /// Where the current record (or key, or other stretch of the document)
    /// began; `None` between records, whose whitespace costs no memory.
    from: Cell<Option<u64>>,
    limit: u64,
    /// The line of a record that grew past the limit.
    too_large: Cell<Option<u64>>,
}

impl Position {
    fn new(limit: usize) -> Self {
        Self {
            line: Cell::new(1),
            // The document itself counts from its first byte until a record starts.
            armed: Cell::new(true),
            start: Cell::new(1),
            offset: Cell::new(0),
            from: Cell::new(None),
            limit: limit as u64,
            too_large: Cell::new(None),
        }
    }

    /// The next thing that is not whitespace or a comma starts a record.
    fn arm(&self) {
        self.armed.set(true);
        self.from.set(None);
    }

    /// What follows is not counted: the end of an array or of the document.
    fn rest(&self) {
        self.armed.set(false);
        self.from.set(None);
    }

    /// Bytes of the current record so far.
    fn record_bytes(&self) -> usize {
        let from = self.from.get().unwrap_or(self.offset.get());
        usize::try_from(self.offset.get() - from).unwrap_or(usize::MAX)
    }

    /// Takes one byte of input; an error once the current record is too large.
    fn advance(&self, byte: u8) -> std::io::Result<()> {
        if self.armed.get() && !matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b',') {
            self.armed.set(false);
            self.start.set(self.line.get());
            self.from.set(Some(self.offset.get()));
        }
        if byte == b'\n' {
            self.line.set(self.line.get() + 1);
        }
        self.offset.set(self.offset.get() + 1);
        if self.record_bytes() as u64 > self.limit {
            self.too_large.set(Some(self.start.get()));
            return Err(std::io::Error::other("the record is too large"));
        }
        Ok(())
    }
}

/// Counts lines and record bytes of what serde_json consumes; it reads byte
/// by byte, so the count is exact at every point it returns to us.
struct Counted<R> {
    inner: R,
    at: Rc<Position>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in buf.get(..n).unwrap_or_default() {
            self.at.advance(byte)?;
        }
        Ok(n)
    }
}

/// A JSON array of events, or a bundle `{"timelines": [...], "events": [...]}`,
/// read element by element.
fn json(reader: impl Read, sink: &mut Sink, limit: usize) -> Result<(), Stop> {
    let at = Rc::new(Position::new(limit));
    let counted = Counted {
        inner: BufReader::with_capacity(1 << 16, reader),
        at: at.clone(),
    };
    let stop = Cell::new(None);
    let mut de = serde_json::Deserializer::from_reader(counted);
    let document = Document {
        sink,
        at: &at,
        stop: &stop,
    };
    let result = serde::Deserializer::deserialize_any(&mut de, document).and_then(|()| de.end());
    if let Some(stop) = stop.take() {
        return Err(stop);
    }
    if let Some(line) = at.too_large.get() {
        return Err(too_large(line, limit));
    }
    result.map_err(|e| {
        let line = u64::try_from(e.line()).unwrap_or(0).max(1);
        fatal(line, format!("not valid JSON: {e}"))
    })
}

/// The keys of a JSON document: a bundle's, or those of a page of a JSON list.
const DOCUMENT_KEYS: &[&str] = &["timelines", "events", "data", "next_cursor", "meta"];

struct Document<'a> {
    sink: &'a mut Sink,
    at: &'a Rc<Position>,
    /// Set when the sink refused a record, so that the error is not a JSON one.
    stop: &'a Cell<Option<Stop>>,
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(
            "a JSON array of events, a bundle {\"timelines\": [...], \"events\": [...]} \
             or a page of a JSON list {\"data\": [...]}",
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Events(self).read(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = self.at.clone();
        let mut events = Some(Events(self));
        loop {
            // A key counts like a record: a huge one is refused as well.
            at.arm();
            let Some(key) = map.next_key::<String>()? else {
                at.rest();
                return Ok(());
            };
            match (key.as_str(), events.as_mut()) {
                ("timelines", Some(events)) => map.next_value_seed(Timelines(events))?,
                // A page of a JSON list (`{"data": [...], "next_cursor": ...}`)
                // re-imports as its events; the paging fields mean nothing here.
                ("next_cursor" | "meta", _) => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                ("events" | "data", Some(_)) => {
                    map.next_value_seed(
                        events
                            .take()
                            .ok_or_else(|| A::Error::custom("unreachable"))?,
                    )?;
                }
                ("events" | "data", None) => {
                    return Err(A::Error::custom(
                        "a document holds one list of events (`events` or `data`)",
                    ));
                }
                ("timelines", None) => {
                    return Err(A::Error::custom("`timelines` must come before `events`"));
                }
                (other, _) => return Err(A::Error::unknown_field(other, DOCUMENT_KEYS)),
            }
        }
    }
}

/// The events array of a document.
struct Events<'a>(Document<'a>);

impl Events<'_> {
    fn send<E: serde::de::Error>(&mut self, item: Item) -> Result<(), E> {
        let doc = &mut self.0;
        doc.sink
            .flush()
            .and_then(|()| doc.sink.send(item))
            .map_err(|stop| refuse(doc.stop, stop))
    }

    fn read<'de, A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let doc = self.0;
        loop {
            doc.at.arm();
            let Some(value) = seq.next_element::<serde_json::Value>()? else {
                doc.at.rest();
                return Ok(());
            };
            let record = json_record(doc.at.start.get(), doc.at.record_bytes(), value);
            doc.sink
                .push(record)
                .map_err(|stop| refuse(doc.stop, stop))?;
        }
    }
}

fn refuse<E: serde::de::Error>(slot: &Cell<Option<Stop>>, stop: Stop) -> E {
    slot.set(Some(stop));
    E::custom("import stopped")
}

impl<'de> DeserializeSeed<'de> for Events<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        struct Seq<'a>(Events<'a>);
        impl<'de> Visitor<'de> for Seq<'_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of events")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
                self.0.read(seq)
            }
        }
        de.deserialize_seq(Seq(self))
    }
}

/// A bundle's `timelines`, read one by one like events (each is a record,
/// as large as the limit allows) and handed on in groups, before the events.
struct Timelines<'b, 'a>(&'b mut Events<'a>);

impl<'de> DeserializeSeed<'de> for Timelines<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Timelines<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of timelines")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let events = self.0;
        let at = events.0.at.clone();
        let (mut group, mut bytes) = (Vec::new(), 0);
        for index in 0.. {
            at.arm();
            let Some(value) = seq.next_element::<serde_json::Value>()? else {
                at.rest();
                break;
            };
            bytes += at.record_bytes();
            let timeline = crate::json::from_value::<NewTimeline>(value)
                .map_err(|err| refuse(events.0.stop, bad_timeline(index, at.start.get(), err)))?;
            group.push(timeline);
            if group.len() >= RECORDS_PER_ITEM || bytes >= BYTES_PER_ITEM {
                events.send(Item::Timelines(std::mem::take(&mut group)))?;
                bytes = 0;
            }
        }
        if group.is_empty() {
            Ok(())
        } else {
            events.send(Item::Timelines(group))
        }
    }
}

/// A timeline that cannot be created stops the import, as it always has:
/// the events that follow may need it.
fn bad_timeline(index: usize, line: u64, err: ApiError) -> Stop {
    let (field, message) = match err {
        ApiError::Validation(errors) => errors
            .into_iter()
            .next()
            .map(|e| (e.field, e.message))
            .unwrap_or_default(),
        other => (String::new(), other.to_string()),
    };
    let field = match field.as_str() {
        "" | "body" => format!("timelines[{index}]"),
        path => format!("timelines[{index}].{path}"),
    };
    Stop::Fatal(FieldError::new(field, message).at_line(line))
}

/// CSV with a header row, one event per row.
fn csv_rows<C: CsvColumns>(reader: impl Read, sink: &mut Sink, limit: usize) -> Result<(), Stop> {
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
fn csv_header<R: Read>(
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
fn bad_row(err: &csv::Error, crlf: u64) -> Result<Record, Stop> {
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
struct RowBounds {
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
struct Limited<R> {
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
fn nul_columns(header: &csv::StringRecord, row: &csv::StringRecord) -> Vec<FieldError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// `head`, then `filler` repeated up to `size` bytes, then `tail`; counts
    /// what the import read of it.
    struct Source {
        data: Vec<u8>,
        at: usize,
        read: Arc<AtomicU64>,
    }

    impl Source {
        fn new(head: &str, filler: u8, size: usize, tail: &str) -> (Self, Arc<AtomicU64>) {
            let mut data = head.as_bytes().to_vec();
            data.resize(data.len() + size, filler);
            data.extend_from_slice(tail.as_bytes());
            let read = Arc::new(AtomicU64::new(0));
            let source = Self {
                data,
                at: 0,
                read: read.clone(),
            };
            (source, read)
        }
    }

    impl Read for Source {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            self.read.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        }
    }

    async fn read_all(format: InputFormat, source: Source, record_bytes: usize) -> Vec<Item> {
        let mut rx = spawn(format, source, Limits { record_bytes });
        let mut items = Vec::new();
        while let Some(item) = rx.recv().await {
            items.push(item);
        }
        items
    }

    const LIMIT: usize = 100_000;
    /// Far more than any reader should take of a record over the limit.
    const HUGE: usize = 32 << 20;

    /// Asserts that reading stopped with a too-large record on `line`,
    /// having read at most the limit plus one buffer of the input.
    #[track_caller]
    fn assert_stopped_early(items: &[Item], read: &AtomicU64, line: u64) {
        let Some(Item::Fatal(error)) = items.last() else {
            panic!("no fatal error: {items:?}");
        };
        assert_eq!(error.line, Some(line), "{error:?}");
        assert!(
            error.message.contains("CHRONIK_MAX_IMPORT_RECORD_BYTES"),
            "{error:?}"
        );
        let read = read.load(Ordering::Relaxed);
        assert!(
            read <= (LIMIT + 3 * (1 << 16)) as u64,
            "read {read} bytes of a record over a {LIMIT}-byte limit"
        );
    }

    const EVENT: &str =
        r#"{"title": "t", "type": "protest", "occurred_start": "2022-01-05T00:00:00Z"}"#;

    #[tokio::test]
    async fn an_ndjson_line_over_the_limit_stops_the_reading() {
        let head = format!("{EVENT}\n\n{{\"title\": \"t\", \"summary\": \"");
        let (source, read) = Source::new(&head, b'a', HUGE, "\"}\n");
        let items = read_all(InputFormat::Ndjson, source, LIMIT).await;
        assert_stopped_early(&items, &read, 3);
    }

    #[tokio::test]
    async fn a_json_element_over_the_limit_stops_the_reading() {
        let head = format!("[\n{EVENT},\n  {{\"title\": \"t\", \"summary\": \"");
        let (source, read) = Source::new(&head, b'a', HUGE, "\"}]");
        let items = read_all(InputFormat::Json, source, LIMIT).await;
        assert_stopped_early(&items, &read, 3);
    }

    #[tokio::test]
    async fn a_bundle_timeline_or_key_over_the_limit_stops_the_reading() {
        let head = "{\"timelines\": [\n{\"slug\": \"a\", \"title\": \"A\"},\n{\"slug\": \"b\", \"title\": \"B\", \"description\": \"";
        let (source, read) = Source::new(head, b'a', HUGE, "\"}], \"events\": []}");
        let items = read_all(InputFormat::Json, source, LIMIT).await;
        assert_stopped_early(&items, &read, 3);

        let (source, read) = Source::new("{\n\"", b'k', HUGE, "\": 1}");
        let items = read_all(InputFormat::Json, source, LIMIT).await;
        assert_stopped_early(&items, &read, 2);
    }

    #[tokio::test]
    async fn a_csv_row_or_header_over_the_limit_stops_the_reading() {
        let head = "title,type,occurred_start,summary\r\nt,protest,2022-01-05T00:00:00Z,short\r\nt,protest,2022-01-05T00:00:00Z,\"";
        let (source, read) = Source::new(head, b'a', HUGE, "\"\r\n");
        let items = read_all(InputFormat::Csv, source, LIMIT).await;
        assert_stopped_early(&items, &read, 3);

        let (source, read) = Source::new("title,", b'x', HUGE, "\n");
        let items = read_all(InputFormat::Csv, source, LIMIT).await;
        assert_stopped_early(&items, &read, 1);
    }

    #[tokio::test]
    async fn records_are_handed_on_in_groups_of_bounded_size() {
        let record = format!(
            "{{\"title\": \"t\", \"type\": \"protest\", \"occurred_start\": \"2022-01-05T00:00:00Z\", \"summary\": \"{}\"}}\n",
            "s".repeat(600_000)
        );
        let (source, _) = Source::new(&record.repeat(20), b' ', 0, "");
        let items = read_all(InputFormat::Ndjson, source, DEFAULT_RECORD_BYTES).await;
        let groups: Vec<(usize, usize)> = items
            .iter()
            .filter_map(|item| match item {
                Item::Records(records) => Some((
                    records.len(),
                    records.iter().map(|r| r.bytes).sum::<usize>(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(groups.iter().map(|(n, _)| n).sum::<usize>(), 20);
        assert!(groups.len() > 1, "{groups:?}");
        for (_, bytes) in groups {
            assert!(bytes < BYTES_PER_ITEM + DEFAULT_RECORD_BYTES, "{bytes}");
        }
        assert!(matches!(items.last(), Some(Item::End)));
    }

    #[tokio::test]
    async fn records_up_to_the_limit_are_read() {
        let record = format!(
            "{{\"title\": \"t\", \"type\": \"protest\", \"occurred_start\": \"2022-01-05T00:00:00Z\", \"summary\": \"{}\"}}",
            "s".repeat(1000)
        );
        for (format, input) in [
            (InputFormat::Ndjson, format!("{record}\r\n{record}")),
            (InputFormat::Json, format!("[{record}, {record}]")),
        ] {
            let (source, _) = Source::new(&input, b' ', 0, "");
            let items = read_all(format, source, record.len()).await;
            let read: usize = items
                .iter()
                .map(|item| match item {
                    Item::Records(records) => records.len(),
                    _ => 0,
                })
                .sum();
            assert_eq!(read, 2, "{format:?}: {items:?}");
            assert!(matches!(items.last(), Some(Item::End)), "{format:?}");
        }
    }
}
