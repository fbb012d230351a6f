//! Newline-delimited JSON: one event per line, exactly as the JSON API shows it.

use super::encoder::EventEncoder;
use crate::error::ApiError;
use crate::models::event::StoredEvent;

pub struct Ndjson;

impl EventEncoder for Ndjson {
    fn events(&mut self, events: &[StoredEvent]) -> Result<Vec<u8>, ApiError> {
        let size: usize = events.iter().map(|e| e.json().len() + 1).sum();
        let mut out = Vec::with_capacity(size);
        for event in events {
            // jsonb's text escapes line breaks inside strings, so a line is an event.
            out.extend_from_slice(event.json().as_bytes());
            out.push(b'\n');
        }
        Ok(out)
    }
}
