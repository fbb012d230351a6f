use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A person, organization or state named in events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Saltanat Azirbek", "event_count": 2}))]
pub struct Actor {
    /// The name as first recorded; names match case-insensitively.
    pub name: String,
    /// Number of (not deleted) events naming the actor.
    pub event_count: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActorPage {
    pub data: Vec<Actor>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}
