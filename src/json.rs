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
    from_value(parse_json(req, body, accepted)?)
}

/// A JSON body whose media type is one of `accepted`, as JSON. Every JSON
/// body of the API is an object: anything else is a `422` naming `body`
/// (serde would read a struct from an array, by position).
pub fn parse_json(
    req: &HttpRequest,
    body: &[u8],
    accepted: &[&str],
) -> Result<serde_json::Value, ApiError> {
    check_content_type(req, accepted)?;
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    Ok(value)
}

/// Converts already-parsed JSON into `T`; a mismatch is a 422 naming the JSON path.
/// So is a NUL in any string: Postgres cannot store it (see [`crate::control_chars`]).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    from_value_checked(&value, Ok::<T, Vec<FieldError>>)
}

/// Converts JSON into `T` and then, with `check`, into a checked `U` (such
/// as `ValidEventInput::try_from`); every error is listed in one
/// 422, type errors and the checks' alike. Where some values have the wrong
/// type, the checks still run on the rest: on the body with stand-ins for
/// the wrong values, keeping only errors about other fields.
/// So is a NUL in any string: Postgres cannot store it (see [`crate::control_chars`]).
pub fn from_value_checked<T, U>(
    value: &serde_json::Value,
    check: impl Fn(T) -> Result<U, Vec<FieldError>>,
) -> Result<U, ApiError>
where
    T: DeserializeOwned,
{
    if let Some(field) = crate::control_chars::nul_path(value) {
        return Err(ApiError::invalid(
            field,
            "must not contain NUL (U+0000): it cannot be stored",
        ));
    }
    let first = match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(parsed) => return check(parsed).map_err(ApiError::Validation),
        Err(err) => err,
    };
    // Only a refused body is copied, to be patched past its errors.
    let mut value = value.clone();
    let mut errors = every_error::<T>(&mut value, first);
    if let Ok(patched) = serde_path_to_error::deserialize::<_, T>(&value)
        && let Err(checks) = check(patched)
    {
        let typed: Vec<String> = errors.iter().map(|e| e.field.clone()).collect();
        errors.extend(
            checks
                .into_iter()
                .filter(|c| !typed.iter().any(|t| same_or_within(&c.field, t))),
        );
    }
    Err(ApiError::Validation(errors))
}

/// Whether the field path `a` is `b`, inside `b`, or holds `b`.
fn same_or_within(a: &str, b: &str) -> bool {
    let within = |inner: &str, outer: &str| {
        inner == outer
            || inner
                .strip_prefix(outer)
                .is_some_and(|rest| rest.starts_with(['.', '[']))
    };
    within(a, b) || within(b, a)
}

/// The most type errors one body is answered with.
const MAX_TYPE_ERRORS: usize = 100;

/// The most trial deserializations spent on finding further errors of one body
/// (each reads the whole body again): a hostile body cannot make this costly.
const MAX_TRIALS: usize = 200;

type DeError = serde_path_to_error::Error<serde_json::Error>;

/// Every type error of `value`, not only the first: serde stops at the first,
/// so each error's spot is patched (the field left out, or a stand-in of
/// another JSON type put in) until serde gets past it, and the next one is
/// read. A patch that only moves the error elsewhere (leaving out a required
/// field) is not taken; where no patch gets past an error, the list ends there.
/// `value` is left with the stand-ins that got past them.
fn every_error<T: DeserializeOwned>(
    value: &mut serde_json::Value,
    first: DeError,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut trials = MAX_TRIALS;
    let mut current = first;
    loop {
        let spot = Spot::of(&current);
        errors.push(field_error(&current));
        let next = match spot {
            Some(spot) if errors.len() < MAX_TYPE_ERRORS => {
                get_past::<T>(value, &spot, &mut trials)
            }
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => return errors,
        }
    }
}

