//! The change feed as it crosses the API: positions, entries and pages.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::event::{Event, StoredEvent};
use super::values::EventId;

/// The header that says where the feed resumes after an NDJSON read of it.
pub const NEXT_CURSOR_HEADER: &str = "chronik-next-cursor";

/// A position in the change feed: the transaction id the revision is served
/// after (`feed_xid`) and its sequence number. Written as `<xid>-<seq>`,
/// which clients treat as opaque.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedPosition {
    pub xid: i64,
    pub seq: i64,
}

impl FeedPosition {
    /// Before every change.
    pub const START: Self = Self { xid: 0, seq: 0 };

    /// The first position no transaction still running (or yet to start)
    /// can write before: everything before it is settled.
    pub fn settled(watermark: i64) -> Self {
        Self {
            xid: watermark,
            seq: 0,
        }
    }
}

impl std::fmt::Display for FeedPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.xid, self.seq)
    }
}

impl std::str::FromStr for FeedPosition {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        let invalid = || format!("`{raw}` is not a cursor of the change feed");
        let (xid, seq) = raw.split_once('-').ok_or_else(invalid)?;
        let number = |part: &str| {
            // Digits only: no sign, no spaces, no leading `+`.
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            part.parse::<i64>().map_err(|_| invalid())
        };
        Ok(Self {
            xid: number(xid)?,
            seq: number(seq)?,
        })
    }
}

/// What a feed entry says happened to the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FeedKind {
    Created,
    Updated,
    Deleted,
    Restored,
    /// Only in a filtered feed: the event matched the filter before this
    /// change and no longer does (its type, timelines, … changed). A copy of
    /// the filtered feed drops it; `event` is its new state.
    Left,
}

impl FeedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::Restored => "restored",
            Self::Left => "left",
        }
    }
}

/// One committed change of one event: a revision, as the feed serves it.
/// Describes entries in the spec; they are written by [`ChangeEntry`],
/// which a test holds to the same fields.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "cursor": "8812-10443",
    "kind": "updated",
    "event_id": "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01",
    "external_id": null,
    "version": 3,
    "known_at": "2022-01-06T09:10:00Z",
    "recorded_at": "2022-01-06T09:12:31.120Z",
    "changed_fields": ["casualties"],
    "timelines": ["kazakhstan-2022-unrest"],
    "event": {"id": "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01", "title": "Dozens of protesters killed in Almaty, police say", "version": 3}
}))]
#[allow(dead_code)] // Describes entries in the spec; never built.
pub struct Change {
    /// This entry's position: pass it as `after` (or `Last-Event-ID`) to read what follows.
    #[schema(example = "8812-10443")]
    pub cursor: String,
    pub kind: FeedKind,
    pub event_id: EventId,
    /// The event's `external_id` (kept on tombstones, so that a copy keyed by it can drop the row).
    pub external_id: Option<String>,
    /// The event's version this change made.
    pub version: i32,
    /// When the information became public.
    pub known_at: DateTime<Utc>,
    /// When Chronik recorded the change.
    pub recorded_at: DateTime<Utc>,
    /// The fields the change set (`timelines` for a membership change).
    pub changed_fields: Vec<String>,
    /// The timelines the change touches: those the event is on after it and
    /// those it was on before it (a removal touches the timeline it left).
    pub timelines: Vec<String>,
    /// The event as the change left it; `null` on a `deleted` tombstone.
    pub event: Option<Event>,
}

/// One entry of the feed as read from the store.
#[derive(Debug, Serialize)]
pub struct ChangeEntry {
    #[serde(serialize_with = "as_text")]
    pub cursor: FeedPosition,
    pub kind: FeedKind,
    pub event_id: EventId,
    pub external_id: Option<String>,
    pub version: i32,
    pub known_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub changed_fields: Vec<String>,
    pub timelines: Vec<String>,
    /// Written as stored, without being parsed again.
    #[serde(skip)]
    pub event: Option<StoredEvent>,
}

fn as_text<S: serde::Serializer>(position: &FeedPosition, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(position)
}

