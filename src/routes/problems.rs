//! The problem responses several operations share, declared once for the
//! OpenAPI spec: list them in an operation's `responses(...)` by name.
//!
//! A status whose cause is the operation's own is declared there with its
//! description alone, as `(status = 400, description = "Malformed id")`:
//! every `4xx` and `5xx` response in the spec is `application/problem+json`
//! with a [`Problem`] body, which `crate::openapi` gives to each response
//! that names no body (and a unit test holds). Access (`401`, `403`,
//! `429`), `Idempotency-Key` (`409`, `422`), a control character in the URL
//! (`400`) and the database's `503` are documented from the route table and
//! `crate::openapi` for every operation they apply to.

use utoipa::IntoResponses;

use crate::error::Problem;

/// The event does not exist (or was deleted).
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such event",
    content_type = "application/problem+json"
)]
pub struct NoSuchEvent(pub Problem);

#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such timeline",
    content_type = "application/problem+json"
)]
pub struct NoSuchTimeline(pub Problem);

#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such token",
    content_type = "application/problem+json"
)]
pub struct NoSuchToken(pub Problem);

/// A JSON body that is not valid JSON (its other faults are `422`s).
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "Malformed JSON",
    content_type = "application/problem+json"
)]
pub struct MalformedJson(pub Problem);

/// A request body of a media type the operation does not take (`src/json.rs`).
#[derive(IntoResponses)]
#[response(
    status = 415,
    description = "Content-Type is none of the media types of the request body; the detail names them",
    content_type = "application/problem+json"
)]
pub struct UnsupportedContentType(pub Problem);

/// Content negotiation found no format both sides have (`src/formats`).
#[derive(IntoResponses)]
#[response(
    status = 406,
    description = "Accept names no supported media type; the problem lists the supported ones",
    content_type = "application/problem+json"
)]
pub struct NotAcceptable(pub Problem);

/// `If-Match` on a change to an event that is at another version now.
#[derive(IntoResponses)]
#[response(
    status = 412,
    description = "If-Match names another version than the current one; `current_version` says which is current",
    content_type = "application/problem+json"
)]
pub struct VersionMismatch(pub Problem);

/// A change to an event without `If-Match` on a server that requires it.
#[derive(IntoResponses)]
#[response(
    status = 428,
    description = "The server requires If-Match (`CHRONIK_REQUIRE_IF_MATCH`) and there is none",
    content_type = "application/problem+json"
)]
pub struct IfMatchRequired(pub Problem);

/// `known_at` (a [`super::WriteParams`]) breaks the order of the history.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "`known_at` is in the future or before the event's previous revision's",
    content_type = "application/problem+json"
)]
pub struct KnownAtOutOfOrder(pub Problem);

/// The `503` of the event lists, which stream exports: the database's
/// causes and the cap on concurrent exports.
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "The database is unreachable, every connection stayed busy, a query ran longer than the server allows (type `timeout`), or `CHRONIK_MAX_EXPORTS` exports are already streaming; retry after `Retry-After` seconds",
    content_type = "application/problem+json"
)]
pub struct ExportUnavailable(pub Problem);
