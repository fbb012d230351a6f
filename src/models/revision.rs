//! An event's history as it crosses the API: its revisions.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::event::Event;
use super::redaction::Redaction;

/// Metadata of a change that is not part of the event: when the information
/// became public (`known_at`, default: now) and who made the change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeMeta {
    pub known_at: Option<DateTime<Utc>>,
    pub author: Option<String>,
}

/// What kind of change a revision records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
    Restored,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::Restored => "restored",
        }
    }
}

impl std::str::FromStr for ChangeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "created" => Ok(Self::Created),
            "updated" => Ok(Self::Updated),
            "deleted" => Ok(Self::Deleted),
            "restored" => Ok(Self::Restored),
            other => Err(format!("`{other}` is not a kind of change")),
        }
    }
}

/// One version of an event: what changed, when it became known, when Chronik stored it, and who made it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "version": 2,
    "kind": "updated",
    "known_at": "2022-01-06T09:30:00Z",
    "recorded_at": "2026-11-24T10:05:00Z",
    "author": "01943b10-2f4e-7a31-8c55-0b7e4d2f9a10",
    "changed_fields": ["casualties", "status"]
}))]
pub struct Revision {
    /// The event's `version` this revision made.
    pub version: i32,
    pub kind: ChangeKind,
    /// When the information became public; what `as_of` reads by. Defaults to `recorded_at`.
    pub known_at: DateTime<Utc>,
    /// When Chronik stored the revision (server clock; never changes).
    pub recorded_at: DateTime<Utc>,
    /// Id of the API token that made the change; `null` for the command line (imports, demo data).
    pub author: Option<String>,
    /// Top-level fields whose value this revision changed (all of them on creation; none on delete and restore).
    pub changed_fields: Vec<String>,
}

/// One revision with the full event as it was at that version.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RevisionDetail {
    #[serde(flatten)]
    pub revision: Revision,
    /// The event as this revision left it (for `deleted`, as it was when deleted).
    pub event: Event,
    /// Present when the event's history was redacted: the event above is then emptied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
}

/// One page of an event's revisions, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevisionPage {
    pub data: Vec<Revision>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Present when the event's history was redacted: who, when and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
}
