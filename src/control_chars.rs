//! Control characters in requests. Postgres cannot store NUL in text, and
//! a NUL that reached a query used to fail there, as a 500. So:
//!
//! - in the URL (query parameters, their names, path segments) every C0
//!   control (U+0000 to U+001F) and DEL is refused with a `400` naming the
//!   parameter: no parameter of this API has a use for them. One middleware
//!   checks every request before routing, so a new parameter cannot forget it;
//! - in JSON bodies a NUL in any string or member name is a `422` naming its
//!   JSON path ([`nul_path`], called by [`crate::json::from_value`], which
//!   every JSON body and every JSON import record passes). Other controls are
//!   text there: a summary may hold tabs and line breaks.

use actix_web::Error;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde_json::Value;

use crate::error::{ApiError, FieldError};

/// What a URL parameter with a control character is told.
const URL_CONTROL: &str =
    "must not contain control characters (U+0000 to U+001F, U+007F), percent-encoded or not";

/// Refuses a request whose URL holds a control character, before any
/// handler (or database) sees it.
pub async fn reject_in_url(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let mut errors = query_errors(req.query_string());
    errors.extend(path_errors(req.path(), || req.match_pattern()));
    if errors.is_empty() {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    Ok(req
        .error_response(ApiError::BadRequest(errors))
        .map_into_right_body())
}

/// Every query parameter whose name or value, decoded as `web::Query`
/// decodes it, holds a control character.
fn query_errors(query: &str) -> Vec<FieldError> {
    // Decoding pairs never fails: bad escapes and bytes are kept or replaced.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    pairs
        .iter()
        .filter_map(|(name, value)| {
            if has_control(name) {
                Some(FieldError::new(
                    name.escape_default().to_string(),
                    format!("a parameter name {URL_CONTROL}"),
                ))
            } else if has_control(value) {
                Some(FieldError::new(name.as_str(), URL_CONTROL))
            } else {
                None
            }
        })
        .collect()
}

/// Every path segment that holds a control character once percent-decoded,
/// named by the route's parameter in that place (`id`, `slug`) when the path
/// matches a route (`pattern`, asked only then), else `path`.
fn path_errors(path: &str, pattern: impl FnOnce() -> Option<String>) -> Vec<FieldError> {
    let bad: Vec<usize> = path
        .split('/')
        .enumerate()
        .filter(|(_, segment)| decodes_to_control(segment))
        .map(|(i, _)| i)
        .collect();
    if bad.is_empty() {
        return Vec::new();
    }
    let pattern = pattern().unwrap_or_default();
    let names: Vec<&str> = pattern.split('/').collect();
    bad.into_iter()
        .map(|i| {
            let name = names
                .get(i)
                .and_then(|n| n.strip_prefix('{'))
                .and_then(|n| n.split([':', '}']).next())
                .unwrap_or("path");
            FieldError::new(name, URL_CONTROL)
        })
        .collect()
}

fn has_control(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_control())
}

/// Whether `raw` holds a control byte, as it is or as a `%XX` escape.
fn decodes_to_control(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while let Some(&first) = bytes.get(i) {
        let escaped = (first == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        let (byte, width) = escaped.map_or((first, 1), |b| (b, 3));
        if byte.is_ascii_control() {
            return true;
        }
        i += width;
    }
    false
}

/// The JSON path (`casualties[0].party`, as `from_value` names fields) of the
/// first string or member name in `value` that holds a NUL; `body` for the
/// whole document.
pub fn nul_path(value: &Value) -> Option<String> {
    let mut path = String::new();
    find_nul(value, &mut path).then(|| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path
        }
    })
}

/// Leaves the path of the first NUL in `path` and returns whether there is one.
fn find_nul(value: &Value, path: &mut String) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = find_nul(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Object(members) => members.iter().any(|(name, member)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&name.escape_default().to_string());
            let found = name.contains('\0') || find_nul(member, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_parameters_with_controls_are_named() {
        let fields =
            |q: &str| -> Vec<String> { query_errors(q).into_iter().map(|e| e.field).collect() };
        assert_eq!(fields("actor=a%00b&q=ok"), ["actor"]);
        assert_eq!(fields("q=%1F&tag=%7F&tz=UTC"), ["q", "tag"]);
        assert_eq!(fields("x%00=1"), ["x\\u{0}"]);
        assert!(fields("q=tab+and%20space&actor=%C3%A9&from=2022-01-05").is_empty());
        assert!(fields("q=%E2%80%8B&broken=%ZZ&bare").is_empty());
    }

    #[test]
    fn path_segments_with_controls_are_named_by_the_route() {
        let route = |p: &'static str| move || Some(p.to_owned());
        let errors = path_errors(
            "/v1/timelines/a%00b/events",
            route("/v1/timelines/{slug}/events"),
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "slug");
        assert_eq!(path_errors("/v1/x%7fy", || None)[0].field, "path");
        assert!(path_errors("/v1/events/%2500", route("/v1/events/{id}")).is_empty());
        assert!(path_errors("/v1/timelines/%C3%A9", route("/v1/timelines/{slug}")).is_empty());
        assert!(decodes_to_control("a%0a"));
        assert!(
            !decodes_to_control("%0"),
            "an incomplete escape is a literal `%0`"
        );
    }

    #[test]
    fn a_nul_anywhere_in_a_body_is_named_by_its_json_path() {
        assert_eq!(
            nul_path(&json!({"title": "ok", "summary": "a\nb\tc"})),
            None
        );
        assert_eq!(
            nul_path(&json!({"title": "a\u{0}"})).as_deref(),
            Some("title")
        );
        assert_eq!(
            nul_path(&json!({"casualties": [{"party": "ok"}, {"party": "\u{0}"}]})).as_deref(),
            Some("casualties[1].party")
        );
        assert_eq!(
            nul_path(&json!({"location": {"name": "x", "n\u{0}": 1}})).as_deref(),
            Some("location.n\\u{0}")
        );
        assert_eq!(nul_path(&json!(["a", "\u{0}"])).as_deref(), Some("[1]"));
        assert_eq!(nul_path(&json!("\u{0}")).as_deref(), Some("body"));
    }
}
