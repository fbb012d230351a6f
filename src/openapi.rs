//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::OpenApi as Spec;
use utoipa::{Modify, OpenApi};

use crate::auth::openapi::{AccessDocs, integer_header, problem};
use crate::formats::geojson::EventFeatureCollection;
use crate::routes::listing::{EventList, EventListJson};
use crate::routes::{
    actors, event_types, events, health, import, revisions, stats, timelines, tokens,
};

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
                       (event types, deleting timelines and tokens: `admin`); reads are public unless the server runs \
                       with `CHRONIK_PUBLIC_READS=false`. Each operation's `security` says which scope it needs. \
                       Requests are rate-limited per token, or per client IP without one; every response carries \
                       `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`. `POST` requests accept \
                       `Idempotency-Key` for safe retries (except `POST /v1/import`, whose body is streamed).",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        events::list_events, events::create_event, events::get_event, events::patch_event,
        events::replace_event, events::delete_event, events::restore_event,
        revisions::list_revisions, revisions::get_revision,
        timelines::list_timelines, timelines::create_timeline, timelines::get_timeline,
        timelines::patch_timeline, timelines::delete_timeline, timelines::list_timeline_events,
        timelines::add_timeline_event, timelines::remove_timeline_event,
        event_types::list_event_types, event_types::create_event_type,
        actors::list_actors,
        import::import_events,
        tokens::create_token, tokens::list_tokens, tokens::get_token, tokens::revoke_token,
        stats::histogram, stats::casualties,
        health::healthz, health::readyz,
    ),
    components(schemas(EventListJson, EventFeatureCollection), responses(EventList)),
    tags(
        (name = "events", description = "Dated news events"),
        (name = "history", description = "Every version of every event: revisions, and reads `as_of` an instant"),
        (name = "timelines", description = "Curated sequences of events"),
        (name = "event-types", description = "The event-type vocabulary"),
        (name = "import", description = "Bulk import: NDJSON, JSON, CSV and ACLED, all or nothing"),
        (name = "actors", description = "People, organizations and states named in events"),
        (name = "tokens", description = "API tokens (admin only)"),
        (name = "stats", description = "Counts and casualty sums over the events a filter matches"),
        (name = "health", description = "Liveness and readiness"),
    ),
    modifiers(&AccessDocs, &UnavailableDocs, &UrlControlDocs)
)]
pub struct ApiDoc;

/// The `503` every `/v1` operation can answer: each needs a database
/// connection. Operations that name more causes keep their own description.
struct UnavailableDocs;

impl Modify for UnavailableDocs {
    fn modify(&self, openapi: &mut Spec) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let response = operation
                    .responses
                    .responses
                    .entry("503".into())
                    .or_insert_with(|| {
                        problem(
                            "The database is unreachable, every database connection of the server \
                             stayed busy, or (writes) Postgres rolled the write back to break a \
                             deadlock with a concurrent one, writing nothing of it; retry after \
                             `Retry-After` seconds",
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

/// The `400` every operation can answer: a control character in its URL
/// ([`crate::control_chars`]). Operations with a `400` of their own keep its
/// description; the API's description states the rule for all.
struct UrlControlDocs;

impl Modify for UrlControlDocs {
    fn modify(&self, openapi: &mut Spec) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
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

/// The spec as committed in `openapi/openapi.json`.
pub fn json() -> String {
    let mut json = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
