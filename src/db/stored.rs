//! Values read back from the database.

use crate::error::ApiError;

/// Values read back from the database passed the same checks on the way in;
/// failing here means the schema and the code disagree.
pub fn parse_stored<T: std::str::FromStr<Err = String>>(s: String) -> Result<T, ApiError> {
    s.parse()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("stored value does not parse: {e}")))
}
