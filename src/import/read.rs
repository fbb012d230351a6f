//! Reading an import: turns a byte stream in one of the input formats into
//! records, on a blocking thread, a batch at a time, so that memory stays
//! bounded however long the input is. Each record keeps the line it starts
//! on, for error reports.

use chrono::{DateTime, Utc};
use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;
use tokio::sync::mpsc;

use super::InputFormat;
use crate::error::{ApiError, FieldError};
use crate::models::event::EventInput;
use crate::models::timeline::NewTimeline;

/// Records per message from the reading thread to the writer.
const RECORDS_PER_ITEM: usize = 500;
/// Longest NDJSON line; longer ones are not buffered but rejected.
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// An event read from the input, with what it carries besides the event.
#[derive(Debug)]
pub struct Parsed {
    pub input: EventInput,
    /// When the information became public (ACLED's `timestamp`); `None` is now.
    pub known_at: Option<DateTime<Utc>>,
}

/// One record of the input: a valid event or what is wrong with it.
#[derive(Debug)]
pub struct Record {
    /// The (1-based) line the record starts on.
    pub line: u64,
    pub parsed: Result<Parsed, Vec<FieldError>>,
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
pub fn spawn(format: InputFormat, reader: impl Read + Send + 'static) -> mpsc::Receiver<Item> {
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut sink = Sink {
            tx,
            records: Vec::with_capacity(RECORDS_PER_ITEM),
        };
        let result = match format {
            InputFormat::Ndjson => ndjson(reader, &mut sink),
            InputFormat::Json => json(reader, &mut sink),
            InputFormat::Csv => csv_rows::<crate::formats::csv::EventColumns>(reader, &mut sink),
            InputFormat::Acled => csv_rows::<super::acled::AcledColumns>(reader, &mut sink),
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

struct Sink {
    tx: mpsc::Sender<Item>,
    records: Vec<Record>,
}

impl Sink {
    fn push(&mut self, record: Record) -> Result<(), Stop> {
        self.records.push(record);
        if self.records.len() >= RECORDS_PER_ITEM {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if self.records.is_empty() {
            return Ok(());
        }
        let records = std::mem::replace(&mut self.records, Vec::with_capacity(RECORDS_PER_ITEM));
        self.send(Item::Records(records))
    }

    fn send(&mut self, item: Item) -> Result<(), Stop> {
        self.tx.blocking_send(item).map_err(|_| Stop::Closed)
    }
}

/// An event from its JSON form, checked as the API checks it.
pub fn parse_event(value: serde_json::Value) -> Result<EventInput, Vec<FieldError>> {
    let input: EventInput = crate::json::from_value(value).map_err(|err| match err {
        ApiError::Validation(errors) => errors,
        other => vec![FieldError::new("body", other.to_string())],
    })?;
    input.check()?;
    Ok(input)
}

/// A JSON record is an event, optionally with `known_at`: when what it says
/// became public, so that an archive can be loaded with its own history.
fn json_record(line: u64, mut value: serde_json::Value) -> Record {
    let known_at = take_known_at(&mut value);
    let parsed = match (parse_event(value), known_at) {
        (Ok(input), Ok(known_at)) => Ok(Parsed { input, known_at }),
        (Ok(_), Err(error)) => Err(vec![error]),
        (Err(mut errors), Err(error)) => {
            errors.push(error);
            Err(errors)
        }
        (Err(errors), Ok(_)) => Err(errors),
    };
    Record { line, parsed }
}

fn take_known_at(value: &mut serde_json::Value) -> Result<Option<DateTime<Utc>>, FieldError> {
    let Some(raw) = value.as_object_mut().and_then(|o| o.remove("known_at")) else {
        return Ok(None);
    };
    raw.as_str()
        .and_then(|t| crate::filter::parse_instant(t).ok())
        .map(Some)
        .ok_or_else(|| FieldError::new("known_at", "must be an RFC 3339 date-time with offset"))
}

/// NDJSON: one event per line; blank lines are skipped.
fn ndjson(reader: impl Read, sink: &mut Sink) -> Result<(), Stop> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        buf.clear();
        line += 1;
        let limit = (MAX_LINE_BYTES + 1) as u64;
        let read = (&mut reader)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(|e| fatal(line, format!("reading the body failed: {e}")))?;
        if read == 0 {
            return Ok(());
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(fatal(
                line,
                format!("line {line} is longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = match serde_json::from_slice(&buf) {
            Ok(value) => json_record(line, value),
            Err(e) => Record {
                line,
                parsed: Err(vec![FieldError::new("body", format!("not JSON: {e}"))]),
            },
        };
        sink.push(record)?;
    }
}

/// Where the JSON reader is: the current line, and the line the next
/// record starts on (the first byte after `arm` that is not whitespace or a comma).
#[derive(Default)]
struct Position {
    line: Cell<u64>,
    armed: Cell<bool>,
    start: Cell<u64>,
}

/// Counts lines of what serde_json consumes; it reads byte by byte, so the
/// count is exact at every point it returns to us.
struct Counted<R> {
    inner: R,
    at: Rc<Position>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            if self.at.armed.get() && !matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b',') {
                self.at.armed.set(false);
                self.at.start.set(self.at.line.get());
            }
            if byte == b'\n' {
                self.at.line.set(self.at.line.get() + 1);
            }
        }
        Ok(n)
    }
}

/// A JSON array of events, or a bundle `{"timelines": [...], "events": [...]}`,
/// read element by element.
fn json(reader: impl Read, sink: &mut Sink) -> Result<(), Stop> {
    let at = Rc::new(Position::default());
    at.line.set(1);
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
    result.map_err(|e| {
        let line = u64::try_from(e.line()).unwrap_or(0).max(1);
        fatal(line, format!("not valid JSON: {e}"))
    })
}

struct Document<'a> {
    sink: &'a mut Sink,
    at: &'a Rc<Position>,
    /// Set when the sink refused a record, so that the error is not a JSON one.
    stop: &'a Cell<Option<Stop>>,
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of events or a bundle {\"timelines\": [...], \"events\": [...]}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Events(self).read(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut events = Some(Events(self));
        while let Some(key) = map.next_key::<String>()? {
            match (key.as_str(), events.as_mut()) {
                ("timelines", Some(events)) => {
                    let timelines: Vec<NewTimeline> = map.next_value()?;
                    events.send(Item::Timelines(timelines))?;
                }
                ("events", Some(_)) => {
                    map.next_value_seed(
                        events
                            .take()
                            .ok_or_else(|| A::Error::custom("unreachable"))?,
                    )?;
                }
                ("events", None) => return Err(A::Error::duplicate_field("events")),
                ("timelines", None) => {
                    return Err(A::Error::custom("`timelines` must come before `events`"));
                }
                (other, _) => return Err(A::Error::unknown_field(other, &["timelines", "events"])),
            }
        }
        Ok(())
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
            doc.at.armed.set(true);
            let Some(value) = seq.next_element::<serde_json::Value>()? else {
                return Ok(());
            };
            let record = json_record(doc.at.start.get(), value);
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

/// Maps the rows of one CSV dialect to events.
pub trait CsvColumns: Sized {
    /// Reads the header row; a header that cannot be used fails the import.
    fn from_header(header: &csv::StringRecord) -> Result<Self, FieldError>;
    fn parse(&self, row: &csv::StringRecord) -> Result<Parsed, Vec<FieldError>>;
}

/// CSV with a header row, one event per row.
fn csv_rows<C: CsvColumns>(reader: impl Read, sink: &mut Sink) -> Result<(), Stop> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(BufReader::with_capacity(1 << 16, reader));
    let mut header = csv
        .headers()
        .map_err(|e| fatal(1, format!("the header row cannot be read: {e}")))?
        .clone();
    // Exports made for Excel (`bom=true`) start with a byte order mark.
    if let Some(first) = header.get(0).and_then(|h| h.strip_prefix('\u{feff}')) {
        let mut fields: Vec<String> = header.iter().map(String::from).collect();
        fields[0] = first.to_owned();
        header = csv::StringRecord::from(fields);
    }
    let columns = C::from_header(&header).map_err(|e| Stop::Fatal(e.at_line(1)))?;
    // After a `\r\n`, the reader stands on its `\n` and so counts one line
    // short; whether the header ended so tells which kind of file this is.
    let crlf = u64::from(csv.position().line() == 1);
    let mut row = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut row) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = row.position().map_or(0, csv::Position::line) + crlf;
                sink.push(Record {
                    line,
                    parsed: columns.parse(&row),
                })?;
            }
            Err(err) => {
                let line = err.position().map_or(0, csv::Position::line) + crlf;
                if let csv::ErrorKind::Io(io) = err.kind() {
                    return Err(fatal(line, format!("reading the body failed: {io}")));
                }
                sink.push(Record {
                    line,
                    parsed: Err(vec![FieldError::new(
                        "body",
                        format!("not a valid CSV row: {err}"),
                    )]),
                })?;
            }
        }
    }
}
