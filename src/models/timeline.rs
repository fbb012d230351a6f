use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::values::{TimelineSlug, Title};

/// A named, curated sequence of events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "slug": "kazakhstan-2022-unrest",
    "title": "Unrest in Kazakhstan, January 2022",
    "description": "Protests, the CSTO deployment and the crackdown.",
    "event_count": 8,
    "first_event_at": "2022-01-05T12:00:00Z",
    "last_event_at": "2022-01-06T06:00:00Z",
    "created_at": "2026-11-24T10:00:00Z",
    "updated_at": "2026-11-24T10:00:00Z"
}))]
pub struct Timeline {
    pub slug: TimelineSlug,
    pub title: String,
    pub description: Option<String>,
    /// Number of (not deleted) events on the timeline.
    pub event_count: i64,
    /// Earliest `occurred_start` of its events.
    pub first_event_at: Option<DateTime<Utc>>,
    /// Latest end (`occurred_end`, else `occurred_start`) of its events.
    pub last_event_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /v1/timelines`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"slug": "kazakhstan-2022-unrest", "title": "Unrest in Kazakhstan, January 2022", "description": "Protests, the CSTO deployment and the crackdown."}))]
pub struct NewTimeline {
    pub slug: TimelineSlug,
    pub title: Title,
    #[serde(default)]
    pub description: Option<String>,
}

/// Body of `PATCH /v1/timelines/{slug}` (JSON merge patch; the slug cannot change).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Updated description"}))]
pub struct TimelinePatch {
    #[serde(default)]
    pub title: Option<Title>,
    /// `null` clears the description.
    #[serde(default, deserialize_with = "crate::models::double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineList {
    pub data: Vec<Timeline>,
}
