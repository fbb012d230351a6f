//! Reading a JSON import: an array of events, or a bundle (an object with
//! `timelines` and `events`, or a list page with `data`), one element at a
//! time, counting lines and bytes as serde consumes them.

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::io::{BufReader, Read};
use std::rc::Rc;

use super::record::json_record;
use super::sink::{BYTES_PER_ITEM, Item, RECORDS_PER_ITEM, Sink, Stop, fatal, too_large};
use crate::error::{ApiError, FieldError};
use crate::models::timeline::NewTimeline;

/// Where the JSON reader is: the current line, and the line the next
/// record starts on (the first byte after `arm` that is not whitespace or a
/// comma); and how far the current record reaches, to stop one that grows
/// past the limit while serde_json still reads it.
pub(super) struct Position {
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
pub(super) struct Counted<R> {
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
pub(super) fn json(reader: impl Read, sink: &mut Sink, limit: usize) -> Result<(), Stop> {
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
pub(super) const DOCUMENT_KEYS: &[&str] = &["timelines", "events", "data", "next_cursor", "meta"];

pub(super) struct Document<'a> {
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
pub(super) struct Events<'a>(Document<'a>);

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

pub(super) fn refuse<E: serde::de::Error>(slot: &Cell<Option<Stop>>, stop: Stop) -> E {
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
pub(super) struct Timelines<'b, 'a>(&'b mut Events<'a>);

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
pub(super) fn bad_timeline(index: usize, line: u64, err: ApiError) -> Stop {
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