impl ChangeEntry {
    /// Appends the entry as one JSON object.
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        serde_json::to_writer(&mut *out, self)?;
        // Reopen the object to add the stored snapshot as it is.
        out.pop();
        out.extend_from_slice(b",\"event\":");
        match &self.event {
            Some(event) => out.extend_from_slice(event.json().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        Ok(())
    }
}

/// A page of the change feed (written by [`ChangeEntry::write_json`] and [`page_json`]).
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // Describes pages in the spec; never built.
pub struct ChangePage {
    /// The changes after `after`, oldest first.
    pub data: Vec<Change>,
    /// Always present: where to read on. When `has_more` is false the feed
    /// is read to its end for now; ask again later with this cursor.
    #[schema(example = "8815-0")]
    pub next_cursor: String,
    /// Whether more changes are committed beyond `next_cursor` already.
    pub has_more: bool,
}

/// A JSON page: `{"data": [...], "next_cursor": "...", "has_more": ...}`.
pub fn page_json(
    entries: &[ChangeEntry],
    next: FeedPosition,
    has_more: bool,
) -> Result<Vec<u8>, serde_json::Error> {
    let size: usize = entries
        .iter()
        .map(|e| e.event.as_ref().map_or(0, |s| s.json().len()) + 300)
        .sum();
    let mut out = Vec::with_capacity(size + 64);
    out.extend_from_slice(b"{\"data\":[");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        entry.write_json(&mut out)?;
    }
    out.extend_from_slice(
        format!("],\"next_cursor\":\"{next}\",\"has_more\":{has_more}}}").as_bytes(),
    );
    Ok(out)
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_reads_back_what_it_writes() {
        let position = FeedPosition { xid: 812, seq: 10 };
        assert_eq!(position.to_string().parse::<FeedPosition>(), Ok(position));
    }

    #[test]
    fn a_cursor_with_signs_spaces_or_missing_parts_is_refused() {
        for raw in [
            "",
            "1",
            "1-",
            "-1",
            "+1-2",
            "1--2",
            "1-2-3",
            " 1-2",
            "a-b",
            "99999999999999999999-1",
        ] {
            assert!(raw.parse::<FeedPosition>().is_err(), "{raw}");
        }
    }

    fn entry(event: Option<&str>) -> ChangeEntry {
        ChangeEntry {
            cursor: FeedPosition { xid: 9, seq: 4 },
            kind: FeedKind::Updated,
            event_id: EventId::new(),
            external_id: None,
            version: 2,
            known_at: Utc::now(),
            recorded_at: Utc::now(),
            changed_fields: vec!["title".into()],
            timelines: vec![],
            event: event.map(|json| StoredEvent::from_stored_json(json.into())),
        }
    }

    #[test]
    fn an_entry_has_the_fields_the_spec_describes() {
        let mut out = Vec::new();
        entry(Some(r#"{"id":"x"}"#)).write_json(&mut out).unwrap();
        let written: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let mut keys: Vec<&String> = written.as_object().unwrap().keys().collect();
        keys.sort();
        let schema = serde_json::to_value(<Change as utoipa::PartialSchema>::schema()).unwrap();
        let mut described: Vec<&String> =
            schema["properties"].as_object().unwrap().keys().collect();
        described.sort();
        assert_eq!(keys, described);
        assert_eq!(written["event"]["id"], "x");
        assert_eq!(written["cursor"], "9-4");
    }

    #[test]
    fn a_tombstone_has_a_null_event() {
        let mut out = Vec::new();
        entry(None).write_json(&mut out).unwrap();
        let written: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(written["event"].is_null());
    }

    #[test]
    fn a_page_always_names_its_next_cursor() {
        let page = page_json(&[], FeedPosition { xid: 3, seq: 0 }, false).unwrap();
        let page: serde_json::Value = serde_json::from_slice(&page).unwrap();
        assert_eq!(
            page,
            serde_json::json!({"data": [], "next_cursor": "3-0", "has_more": false})
        );
    }

    #[test]
    fn positions_order_by_transaction_then_sequence() {
        let a = FeedPosition { xid: 5, seq: 900 };
        let b = FeedPosition { xid: 6, seq: 1 };
        assert!(a < b);
        assert!(FeedPosition::settled(6) < b);
    }
}
