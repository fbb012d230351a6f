use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::values::EventTypeSlug;

/// An entry of the event-type vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"slug": "military_deployment", "label": "Military deployment", "description": "Troops, police or paramilitary forces sent to or moved within an area.", "created_at": "2026-11-24T10:00:00Z"}))]
pub struct EventType {
    pub slug: EventTypeSlug,
    pub label: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /v1/event-types`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"slug": "internet_shutdown", "label": "Internet shutdown", "description": "Nationwide or regional internet blackout."}))]
pub struct NewEventType {
    pub slug: EventTypeSlug,
    /// 1 to 200 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]"
    )]
    pub label: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventTypeList {
    pub data: Vec<EventType>,
}
