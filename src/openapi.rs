//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::OpenApi as Spec;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::{ObjectBuilder, RefOr, Required, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

use crate::auth::openapi::{document_access, integer_header, problem, problem_content};
use crate::error::{PROBLEM_JSON, Problem};
use crate::filter::{CountModeName, SortOrder, StreamAll};
use crate::formats::geojson::EventFeatureCollection;
use crate::formats::{EVENT_FORMATS, TABLE_FORMATS};
use crate::models::values::{SearchText, TimeZoneName};
use crate::query_schemas::{BoundingBox, DateOrDateTime, TagFilter};
use crate::routes::listing::{EventList, EventListJson};
use crate::routes::{
    actors, changes, event_types, events, health, import, metrics, redactions, revisions, stats,
    streams, table, timelines, tokens,
};
use crate::telemetry::openapi::document_request_id;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chronik",
        description = "An event store for dated news events: what happened, when (with honest precision), where, \
                       who, how many (as ranges) and according to whom, served as queryable timelines.\n\n\
                       Every error is `application/problem+json` (RFC 9457); validation errors list each bad field in `errors`. \
                       A control character (U+0000 to U+001F, U+007F) in a query parameter or path segment is a `400` \
                       naming it; a NUL in any string of a JSON body (or import record) is a `422` naming its field.\n\n\
                       **Access.** Writes need a bearer token (`Authorization: Bearer <token>`) with scope `write` \
                       (event types, deleting timelines, tokens, redacting history and `/metrics`: `admin`); reads are public unless the server runs \
                       with `CHRONIK_PUBLIC_READS=false`. Each operation's `security` says which scope it needs. \
                       Requests are rate-limited per token, or per client IP without one; every response carries \
                       `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`. `POST` requests accept \
                       `Idempotency-Key` for safe retries (except `POST /v1/import`, whose body is streamed).\n\n\
                       **Request ids.** Every response carries `X-Request-Id`, and every problem body repeats it as \
                       `request_id`: the server's log lines of that request carry the same id.\n\n\
                       **Methods.** A method a path does not list here (`TRACE`, `HEAD`, `OPTIONS` without CORS \
                       preflight headers, `DELETE /v1/changes`…) gets `405 Method Not Allowed` (the response \
                       `MethodNotAllowed`), whose `Allow` header names the methods the path has; a path that \
                       is not here gets `404`.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        events::list_events, events::create_event, events::get_event, events::get_event_by_external_id, events::patch_event,
        events::replace_event, events::delete_event, events::restore_event,
        revisions::list_revisions, revisions::get_revision, redactions::redact_event,
        timelines::list_timelines, timelines::create_timeline, timelines::get_timeline,
        timelines::patch_timeline, timelines::delete_timeline, timelines::list_timeline_events,
        timelines::add_timeline_event, timelines::remove_timeline_event,
        event_types::list_event_types, event_types::create_event_type,
        actors::list_actors,
        import::import_events,
        tokens::create_token, tokens::list_tokens, tokens::get_token, tokens::revoke_token,
        stats::histogram, stats::casualties,
        changes::list_changes, streams::stream_events, streams::stream_timeline, streams::create_stream_token,
        health::healthz, health::readyz, metrics::metrics,
    ),
    components(
        schemas(EventListJson, EventFeatureCollection, Problem, streams::StreamMessage),
        // The schemas query parameters name (their `value_type`), which utoipa does not collect.
        schemas(DateOrDateTime, BoundingBox, TagFilter, SearchText, TimeZoneName, SortOrder, StreamAll,
            CountModeName, import::ImportMode, import::ImportFormat),
        responses(EventList)
    ),
    tags(
        (name = "events", description = "Dated news events"),
        (name = "history", description = "Every version of every event: revisions, and reads `as_of` an instant"),
        (name = "timelines", description = "Curated sequences of events"),
        (name = "event-types", description = "The event-type vocabulary"),
        (name = "import", description = "Bulk import: NDJSON, JSON, CSV and ACLED, all or nothing"),
        (name = "actors", description = "People, organizations and states named in events"),
        (name = "tokens", description = "API tokens (admin only)"),
        (name = "stats", description = "Counts and casualty sums over the events a filter matches"),
        (name = "changes", description = "Following the store: the change feed and live streams of it"),
        (name = "health", description = "Liveness and readiness"),
        (name = "operations", description = "Metrics for operators"),
    ),
    modifiers(&ProblemBodies, &BodyLimitDocs, &AccessDocs, &UnavailableDocs, &ExportLimitDocs, &UrlControlDocs, &ConditionalReadDocs, &FormatDocs, &PathTimelineDocs, &MethodNotAllowedDocs, &EventPatchDocs, &PositionDocs, &RequestIdDocs)
)]
pub struct ApiDoc;