fn field_error(err: &DeError) -> FieldError {
    let path = err.path().to_string();
    let field = if path == "." { "body".to_owned() } else { path };
    FieldError::new(field, err.inner().to_string())
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Where in the body an error is: the path of the bad value, or for a missing
/// field, the path the field would have.
#[derive(Debug, PartialEq)]
struct Spot {
    steps: Vec<Step>,
    missing: bool,
}

impl Spot {
    fn of(err: &DeError) -> Option<Self> {
        use serde_path_to_error::Segment;
        let mut steps = err
            .path()
            .iter()
            .map(|segment| match segment {
                Segment::Seq { index } => Some(Step::Index(*index)),
                Segment::Map { key } => Some(Step::Key(key.clone())),
                Segment::Enum { .. } | Segment::Unknown => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let message = err.inner().to_string();
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(|name| steps.push(Step::Key(name.to_owned())))
            .is_some();
        Some(Self { steps, missing })
    }
}

/// Patches `value` at `spot` so that deserializing gets past it; returns the
/// next error, or `None` when there is none or no patch helps (`value` unchanged).
/// Where no patch of the bad value itself helps (a required field of a type that
/// none of the stand-ins fits), the enclosing values are tried, innermost first.
fn get_past<T: DeserializeOwned>(
    value: &mut serde_json::Value,
    spot: &Spot,
    trials: &mut usize,
) -> Option<DeError> {
    use serde_json::{Value, json};
    let stand_ins = [
        Value::Null,
        json!(0),
        json!(""),
        json!("x"),
        json!("1970-01-01T00:00:00Z"),
        json!(false),
        json!([]),
        json!({}),
    ];
    for depth in (1..=spot.steps.len()).rev() {
        let at = spot.steps.get(..depth)?;
        let (last, parent) = at.split_last()?;
        // Leaving out is no patch for a missing field, nor possible for an array element.
        let leave_out =
            !(depth == spot.steps.len() && spot.missing) && matches!(last, Step::Key(_));
        let candidates = leave_out
            .then_some(None)
            .into_iter()
            .chain(stand_ins.iter().cloned().map(Some));
        for candidate in candidates {
            *trials = trials.checked_sub(1)?;
            let old = put(value, parent, last, candidate)?;
            match serde_path_to_error::deserialize::<_, T>(&*value) {
                Ok(_) => return None,
                // Past it: the next error is outside what was patched.
                Err(next) if Spot::of(&next).is_some_and(|next| !next.steps.starts_with(at)) => {
                    return Some(next);
                }
                Err(_) => {
                    put(value, parent, last, old);
                }
            }
        }
    }
    None
}

/// Sets (or with `None` removes) the value at `parent` + `last`; returns what was there.
/// `None` when the path does not lead to an object or array.
fn put(
    value: &mut serde_json::Value,
    parent: &[Step],
    last: &Step,
    new: Option<serde_json::Value>,
) -> Option<Option<serde_json::Value>> {
    let mut node = value;
    for step in parent {
        node = match step {
            Step::Key(key) => node.get_mut(key.as_str())?,
            Step::Index(index) => node.get_mut(*index)?,
        };
    }
    match (last, node) {
        (Step::Key(key), serde_json::Value::Object(map)) => Some(match new {
            Some(new) => map.insert(key.clone(), new),
            None => map.remove(key.as_str()),
        }),
        (Step::Index(index), serde_json::Value::Array(items)) => {
            let slot = items.get_mut(*index)?;
            Some(Some(std::mem::replace(slot, new.unwrap_or_default())))
        }
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Place {
        name: String,
        #[serde(default)]
        country_code: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Figure {
        min: i64,
        #[serde(default)]
        max: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        title: String,
        location: Option<Place>,
        #[serde(default)]
        casualties: Vec<Figure>,
    }

    fn fields(value: serde_json::Value) -> Vec<String> {
        match from_value::<Input>(value) {
            Err(ApiError::Validation(errors)) => {
                let mut fields: Vec<String> = errors.into_iter().map(|e| e.field).collect();
                fields.sort();
                fields
            }
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn every_type_error_is_listed_with_its_path() {
        let body = json!({
            "title": 5,
            "location": {"name": "Almaty", "country_code": 7},
            "casualties": [{"min": 1}, {"min": "many", "max": "x"}, {"max": 3}],
            "colour": "red",
        });
        assert_eq!(
            fields(body),
            [
                "casualties[1].max",
                "casualties[1].min",
                "casualties[2]",
                "colour",
                "location.country_code",
                "title",
            ]
        );
    }

    #[test]
    fn a_body_full_of_errors_is_answered_with_a_bounded_effort() {
        let figures: Vec<_> = (0..1000).map(|_| json!({"min": "many"})).collect();
        let errors = fields(json!({"title": "t", "casualties": figures}));
        assert!(errors.len() > 1, "{errors:?}");
        assert!(errors.len() <= MAX_TYPE_ERRORS, "{errors:?}");
    }

    #[test]
    fn a_missing_required_field_is_listed_once_and_the_rest_follow() {
        assert_eq!(
            fields(json!({"location": {"name": 1}})),
            ["body", "location.name"]
        );
        assert!(from_value::<Input>(json!({"title": "t"})).is_ok());
    }
}
