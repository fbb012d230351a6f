//! Reading an import: turns a byte stream in one of the input formats into
//! records, on a blocking thread, a batch at a time, so that memory stays
//! bounded however long the input is. Each record keeps the line it starts
//! on, for error reports.
//!
//! Memory is bounded per record as well: a record (an NDJSON line, an
//! element of a JSON array or of a bundle's `timelines`, a CSV row) larger
//! than [`Limits::record_bytes`] stops the import as soon as the reader has
//! seen that many bytes of it, before it is held whole. Records are handed
//! on in groups (see `import::sink`), at
//! most [`ITEMS_AHEAD`] groups ahead of the writer.

use std::io::{BufRead, BufReader, Read};
use tokio::sync::mpsc;

use super::csv_rows::csv_rows;
use super::format::InputFormat;
use super::json_doc::json;
use super::record::{Record, json_record};
use super::sink::{Item, Sink, Stop, fatal, too_large};
use crate::error::FieldError;

/// Messages the reading thread may be ahead of the writer.
const ITEMS_AHEAD: usize = 4;

/// The default of [`Limits::record_bytes`] (`CHRONIK_MAX_IMPORT_RECORD_BYTES`):
/// the default largest body of `POST /v1/events`, so an event that can be
/// posted can be imported.
pub const DEFAULT_RECORD_BYTES: usize = 1 << 20;

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

/// Starts reading `reader` as `format` on a blocking thread.
pub fn spawn(
    format: InputFormat,
    reader: impl Read + Send + 'static,
    limits: Limits,
) -> mpsc::Receiver<Item> {
    let (tx, rx) = mpsc::channel(ITEMS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut sink = Sink::new(tx);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::sink::BYTES_PER_ITEM;
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