/// Every error is a problem: a `4xx` or `5xx` response an operation declares
/// with a description alone (its own cause of a status) gets the
/// [`Problem`] body as `application/problem+json`. The causes several
/// operations share are declared once in [`crate::routes::problems`].
struct ProblemBodies;

impl Modify for ProblemBodies {
    fn modify(&self, openapi: &mut Spec) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && is_error(status)
                        && response.content.is_empty()
                    {
                        response
                            .content
                            .insert(PROBLEM_JSON.into(), problem_content().into());
                    }
                }
            }
        }
    }
}

/// The `413` every operation with a JSON body can answer: the app-wide
/// `CHRONIK_MAX_BODY_BYTES`. Operations that state their own limit (the
/// streamed import) keep their description.
struct BodyLimitDocs;

impl Modify for BodyLimitDocs {
    fn modify(&self, openapi: &mut Spec) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                if operation.request_body.is_none() {
                    continue;
                }
                operation
                    .responses
                    .responses
                    .entry("413".into())
                    .or_insert_with(|| {
                        problem(
                            "The body is larger than `CHRONIK_MAX_BODY_BYTES` (1 MiB by default); \
                             the detail states the limit in bytes",
                        )
                        .into()
                    });
            }
        }
    }
}

/// A `4xx` or `5xx` status (or range, such as `4XX`).
fn is_error(status: &str) -> bool {
    status.starts_with('4') || status.starts_with('5')
}

/// Access, as the route table states it, on every operation.
struct AccessDocs;

impl Modify for AccessDocs {
    fn modify(&self, openapi: &mut Spec) {
        document_access(openapi, &table::operations());
    }
}

/// The `503` every `/v1` operation can answer: each needs a database
/// connection. Operations that name more causes keep their own description.
struct UnavailableDocs;

impl Modify for UnavailableDocs {
    fn modify(&self, openapi: &mut Spec) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            for operation in operations_mut(item) {
                let response = operation
                    .responses
                    .responses
                    .entry("503".into())
                    .or_insert_with(|| {
                        problem(
                            "The database is unreachable, every database connection of the server \
                             stayed busy, a query ran longer than the server allows (type `timeout`; \
                             a write is rolled back), or (writes) Postgres rolled the write back to \
                             break a deadlock with a concurrent one, writing nothing of it; retry \
                             after `Retry-After` seconds",
                        )
                        .into()
                    });
                if let utoipa::openapi::RefOr::T(response) = response {
                    response.headers.insert(
                        "Retry-After".into(),
                        integer_header("Seconds to wait before retrying: 1").into(),
                    );
                }
            }
        }
    }
}

/// The event lists' `429` has a second cause: a client's cap on exports.
/// Runs after [`AccessDocs`], which documents the rate limit's `429`.
struct ExportLimitDocs;

/// The operations that stream exports.
const EXPORTING: [&str; 2] = ["/v1/events", "/v1/timelines/{slug}/events"];

impl Modify for ExportLimitDocs {
    fn modify(&self, openapi: &mut Spec) {
        for path in EXPORTING {
            let Some(operation) = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|i| i.get.as_mut())
            else {
                continue;
            };
            let response = operation
                .responses
                .responses
                .entry("429".into())
                .or_insert_with(|| problem("Too many requests").into());
            if let utoipa::openapi::RefOr::T(response) = response {
                response.description = format!(
                    "{}; or (whole-result formats) this client already streams \
                     `CHRONIK_MAX_EXPORTS_PER_CLIENT` exports (type `too-many-exports`, \
                     `Retry-After: 1`)",
                    response.description
                );
            }
        }
    }
}

