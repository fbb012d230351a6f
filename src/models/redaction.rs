//! Redaction: an event's history erased for a legal takedown, and the record of who did it and why.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Longest accepted `reason`, in characters.
pub const MAX_REASON_CHARS: usize = 1000;

/// What an admin sends to redact an event.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Court order 2026-C-118: names a private person"}))]
pub struct RedactionInput {
    /// Why the history is erased, 1 to 1000 characters; kept with the redaction and shown with the history.
    /// Control characters other than line breaks are refused; leading and trailing white space is trimmed.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 1000, pattern = r"^[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*([^\u0000-\u0009\u000B-\u001F\u007F-\u009F\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]([^\u0000-\u0009\u000B-\u001F\u007F-\u009F]*[^\u0000-\u0009\u000B-\u001F\u007F-\u009F\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000])?)[\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$")]
    #[serde(default)]
    pub reason: Option<String>,
}

/// A reason that is present, not blank, not too long, and free of control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl RedactionInput {
    pub fn reason(self) -> Result<Reason, ApiError> {
        let reason = self.reason.as_deref().unwrap_or_default().trim();
        let problem = if self.reason.is_none() {
            Some("is required".to_owned())
        } else if reason.is_empty() {
            Some("must not be empty".to_owned())
        } else if reason.chars().count() > MAX_REASON_CHARS {
            Some(format!("must be at most {MAX_REASON_CHARS} characters"))
        } else if reason.chars().any(|c| c.is_control() && c != '\n') {
            Some("must not contain control characters".to_owned())
        } else {
            None
        };
        match problem {
            Some(message) => Err(ApiError::invalid("reason", message)),
            None => Ok(Reason(reason.to_owned())),
        }
    }
}

impl Reason {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who redacted an event's history, when and why.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "redacted_at": "2026-12-03T09:00:00Z",
    "redacted_by": "01943b10-2f4e-7a31-8c55-0b7e4d2f9a10",
    "reason": "Court order 2026-C-118: names a private person",
    "revisions": 3
}))]
pub struct Redaction {
    pub redacted_at: DateTime<Utc>,
    /// Id of the admin token that redacted; `null` for the command line.
    pub redacted_by: Option<String>,
    pub reason: String,
    /// How many revisions were erased.
    pub revisions: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(raw: &str) -> Result<Reason, ApiError> {
        RedactionInput {
            reason: Some(raw.into()),
        }
        .reason()
    }

    #[test]
    fn a_reason_is_trimmed_and_must_say_something_printable() {
        assert_eq!(reason("  court order ").unwrap().as_str(), "court order");
        assert!(reason("   ").is_err());
        assert!(reason("a\u{0}b").is_err());
        assert!(reason(&"x".repeat(MAX_REASON_CHARS + 1)).is_err());
        assert!(reason(&"x".repeat(MAX_REASON_CHARS)).is_ok());
        assert!(RedactionInput { reason: None }.reason().is_err());
    }
}
