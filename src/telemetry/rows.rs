//! How many rows a request returned, for its log line: set by the handlers
//! of lists, and counted up batch by batch by a streamed export, whose
//! line is written when its body has been sent.

use actix_web::{HttpMessage, HttpRequest};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The rows of one request; unknown (not logged) until a handler says.
#[derive(Debug, Clone, Default)]
pub struct Rows(Arc<AtomicU64>);

/// Stored as count + 1, so that 0 means "not known".
const UNKNOWN: u64 = 0;

impl Rows {
    /// The counter of `req`'s rows (one that nobody reads outside the request log).
    pub fn of(req: &HttpRequest) -> Self {
        req.extensions().get::<Self>().cloned().unwrap_or_default()
    }

    /// `req` returned `n` rows.
    pub fn set(req: &HttpRequest, n: usize) {
        Self::of(req).0.store(n as u64 + 1, Ordering::Relaxed);
    }

    /// `n` more rows (a batch of an export).
    pub fn add(&self, n: usize) {
        // From "unknown", the first batch makes the count known.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |stored| {
                Some(stored.max(1) + n as u64)
            });
    }

    pub fn get(&self) -> Option<u64> {
        match self.0.load(Ordering::Relaxed) {
            UNKNOWN => None,
            stored => Some(stored - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_unknown_until_counted() {
        let rows = Rows::default();
        assert_eq!(rows.get(), None);
        rows.add(0);
        assert_eq!(rows.get(), Some(0));
        rows.add(3);
        rows.add(2);
        assert_eq!(rows.get(), Some(5));
    }
}