/// The `400` every operation can answer: a control character in its URL
/// ([`crate::control_chars`]). Operations with a `400` of their own keep its
/// description; the API's description states the rule for all.
struct UrlControlDocs;

impl Modify for UrlControlDocs {
    fn modify(&self, openapi: &mut Spec) {
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                operation
                    .responses
                    .responses
                    .entry("400".into())
                    .or_insert_with(|| {
                        problem(
                            "A query parameter or path segment holds a control character \
                             (U+0000 to U+001F, U+007F); `errors` names it",
                        )
                        .into()
                    });
            }
        }
    }
}

/// Conditional reads (`src/conditional.rs`): every `GET` under `/v1` tags
/// its `200` and answers a matching `If-None-Match` with `304`. What an
/// operation documents itself (an event's version as its tag, the event
/// lists' two kinds of tag) is kept.
struct ConditionalReadDocs;

impl Modify for ConditionalReadDocs {
    fn modify(&self, openapi: &mut Spec) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // A live stream never ends: it has no tag to compare.
            let conditional = path.starts_with("/v1/") && !path.ends_with("/stream");
            let Some(operation) = item.get.as_mut().filter(|_| conditional) else {
                continue;
            };
            document_if_none_match(operation);
            let responses = &mut operation.responses.responses;
            // A reference (the event lists' `EventList`) documents its own tag.
            if let Some(RefOr::T(ok)) = responses.get_mut("200") {
                ok.headers.entry("ETag".into()).or_insert_with(|| {
                    HeaderBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .description(Some(
                            "A hash of the body: it changes exactly when the body does",
                        ))
                        .build()
                        .into()
                });
            }
            responses.entry("304".into()).or_insert_with(|| {
                ResponseBuilder::new()
                    .description("Not Modified: `If-None-Match` names the current `ETag`; no body")
                    .build()
                    .into()
            });
        }
    }
}

/// `Chronik-Position` on every write's success (`read_your_writes`).
struct PositionDocs;

impl Modify for PositionDocs {
    fn modify(&self, openapi: &mut Spec) {
        crate::read_your_writes::document_positions(openapi);
    }
}

/// `X-Request-Id` on every response; last, so that it reaches the
/// responses the other modifiers add.
struct RequestIdDocs;

impl Modify for RequestIdDocs {
    fn modify(&self, openapi: &mut Spec) {
        document_request_id(openapi);
    }
}

/// The `If-None-Match` request header, unless the operation names it already.
fn document_if_none_match(operation: &mut Operation) {
    let parameters = operation.parameters.get_or_insert_with(Vec::new);
    if parameters
        .iter()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Header && p.name == "If-None-Match"))
    {
        return;
    }
    parameters.push(
        ParameterBuilder::new()
            .name("If-None-Match")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "An `ETag` this operation gave before: `304 Not Modified`, without a body, \
                 while it still is the current one (compared weakly: `W/\"x\"` matches `\"x\"`)",
            ))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build()
            .into(),
    );
}

/// `format=`: on each operation, exactly the formats the server offers there
/// (the same lists its content negotiation uses).
struct FormatDocs;

impl Modify for FormatDocs {
    fn modify(&self, openapi: &mut Spec) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let offered = match path.as_str() {
                "/v1/events" | "/v1/timelines/{slug}/events" => EVENT_FORMATS,
                "/v1/changes" => changes::FEED_FORMATS,
                p if p.starts_with("/v1/stats/") => TABLE_FORMATS,
                _ => continue,
            };
            let Some(operation) = item.get.as_mut() else {
                continue;
            };
            for parameter in operation.parameters.iter_mut().flatten() {
                if let RefOr::T(p) = parameter
                    && p.name == "format"
                    && p.parameter_in == ParameterIn::Query
                {
                    p.schema = Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some(offered.iter().map(|f| f.name())))
                            .into(),
                    );
                }
            }
        }
    }
}

