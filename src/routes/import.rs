use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::import::{self, InputFormat, Mode, Summary};
use crate::json::media_type;
use crate::routes::WriteParams;
use crate::state::AppState;

/// Query parameters of `POST /v1/import`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// `create` (default): a record whose `id` or `external_id` is taken fails the import.
    /// `upsert`: it replaces that event (a new version and revision; none if nothing changed);
    /// a record matches the event with its `id` if there is one, else the one with its `external_id`.
    #[param(value_type = Option<ImportMode>, example = "upsert")]
    pub mode: Option<String>,
    /// `acled`: the `text/csv` body is an ACLED export, mapped as docs/import.md documents
    /// (only with `Content-Type: text/csv`; any other body gets `415`).
    /// Without it, the body is in Chronik's own format, as `Content-Type` says.
    #[param(value_type = Option<ImportFormat>, example = "acled")]
    pub format: Option<String>,
    /// When the imported information became public, RFC 3339 with offset, for every record that
    /// brings none of its own (ACLED rows bring their `timestamp`). Not in the future, and not
    /// before a replaced event's previous revision's `known_at`. Default: now.
    #[param(value_type = Option<String>, format = DateTime, example = "2022-01-06T09:30:00Z")]
    pub known_at: Option<String>,
}

/// `mode=`'s values, for the spec.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Describes a parameter in the spec; never built.
pub enum ImportMode {
    Create,
    Upsert,
}

/// `format=`'s one value, for the spec.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Describes a parameter in the spec; never built.
pub enum ImportFormat {
    Acled,
}

const NDJSON: &str = "application/x-ndjson";
const JSON: &str = "application/json";
const CSV: &str = "text/csv";

/// Import many events at once, all or nothing.
///
/// The body is streamed (never held whole in memory) and written in batches,
/// all in one transaction: if any record is invalid, nothing is written and
/// the `422` lists the first 100 errors, each with its `line` and `field`,
/// and counts them all (`total_errors`, `invalid_records`). A broken upload
/// writes nothing either. A record (an NDJSON line, an element of a JSON
/// array or of a bundle's `timelines`, a CSV row) may be at most
/// `CHRONIK_MAX_IMPORT_RECORD_BYTES` (default 1 MiB) long: a longer one stops
/// the import with a `422` naming its line. Formats, by `Content-Type`: `application/x-ndjson`
/// (one event per line), `application/json` (an array of events, a page of a
/// JSON list `{"data": [...], "next_cursor": ...}`, or a bundle
/// `{"timelines": [...], "events": [...]}` whose timelines are created first),
/// `text/csv` (the columns of the CSV export; the casualty sums are not read), or
/// `text/csv` with `format=acled` (an ACLED export). Every export that carries
/// whole events (NDJSON, JSON, CSV) re-imports: a record's `id` is kept for a
/// new event (so links survive a move; it must be a UUID no event, not even a
/// deleted one, has), and matched with `mode=upsert` (an `id` that is taken
/// fails a `mode=create` import); `version`, `created_at` and `updated_at`
/// are ignored, since the importing store assigns its own and records its
/// own revisions. The timelines an event names must exist (create them first,
/// or send a bundle). CSV quotes follow RFC 4180 strictly: a quote left open
/// fails the import naming the line it opened on; an ACLED file sent without
/// `format=acled` fails saying to use it. A JSON or NDJSON record
/// may carry `"known_at"` next to the event's fields: when what it says became
/// public, for its revision (it wins over `?known_at=`). `Idempotency-Key` is not
/// accepted here (the body is not buffered to fingerprint it): an import is
/// all or nothing, so retry a failed one as it is, and use `mode=upsert` to
/// make repeating a successful one harmless.
#[utoipa::path(post, path = "/v1/import", tag = "import",
    params(ImportParams),
    request_body(description = "Events in one of four formats (see above); the body may be far larger than \
        other requests' (`CHRONIK_MAX_IMPORT_BYTES`, default 8 GiB), each record at most \
        `CHRONIK_MAX_IMPORT_RECORD_BYTES` (default 1 MiB)",
        content(
            (String = "application/x-ndjson", example = json!("{\"external_id\": \"kz-1\", \"known_at\": \"2022-01-02T18:00:00+05:00\", \"title\": \"Protest in Zhanaozen\", \"type\": \"protest\", \"occurred_start\": \"2022-01-02T00:00:00+05:00\"}\n{\"external_id\": \"kz-2\", \"title\": \"State of emergency declared\", \"type\": \"state_of_emergency\", \"occurred_start\": \"2022-01-05T00:00:00+06:00\"}\n")),
            (Vec<crate::models::event::EventInput> = "application/json"),
            (String = "text/csv", example = json!("external_id,title,type,occurred_start,country_code,location_name\r\nkz-1,Protest in Zhanaozen,protest,2022-01-02T00:00:00+05:00,KZ,Zhanaozen\r\n")),
        )),
    responses(
        (status = 200, description = "Imported; what was created, updated and left unchanged", body = Summary),
        (status = 400, description = "A query parameter is invalid, the upload broke off, or `Idempotency-Key` was sent"),
        (status = 409, description = "A concurrent write took an `external_id` the import was about to use, or deleted an event it was replacing"),
        (status = 413, description = "The body is larger than `CHRONIK_MAX_IMPORT_BYTES`"),
        (status = 415, description = "Content-Type is none of the import formats, or `format=acled` without `text/csv`"),
        (status = 422, description = "Records are invalid, or one is larger than `CHRONIK_MAX_IMPORT_RECORD_BYTES` \
            (then reading stopped there); nothing was written. `errors` lists the first 100 with `line` and `field`",
            body = Problem, content_type = "application/problem+json",
            example = json!({
                "type": "urn:chronik:problem:import-invalid",
                "title": "The import contains invalid records",
                "status": 422,
                "detail": "2 record(s) are invalid (2 error(s)); nothing was imported",
                "errors": [
                    {"field": "occurred_start", "message": "`yesterday` must be an RFC 3339 date-time with an offset, such as 2022-01-06T05:00:00+06:00", "line": 2},
                    {"field": "external_id", "message": "an event with external_id `kz-1` already exists (or an earlier record has it); mode=upsert replaces it", "line": 7}
                ],
                "total_errors": 2,
                "invalid_records": 2
            })),
        (status = 503, description = "The database is unreachable, every connection stayed busy, `CHRONIK_MAX_IMPORTS` imports are already running, or the import was rolled back, writing nothing of it: one of its statements ran longer than the server allows (type `timeout`), or Postgres broke a deadlock with a concurrent writer; retry after `Retry-After` seconds"),
    ))]
