//! The schema of a merge patch of an event (`PATCH /v1/events/{id}`,
//! RFC 7396), derived from [`super::event::EventInput`]'s so that the two
//! cannot drift apart.
//!
//! The handler merges the patch into the event's writable fields and reads
//! the result as an `EventInput`. So a patch is an object of those fields,
//! none required; `null` removes a field, which is allowed where the input
//! has a default (lists become empty, `precision` and `status` their
//! defaults) and refused for the three the input requires. `location` is
//! the one object: a patch of it merges into the stored location.

use serde_json::{Value, json};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{OpenApi, RefOr};

/// The path whose `PATCH` takes an [`EVENT_PATCH`].
pub const EVENT_PATH: &str = "/v1/events/{id}";

/// Name of the schema in `components.schemas`.
pub const EVENT_PATCH: &str = "EventPatch";

/// Adds [`EVENT_PATCH`], built from `EventInput`, and makes it the body of
/// `PATCH` on [`EVENT_PATH`].
pub fn document_event_patch(openapi: &mut OpenApi) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let Some(input) = components.schemas.get("EventInput") else {
        return;
    };
    let Ok(input) = serde_json::to_value(input) else {
        return;
    };
    let Ok(patch) = serde_json::from_value::<RefOr<Schema>>(patch_of(input)) else {
        return;
    };
    components.schemas.insert(EVENT_PATCH.to_owned(), patch);
    let reference = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(EVENT_PATCH));
    let body = openapi
        .paths
        .paths
        .get_mut(EVENT_PATH)
        .and_then(|item| item.patch.as_mut())
        .and_then(|operation| operation.request_body.as_mut());
    if let Some(RefOr::T(body)) = body {
        for content in body.content.values_mut() {
            if let RefOr::T(content) = content {
                content.schema = Some(reference.clone());
            }
        }
    }
}

/// `EventInput`'s schema, made a patch of it.
fn patch_of(mut input: Value) -> Value {
    let required: Vec<String> = input
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if let Some(object) = input.as_object_mut() {
        object.remove("required");
        object.remove("example");
        object.insert(
            "description".into(),
            json!(
                "A merge patch (RFC 7396) of an event's writable fields (see EventInput): \
                 keys left out stay as they are; `null` clears a field (a list becomes empty, \
                 `precision` and `status` take their defaults), except `title`, `type` and \
                 `occurred_start`, which cannot be cleared; arrays are replaced whole; \
                 `location` merges into the stored location. The patched event must be valid."
            ),
        );
    }
    if let Some(properties) = input.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, property) in properties.iter_mut() {
            if name == "location" {
                *property = json!({
                    "type": ["object", "null"],
                    "description": "A merge patch of the location (see Location), merged into the stored one; `null` removes it"
                });
            } else if !required.contains(name) && !accepts_null(property) {
                *property = json!({"oneOf": [property.take(), {"type": "null"}]});
            }
        }
    }
    input
}

/// Whether a property's schema already allows `null` (`Option` fields).
fn accepts_null(property: &Value) -> bool {
    let null = json!("null");
    match property.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(types)) => types.contains(&null),
        _ => property
            .get("oneOf")
            .and_then(Value::as_array)
            .is_some_and(|alternatives| alternatives.iter().any(|a| a.get("type") == Some(&null))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Value {
        json!({
            "type": "object",
            "required": ["title"],
            "additionalProperties": false,
            "properties": {
                "title": {"$ref": "#/components/schemas/Title"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "summary": {"type": ["string", "null"]},
                "location": {"oneOf": [{"$ref": "#/components/schemas/Location"}, {"type": "null"}]}
            }
        })
    }

    #[test]
    fn nothing_is_required_and_unknown_keys_stay_refused() {
        let patch = patch_of(input());
        assert!(patch.get("required").is_none());
        assert_eq!(patch["additionalProperties"], json!(false));
    }

    #[test]
    fn fields_with_defaults_may_be_cleared_and_required_ones_not() {
        let patch = patch_of(input());
        let p = &patch["properties"];
        assert_eq!(p["title"], json!({"$ref": "#/components/schemas/Title"}));
        assert_eq!(p["tags"]["oneOf"][1], json!({"type": "null"}));
        assert_eq!(p["summary"], json!({"type": ["string", "null"]}));
        assert_eq!(p["location"]["type"], json!(["object", "null"]));
    }
}
