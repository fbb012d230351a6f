//! Request bodies: JSON read with errors that name the offending field.

use actix_web::HttpRequest;
use actix_web::http::header;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// Parses a JSON body whose media type is one of `accepted`.
pub fn parse_body<T: DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
    accepted: &[&str],
) -> Result<T, ApiError> {
    check_content_type(req, accepted)?;
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    from_value(value)
}

/// Converts already-parsed JSON into `T`; a mismatch is a 422 naming the JSON path.
/// So is a NUL in any string: Postgres cannot store it (see [`crate::control_chars`]).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if let Some(field) = crate::control_chars::nul_path(&value) {
        return Err(ApiError::invalid(
            field,
            "must not contain NUL (U+0000): it cannot be stored",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        ApiError::Validation(vec![FieldError::new(field, err.into_inner().to_string())])
    })
}

fn content_type(req: &HttpRequest) -> &str {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The request's media type without parameters, lower-cased (`text/csv`).
pub fn media_type(req: &HttpRequest) -> String {
    content_type(req)
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn check_content_type(req: &HttpRequest, accepted: &[&str]) -> Result<(), ApiError> {
    let content_type = content_type(req);
    let essence = media_type(req);
    if accepted.contains(&essence.as_str()) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be {} (got `{content_type}`)",
            accepted.join(" or ")
        )))
    }
}