pub async fn import_events(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<ImportParams>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let format = input_format(&req, query.format.as_deref())?;
    let mode: Mode = match query.mode.as_deref() {
        Some(raw) => raw
            .parse()
            .map_err(|e: String| ApiError::field("mode", e))?,
        None => Mode::default(),
    };
    let mut slot = state.imports.acquire(&caller).await?;
    let (tx, reader) = import::body::channel();
    let meta = WriteParams {
        known_at: query.known_at.clone(),
    }
    .change_meta(&caller)?;
    let (forwarded, imported) = futures_util::join!(
        import::body::forward(payload, tx, state.max_import_bytes),
        import::import(
            &mut slot.conn,
            format,
            reader,
            mode,
            meta,
            state.import_limits
        ),
    );
    // A broken or oversized upload is the cause of whatever the reader made of it.
    forwarded?;
    Ok(HttpResponse::Ok().json(imported?))
}

/// The input format `Content-Type` and `format=` name together.
fn input_format(req: &HttpRequest, format: Option<&str>) -> Result<InputFormat, ApiError> {
    let media_type = media_type(req);
    match (format, media_type.as_str()) {
        (None, NDJSON) => Ok(InputFormat::Ndjson),
        (None, JSON) => Ok(InputFormat::Json),
        (None, CSV) => Ok(InputFormat::Csv),
        (Some("acled"), CSV) => Ok(InputFormat::Acled),
        (Some("acled"), _) => Err(ApiError::UnsupportedMediaType(format!(
            "format=acled needs Content-Type {CSV} (got `{media_type}`)"
        ))),
        (Some(other), _) => Err(ApiError::field(
            "format",
            format!("`{other}` is not `acled` (leave it out for Chronik's own formats)"),
        )),
        (None, _) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be {NDJSON}, {JSON} or {CSV} (got `{media_type}`)"
        ))),
    }
}
