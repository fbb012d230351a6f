//! CSV (RFC 4180): UTF-8, a header row, CRLF line ends, fields quoted when
//! they contain a comma, a quote or a line break. One row per event, in the
//! fixed column order of `formats::columns::COLUMNS` (docs/formats.md, "CSV columns"), carrying
//! every writable field, so that an export re-imports without loss.

use chrono::SecondsFormat;

use super::columns::{COLUMNS, optional};
use super::encoder::EventEncoder;
use crate::error::ApiError;
use crate::models::event::StoredEvent;
use crate::models::stats::{CasualtyStats, Dimension, Histogram};

/// Writes `rows` as CSV records (no header handling of its own): the one
/// writer configuration every CSV of the API uses.
pub fn records<R, I>(rows: R) -> Result<Vec<u8>, ApiError>
where
    R: IntoIterator<Item = I>,
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for row in rows {
        writer.write_record(row).map_err(ApiError::internal)?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))
}

/// The UTF-8 byte order mark (`bom=true`).
pub const BOM: &[u8] = "\u{feff}".as_bytes();

/// Events as CSV rows.
pub struct EventCsv {
    bom: bool,
}

impl EventCsv {
    pub fn new(bom: bool) -> Self {
        Self { bom }
    }
}

impl EventEncoder for EventCsv {
    fn head(&mut self) -> Vec<u8> {
        let names: Vec<_> = COLUMNS.iter().map(|c| c.name()).collect();
        let mut out = if self.bom { BOM.to_vec() } else { Vec::new() };
        out.extend(records([names.iter().map(|n| n.as_bytes())]).unwrap_or_default());
        out
    }

    fn events(&mut self, events: &[StoredEvent]) -> Result<Vec<u8>, ApiError> {
        let rows = super::encoder::parse_stored(events)?
            .iter()
            .map(|event| COLUMNS.iter().map(|column| column.cell(event)).collect())
            .collect::<Result<Vec<Vec<String>>, ApiError>>()?;
        records(rows)
    }
}

/// A histogram as a table: `label,start,end,count`, then one column per type.
pub fn histogram(histogram: &Histogram, bom: bool) -> Result<Vec<u8>, ApiError> {
    let mut header = vec!["label", "start", "end", "count"];
    header.extend(histogram.types.iter().map(String::as_str));
    let rows = histogram.buckets.iter().map(|b| {
        let mut row = vec![
            b.label.clone(),
            b.start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            b.end.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            b.count.to_string(),
        ];
        row.extend(b.by_type.values().map(|n| n.to_string()));
        row
    });
    table(&header, rows, bom)
}

/// Casualty sums as a table: the `group_by` columns, then
/// `kind,status,min_sum,max_sum,figures,unbounded,events`.
pub fn casualties(stats: &CasualtyStats, bom: bool) -> Result<Vec<u8>, ApiError> {
    let dims: Vec<Dimension> = [Dimension::Day, Dimension::Type, Dimension::Party]
        .into_iter()
        .filter(|d| stats.group_by.contains(d))
        .collect();
    let mut header: Vec<&str> = dims
        .iter()
        .map(|d| match d {
            Dimension::Day => "day",
            Dimension::Type => "type",
            _ => "party",
        })
        .collect();
    header.extend([
        "kind",
        "status",
        "min_sum",
        "max_sum",
        "figures",
        "unbounded",
        "events",
    ]);
    let rows = stats.rows.iter().map(|r| {
        let mut row: Vec<String> = dims
            .iter()
            .map(|d| match d {
                Dimension::Day => optional(r.day),
                Dimension::Type => optional(r.event_type.as_ref()),
                _ => optional(r.party.as_ref()),
            })
            .collect();
        row.extend([
            r.kind.as_str().to_owned(),
            r.status.as_str().to_owned(),
            r.min_sum.to_string(),
            optional(r.max_sum),
            r.figures.to_string(),
            r.unbounded.to_string(),
            r.events.to_string(),
        ]);
        row
    });
    table(&header, rows, bom)
}

fn table(
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    bom: bool,
) -> Result<Vec<u8>, ApiError> {
    let mut out = if bom { BOM.to_vec() } else { Vec::new() };
    out.extend(records(
        [header.iter().map(|h| h.to_string()).collect()]
            .into_iter()
            .chain(rows),
    )?);
    Ok(out)
}
