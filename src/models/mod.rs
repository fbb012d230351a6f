//! Types that cross the API boundary.

pub mod actor;
pub mod change;
pub mod closed_lists;
pub mod event;
pub mod event_patch;
pub mod event_type;
pub mod position;
pub mod redaction;
pub mod revision;
pub mod stats;
pub mod timeline;
pub mod token;
pub mod values;

use serde::{Deserialize, Deserializer};

/// Tells an absent key (`None`) from an explicit `null` (`Some(None)`), as merge patches need.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

const RFC3339_HINT: &str =
    "must be an RFC 3339 date-time with an offset, such as 2022-01-06T05:00:00+06:00";

/// Deserializes an RFC 3339 date-time, with a message that says what is expected.
pub fn rfc3339<'de, D>(deserializer: D) -> Result<chrono::DateTime<chrono::Utc>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw =
        String::deserialize(deserializer).map_err(|_| serde::de::Error::custom(RFC3339_HINT))?;
    chrono::DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| serde::de::Error::custom(format!("`{raw}` {RFC3339_HINT}")))
}

/// Like [`rfc3339`], for optional fields (`null` is `None`).
pub fn rfc3339_opt<'de, D>(
    deserializer: D,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "rfc3339")] chrono::DateTime<chrono::Utc>);
    Option::<Wrapped>::deserialize(deserializer).map(|w| w.map(|w| w.0))
}