/// The body of `PATCH /v1/events/{id}`: a patch of `EventInput`.
struct EventPatchDocs;

impl Modify for EventPatchDocs {
    fn modify(&self, openapi: &mut Spec) {
        crate::models::event_patch::document_event_patch(openapi);
    }
}

/// The operations whose path names the timeline refuse the `timeline` filter
/// (`400`, "the timeline is given by the path"): their spec does not offer it.
struct PathTimelineDocs;

impl Modify for PathTimelineDocs {
    fn modify(&self, openapi: &mut Spec) {
        for path in ["/v1/timelines/{slug}/events", "/v1/timelines/{slug}/stream"] {
            let parameters = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|item| item.get.as_mut())
                .and_then(|operation| operation.parameters.as_mut());
            if let Some(parameters) = parameters {
                parameters.retain(|p| {
                    !matches!(p, RefOr::T(p) if p.name == "timeline" && p.parameter_in == ParameterIn::Query)
                });
            }
        }
    }
}

/// The answer to a method a path does not have (`crate::routes::table`),
/// described once for clients: no operation answers it, the path does.
struct MethodNotAllowedDocs;

impl Modify for MethodNotAllowedDocs {
    fn modify(&self, openapi: &mut Spec) {
        let mut response = problem(
            "The path exists, but not with this method; `Allow` names its methods \
             (e.g. `TRACE /healthz`: `Allow: GET`)",
        );
        response.headers.insert(
            "Allow".into(),
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some(
                    "The methods of the path, comma-separated: `GET, POST`",
                ))
                .build()
                .into(),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .responses
            .insert("MethodNotAllowed".into(), response.into());
    }
}

/// The operations of a path, whichever methods it has.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

