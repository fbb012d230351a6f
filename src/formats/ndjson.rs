//! Newline-delimited JSON: one event per line, exactly as the JSON API shows it.

use super::EventEncoder;
use crate::error::ApiError;
use crate::models::event::Event;

pub struct Ndjson;

impl EventEncoder for Ndjson {
    fn events(&mut self, events: &[Event]) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::new();
        for event in events {
            // serde_json escapes line breaks inside strings, so a line is an event.
            serde_json::to_writer(&mut out, event).map_err(ApiError::internal)?;
            out.push(b'\n');
        }
        Ok(out)
    }
}
