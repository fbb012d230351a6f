//! `chronik import FILE`: loads events (and timelines) from JSON or NDJSON,
//! idempotently by `external_id`, in one transaction.

use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Deserialize;

use crate::db;
use crate::db::events::ChangeMeta;
use crate::error::ApiError;
use crate::models::event::EventInput;
use crate::models::timeline::NewTimeline;

/// A file with the timelines its events refer to, as `data/` ships the demo.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bundle {
    #[serde(default)]
    timelines: Vec<NewTimeline>,
    events: Vec<serde_json::Value>,
}

#[derive(Debug)]
pub struct Document {
    pub timelines: Vec<NewTimeline>,
    /// Each event with the record number (1-based line in NDJSON, index + 1 in arrays) it came from.
    pub events: Vec<(usize, EventInput)>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub timelines_created: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Reads a bundle (`{"timelines": [...], "events": [...]}`), a JSON array of events, or NDJSON.
pub fn parse(text: &str) -> Result<Document, String> {
    let trimmed = text.trim_start();
    let (timelines, records): (Vec<NewTimeline>, Vec<(usize, serde_json::Value)>) =
        if trimmed.starts_with('[') {
            let values: Vec<serde_json::Value> =
                serde_json::from_str(text).map_err(|e| format!("not a JSON array: {e}"))?;
            (
                Vec::new(),
                values
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (i + 1, v))
                    .collect(),
            )
        } else if let Ok(bundle) = serde_json::from_str::<Bundle>(text) {
            (
                bundle.timelines,
                bundle
                    .events
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (i + 1, v))
                    .collect(),
            )
        } else {
            let mut records = Vec::new();
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let value = serde_json::from_str(line)
                    .map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
                records.push((i + 1, value));
            }
            (Vec::new(), records)
        };
    let mut events = Vec::with_capacity(records.len());
    for (n, value) in records {
        let input: EventInput =
            crate::json::from_value(value).map_err(|e| format!("record {n}: {e}"))?;
        input
            .check()
            .map_err(|errors| format!("record {n}: {}", ApiError::Validation(errors)))?;
        events.push((n, input));
    }
    Ok(Document { timelines, events })
}

/// Writes the document: missing timelines are created, events with a known
/// `external_id` are replaced (a no-op when nothing changed), others created.
/// All or nothing.
pub async fn load(conn: &mut AsyncPgConnection, document: Document) -> anyhow::Result<Summary> {
    conn.transaction::<_, anyhow::Error, _>(async move |conn| {
        let mut summary = Summary::default();
        for timeline in document.timelines {
            let slug = timeline.slug.clone();
            let exists = db::timelines::find(conn, &timeline.slug)
                .await
                .map_err(|e| anyhow::anyhow!("timeline `{slug}`: {e}"))?;
            if exists.is_none() {
                db::timelines::create(conn, timeline)
                    .await
                    .map_err(|e| anyhow::anyhow!("timeline `{slug}`: {e}"))?;
                summary.timelines_created += 1;
            }
        }
        for (n, input) in document.events {
            load_event(conn, input, &mut summary)
                .await
                .map_err(|e| anyhow::anyhow!("record {n}: {e}"))?;
        }
        Ok(summary)
    })
    .await
}

async fn load_event(
    conn: &mut AsyncPgConnection,
    input: EventInput,
    summary: &mut Summary,
) -> Result<(), ApiError> {
    let existing = match &input.external_id {
        Some(external_id) => db::events::find_by_external_id(conn, external_id).await?,
        None => None,
    };
    match existing {
        Some((id, version)) => {
            let event = db::events::replace(conn, id, input, None, &ChangeMeta::default()).await?;
            if event.version == version {
                summary.unchanged += 1;
            } else {
                summary.updated += 1;
            }
        }
        None => {
            db::events::create(conn, input, &ChangeMeta::default()).await?;
            summary.created += 1;
        }
    }
    Ok(())
}

/// The demo timeline shipped in `data/`, built into the binary.
pub const DEMO: &str = include_str!("../data/kazakhstan-2022-unrest.json");