/// The spec as committed in `openapi/openapi.json`.
pub fn json() -> String {
    let mut json = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event's `PATCH` takes an `EventPatch`; a timeline's keeps its own body.
    #[test]
    fn only_an_events_patch_takes_an_event_patch() {
        let spec = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let body = |path: &str| spec["paths"][path]["patch"]["requestBody"]["content"].clone();
        let event_patch = serde_json::json!({"$ref": "#/components/schemas/EventPatch"});
        for content in body("/v1/events/{id}").as_object().unwrap().values() {
            assert_eq!(content["schema"], event_patch);
        }
        for content in body("/v1/timelines/{slug}").as_object().unwrap().values() {
            assert_ne!(content["schema"], event_patch);
        }
        assert!(spec["components"]["schemas"]["EventPatch"]["required"].is_null());
    }

    /// The spec documents exactly the operations the route table serves
    /// (`/v1`, and the operators' `/metrics`).
    #[test]
    fn every_routed_operation_is_in_the_spec_and_every_v1_operation_is_routed() {
        let spec = ApiDoc::openapi();
        let routed = table::operations();
        let is_operator = |path: &str| {
            routed
                .iter()
                .any(|op| op.path == path && !op.path.starts_with("/v1/"))
        };
        assert!(is_operator("/metrics"));
        let mut documented = Vec::new();
        for (path, item) in &spec.paths.paths {
            for (method, operation) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                if operation.is_some() && (path.starts_with("/v1/") || is_operator(path)) {
                    documented.push(format!("{method} {path}"));
                }
            }
        }
        let mut served: Vec<String> = routed
            .iter()
            .map(|op| format!("{} {}", op.method, op.path))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }

    /// The committed spec is what the annotations generate: a change to an
    /// operation that is not in `openapi/openapi.json` fails here, without a
    /// database (`tests/api/service.rs` checks what the server serves).
    #[test]
    fn the_committed_spec_is_the_generated_one() {
        let committed = include_str!("../openapi/openapi.json");
        let generated = json();
        if generated != committed {
            let line = generated
                .lines()
                .zip(committed.lines())
                .position(|(g, c)| g != c)
                .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()))
                + 1;
            panic!(
                "openapi/openapi.json is not what the annotations generate (first difference \
                 at line {line}); regenerate it with `cargo run -q -- openapi > openapi/openapi.json` \
                 and review the diff"
            );
        }
    }

    /// Every operation that takes a body says what a body over the limit gets.
    #[test]
    fn every_operation_with_a_body_documents_413() {
        let spec = ApiDoc::openapi();
        let mut bodies = 0;
        for (path, item) in &spec.paths.paths {
            for operation in [&item.post, &item.put, &item.patch].into_iter().flatten() {
                if operation.request_body.is_some() {
                    bodies += 1;
                    assert!(
                        operation.responses.responses.contains_key("413"),
                        "{path}: no 413"
                    );
                }
            }
        }
        assert!(bodies > 8, "{bodies}");
    }

    /// Every error response of every operation is a problem.
    #[test]
    fn every_error_response_is_problem_json() {
        let spec = ApiDoc::openapi();
        let mut errors = 0;
        for (path, item) in &spec.paths.paths {
            for (method, operation) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                let Some(operation) = operation else {
                    continue;
                };
                for (status, response) in &operation.responses.responses {
                    if !is_error(status) {
                        continue;
                    }
                    errors += 1;
                    let RefOr::T(response) = response else {
                        panic!("{method} {path} {status}: a reference");
                    };
                    let schema = response.content.get(PROBLEM_JSON).and_then(|c| match c {
                        RefOr::T(c) => c.schema.as_ref(),
                        RefOr::Ref(_) => None,
                    });
                    assert!(
                        matches!(schema, Some(RefOr::Ref(r)) if r.ref_location == "#/components/schemas/Problem"),
                        "{method} {path} {status}: {:?}",
                        response.content.keys().collect::<Vec<_>>()
                    );
                    assert_eq!(response.content.len(), 1, "{method} {path} {status}");
                    assert!(!response.description.is_empty(), "{method} {path} {status}");
                }
            }
        }
        assert!(errors > 100, "{errors}");
    }

    /// A live stream is never answered `304`, and its spec does not say it is.
    #[test]
    fn live_streams_document_no_conditional_form() {
        let spec = ApiDoc::openapi();
        let streams: Vec<_> = spec
            .paths
            .paths
            .iter()
            .filter(|(path, _)| path.ends_with("/stream"))
            .collect();
        assert_eq!(streams.len(), 2);
        for (path, item) in streams {
            let get = item.get.as_ref().expect("a GET");
            assert!(!get.responses.responses.contains_key("304"), "{path}");
        }
    }

    /// Every read documents its conditional form (issue 17: the exports did
    /// not), except live streams, which never end and so have no tag.
    #[test]
    fn every_v1_read_documents_its_etag_and_304() {
        let spec = ApiDoc::openapi();
        for (path, item) in &spec.paths.paths {
            let read = path.starts_with("/v1/") && !path.ends_with("/stream");
            let Some(get) = item.get.as_ref().filter(|_| read) else {
                continue;
            };
            let responses = &get.responses.responses;
            assert!(responses.contains_key("304"), "{path}");
            let tagged = match responses.get("200") {
                Some(RefOr::T(ok)) => ok.headers.contains_key("ETag"),
                Some(RefOr::Ref(_)) => true,
                None => false,
            };
            assert!(tagged, "{path}");
            let asks = get.parameters.iter().flatten().any(|p| {
                matches!(p, RefOr::T(p) if p.name == "If-None-Match" && p.parameter_in == ParameterIn::Header)
            });
            assert!(asks, "{path}");
        }
        let lists = spec.components.as_ref().map(|c| &c.responses);
        let list_headers = match lists.and_then(|r| r.get("EventList")) {
            Some(RefOr::T(list)) => list.headers.keys().cloned().collect(),
            _ => Vec::new(),
        };
        assert!(
            list_headers.contains(&"ETag".to_owned()),
            "{list_headers:?}"
        );
    }

    fn parameters<'a>(spec: &'a Spec, path: &str) -> Vec<&'a utoipa::openapi::path::Parameter> {
        let item = spec.paths.paths.get(path).expect(path);
        [&item.get, &item.post, &item.put, &item.patch, &item.delete]
            .into_iter()
            .flatten()
            .flat_map(|op| op.parameters.iter().flatten())
            .filter_map(|p| match p {
                RefOr::T(p) => Some(p),
                RefOr::Ref(_) => None,
            })
            .collect()
    }

    fn schema_json(schema: &Option<RefOr<utoipa::openapi::schema::Schema>>) -> serde_json::Value {
        serde_json::to_value(schema).unwrap_or_default()
    }

    /// Every `{id}` is a UUID (the server answers anything else with `400`).
    #[test]
    fn every_id_in_a_path_is_a_uuid() {
        let spec = ApiDoc::openapi();
        let mut ids = 0;
        for path in spec.paths.paths.keys().filter(|p| p.contains("{id}")) {
            for p in parameters(&spec, path) {
                if p.name == "id" && p.parameter_in == ParameterIn::Path {
                    ids += 1;
                    assert_eq!(schema_json(&p.schema)["format"], "uuid", "{path}");
                }
            }
        }
        assert!(ids >= 12, "{ids}");
    }

    /// The timeline's own list and stream refuse `timeline`; they do not offer it.
    #[test]
    fn operations_whose_path_names_the_timeline_offer_no_timeline_filter() {
        let spec = ApiDoc::openapi();
        for path in ["/v1/timelines/{slug}/events", "/v1/timelines/{slug}/stream"] {
            let names: Vec<_> = parameters(&spec, path)
                .iter()
                .map(|p| p.name.clone())
                .collect();
            assert!(!names.contains(&"timeline".to_owned()), "{path}: {names:?}");
            assert!(names.contains(&"type".to_owned()), "{path}: {names:?}");
        }
        let names: Vec<_> = parameters(&spec, "/v1/events")
            .iter()
            .map(|p| p.name.clone())
            .collect();
        assert!(names.contains(&"timeline".to_owned()));
    }

    /// `format=` offers on each operation exactly what the server serves there.
    #[test]
    fn format_offers_exactly_the_formats_each_operation_serves() {
        let spec = ApiDoc::openapi();
        let names = |formats: &[crate::formats::Format]| -> serde_json::Value {
            formats.iter().map(|f| f.name()).collect()
        };
        for (path, offered) in [
            ("/v1/events", names(EVENT_FORMATS)),
            ("/v1/timelines/{slug}/events", names(EVENT_FORMATS)),
            ("/v1/stats/histogram", names(TABLE_FORMATS)),
            ("/v1/stats/casualties", names(TABLE_FORMATS)),
            ("/v1/changes", names(changes::FEED_FORMATS)),
        ] {
            let format = parameters(&spec, path)
                .into_iter()
                .find(|p| p.name == "format")
                .expect(path);
            assert_eq!(schema_json(&format.schema)["enum"], offered, "{path}");
        }
    }

    /// Every `limit` states its bounds, and `bom` is a boolean (so `bom=` is not one).
    #[test]
    fn limits_state_their_bounds_and_bom_is_a_boolean() {
        let spec = ApiDoc::openapi();
        let mut limits = 0;
        for path in spec.paths.paths.keys() {
            for p in parameters(&spec, path) {
                let schema = schema_json(&p.schema);
                if p.name == "limit" {
                    limits += 1;
                    assert_eq!(schema["type"], "integer", "{path}");
                    assert_eq!(schema["minimum"], 1, "{path}");
                    assert!(schema["maximum"].as_i64().is_some(), "{path}");
                }
                if p.name == "bom" {
                    assert_eq!(schema["type"], "boolean", "{path}");
                }
            }
        }
        assert_eq!(limits, 5);
    }

    /// Every `$ref` names a component the document has (a parameter's
    /// `value_type` is not collected by utoipa unless listed in `components`).
    #[test]
    fn every_reference_resolves() {
        let spec = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        fn refs(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                        found.push(r.clone());
                    }
                    map.values().for_each(|v| refs(v, found));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
                _ => {}
            }
        }
        let mut found = Vec::new();
        refs(&spec, &mut found);
        assert!(found.len() > 100, "{}", found.len());
        for r in found {
            let pointer = r.trim_start_matches('#');
            assert!(spec.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }
}
