//! What every streamed format implements, and what the formats that
//! reshape events share.

use crate::error::ApiError;
use crate::models::event::{Event, StoredEvent};

/// Turns events into bytes of one format, batch by batch, so that a response
/// of any size is written without holding it in memory.
pub trait EventEncoder {
    /// What comes before the first event (a header row, an opening bracket).
    fn head(&mut self) -> Vec<u8> {
        Vec::new()
    }

    fn events(&mut self, events: &[StoredEvent]) -> Result<Vec<u8>, ApiError>;

    /// What comes after the last event.
    fn tail(&mut self) -> Vec<u8> {
        Vec::new()
    }
}

/// The events parsed, for formats that reshape them.
pub fn parse_stored(events: &[StoredEvent]) -> Result<Vec<Event>, ApiError> {
    events
        .iter()
        .map(|event| event.to_event().map_err(ApiError::internal))
        .collect()
}
