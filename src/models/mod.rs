//! Types that cross the API boundary.

pub mod actor;
pub mod event;
pub mod event_type;
pub mod timeline;
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
