//! One error type for the whole API. Every failure a client can see is an
//! RFC 9457 `application/problem+json` document.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::models::token::Scope;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid input value, named by its JSON path or query parameter.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path (`casualties[0].min`) or query parameter name (`from`).
    #[schema(example = "occurred_start")]
    pub field: String,
    #[schema(example = "must be an RFC 3339 date-time with an offset")]
    pub message: String,
    /// In an import: the line (1-based) where the bad record starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 17)]
    pub line: Option<u64>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            line: None,
        }
    }

    /// The same error, located at `line` of an import.
    pub fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }
}

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:chronik:problem:validation",
    "title": "The request contains invalid values",
    "status": 422,
    "detail": "type: unknown event type `battle`; known types: armed_clash, arrest, casualties",
    "errors": [{"field": "type", "message": "unknown event type `battle`; known types: armed_clash, arrest, casualties"}]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Present on `412 Precondition Failed`: the event's version now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i32>,
    /// Present on a failed import: how many errors there were in all
    /// (`errors` lists at most the first 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_errors: Option<usize>,
    /// Present on a failed import: how many records were invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_records: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter, path segment or header could not be understood.
    #[error("{}", describe(.0))]
    BadRequest(Vec<FieldError>),
    /// The body was well-formed but its values are not acceptable.
    #[error("{}", describe(.0))]
    Validation(Vec<FieldError>),
    /// An import had invalid records; nothing was written.
    #[error(
        "{invalid_records} record(s) are invalid ({total_errors} error(s)); nothing was imported"
    )]
    ImportInvalid {
        /// The first errors, each with its line.
        errors: Vec<FieldError>,
        total_errors: usize,
        invalid_records: usize,
    },
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{detail}")]
    PreconditionFailed {
        detail: String,
        current_version: i32,
    },
    /// The server requires `If-Match` on this write, and it is missing.
    #[error(
        "this server requires If-Match on writes to events: send the ETag of the version you changed"
    )]
    PreconditionRequired,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// No bearer token where one is needed.
    #[error("this request needs a bearer token: send `Authorization: Bearer <token>`")]
    MissingToken,
    /// A token was sent but cannot be used (unknown, malformed, expired or revoked).
    #[error("{0}")]
    InvalidToken(String),
    /// The token is valid but its scope does not allow this request.
    #[error("this request needs a token with scope `{required}`; this token has scope `{scope}`")]
    InsufficientScope { required: Scope, scope: Scope },
    #[error("too many requests; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The same `Idempotency-Key` came with a different request.
    #[error(
        "this Idempotency-Key was already used for a different request (method, path or body); use a new key"
    )]
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still being processed.
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    IdempotencyInFlight,
    #[error("the database is not reachable")]
    Unavailable,
    /// Temporarily at capacity (e.g. too many exports at once).
    #[error("{0}")]
    Busy(String),
    /// This client already runs as many exports as one client may.
    #[error("{0}")]
    TooManyExports(String),
    /// This client already has as many live streams open as one may.
    #[error("{0}")]
    TooManyStreams(String),
    /// Postgres stopped a statement at the configured `statement_timeout`.
    #[error(
        "the database took longer than this server allows for one query, so the request was stopped; \
         narrow it (filters, a shorter period, a smaller page) or retry later"
    )]
    TimedOut,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest(vec![FieldError::new(field, message)])
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("bad-request", "The request has invalid parameters"),
            Self::Validation(_) => ("validation", "The request contains invalid values"),
            Self::ImportInvalid { .. } => ("import-invalid", "The import contains invalid records"),
            Self::MalformedJson(_) => ("malformed-json", "The request body is not valid JSON"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::Conflict(_) => ("conflict", "Conflict with the current state"),
            Self::PreconditionFailed { .. } => ("precondition-failed", "Precondition failed"),
            Self::PreconditionRequired => ("precondition-required", "Precondition required"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::NotAcceptable(_) => ("not-acceptable", "Not acceptable"),
            Self::PayloadTooLarge(_) => ("payload-too-large", "Payload too large"),
            Self::MissingToken => ("unauthorized", "Authentication required"),
            Self::InvalidToken(_) => ("invalid-token", "Invalid token"),
            Self::InsufficientScope { .. } => ("insufficient-scope", "Insufficient scope"),
            Self::RateLimited { .. } => ("rate-limited", "Too many requests"),
            Self::IdempotencyKeyReused => (
                "idempotency-key-reused",
                "Idempotency-Key reused for a different request",
            ),
            Self::IdempotencyInFlight => (
                "idempotency-in-flight",
                "A request with this Idempotency-Key is in progress",
            ),
            Self::Unavailable => ("unavailable", "Service unavailable"),
            Self::Busy(_) => ("busy", "Service busy"),
            Self::TimedOut => ("timeout", "The query took too long"),
            Self::TooManyExports(_) => (
                "too-many-exports",
                "Too many exports at once from this client",
            ),
            Self::TooManyStreams(_) => (
                "too-many-streams",
                "Too many live streams open from this client",
            ),
            Self::Internal(_) => ("internal", "Internal server error"),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (kind, title) = self.kind();
        let errors = match self {
            Self::BadRequest(errors)
            | Self::Validation(errors)
            | Self::ImportInvalid { errors, .. } => errors.clone(),
            Self::IdempotencyKeyReused => vec![FieldError::new(IDEMPOTENCY_KEY, self.to_string())],
            _ => Vec::new(),
        };
        let current_version = match self {
            Self::PreconditionFailed {
                current_version, ..
            } => Some(*current_version),
            _ => None,
        };
        let (total_errors, invalid_records) = match self {
            Self::ImportInvalid {
                total_errors,
                invalid_records,
                ..
            } => (Some(*total_errors), Some(*invalid_records)),
            _ => (None, None),
        };
        Problem {
            problem_type: format!("urn:chronik:problem:{kind}"),
            title: title.to_owned(),
            status: self.status_code().as_u16(),
            detail: self.to_string(),
            errors,
            current_version,
            total_errors,
            invalid_records,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) | Self::ImportInvalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } | Self::TooManyExports(_) | Self::TooManyStreams(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyInFlight => StatusCode::CONFLICT,
            Self::Unavailable | Self::Busy(_) | Self::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(err) = self {
            tracing::error!(error = ?err, "request failed");
        }
        let mut response = problem_response(self.status_code(), &self.to_problem());
        let headers = response.headers_mut();
        if let Some(value) = self
            .challenge()
            .and_then(|c| header::HeaderValue::from_str(&c).ok())
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        match self {
            Self::RateLimited { retry_after } => {
                headers.insert(header::RETRY_AFTER, (*retry_after).into());
            }
            Self::IdempotencyInFlight | Self::TooManyExports(_) | Self::TooManyStreams(_) => {
                headers.insert(header::RETRY_AFTER, 1u64.into());
            }
            _ => {}
        }
        response
    }
}

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Marks a response replayed for a repeated `Idempotency-Key`.
pub const REPLAYED: actix_web::http::header::HeaderName =
    actix_web::http::header::HeaderName::from_static("idempotent-replayed");

impl ApiError {
    /// The `WWW-Authenticate` challenge of a 401 or 403 (RFC 6750, section 3).
    fn challenge(&self) -> Option<String> {
        const REALM: &str = "Bearer realm=\"chronik\"";
        match self {
            Self::MissingToken => Some(REALM.to_owned()),
            Self::InvalidToken(detail) => Some(format!(
                "{REALM}, error=\"invalid_token\", error_description=\"{}\"",
                detail.replace(['"', '\\'], "'")
            )),
            Self::InsufficientScope { required, .. } => Some(format!(
                "{REALM}, error=\"insufficient_scope\", scope=\"{required}\""
            )),
            _ => None,
        }
    }
}

pub fn problem_response(status: StatusCode, problem: &Problem) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    builder.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        builder.insert_header((header::RETRY_AFTER, "1"));
    }
    builder.body(serde_json::to_string(problem).unwrap_or_default())
}

impl From<diesel::result::Error> for ApiError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &err {
            Error::NotFound => Self::NotFound("not found".into()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::Conflict(match info.constraint_name() {
                    Some("events_external_id_unique") => {
                        "an event with this external_id already exists".into()
                    }
                    Some("timelines_slug_unique") => {
                        "a timeline with this slug already exists".into()
                    }
                    Some("event_types_pkey") => {
                        "an event type with this slug already exists".into()
                    }
                    _ => "the resource already exists".into(),
                })
            }
            Error::DatabaseError(
                kind @ (DatabaseErrorKind::CheckViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::RestrictViolation
                | DatabaseErrorKind::ExclusionViolation),
                info,
            ) => Self::broken_rule(*kind, info.as_ref()),
            // Postgres rolled this transaction back to let a concurrent one
            // through: a lock cycle between two writers (imports take the
            // catalogue rows of new actors and sources batch by batch, in no
            // order shared with other writers) or a serialization conflict.
            // Nothing of it was written, and the same request again can pass.
            // diesel reports no SQLSTATE for a deadlock (40P01), only
            // Postgres's message, which is English unless `lc_messages` says
            // otherwise; in another language it stays a 500.
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, info) => {
                Self::collided(info.message())
            }
            Error::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message() == "deadlock detected" =>
            {
                Self::collided(info.message())
            }
            // `statement_timeout` (57014) cancelled the statement; as with a
            // deadlock, diesel reports only Postgres's (English) message.
            Error::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message() == STATEMENT_TIMEOUT =>
            {
                tracing::warn!(
                    error = info.message(),
                    "a statement ran into statement_timeout"
                );
                Self::TimedOut
            }
            // The connection broke (Postgres restarted, or closed it): the pool
            // drops it, so a retry gets a fresh one.
            Error::DatabaseError(
                DatabaseErrorKind::UnableToSendCommand | DatabaseErrorKind::ClosedConnection,
                info,
            ) => {
                tracing::warn!(error = info.message(), "the database connection broke");
                Self::Unavailable
            }
            // Postgres ended the session under the statement (a shutdown or
            // restart, `pg_terminate_backend`, an idle timeout) or refuses it
            // while it shuts down or starts: the database is away, as with a
            // broken connection, and the pool drops this one. As above, only
            // Postgres's (English) message tells.
            Error::DatabaseError(DatabaseErrorKind::Unknown, info)
                if is_session_ended(info.message()) =>
            {
                tracing::warn!(error = info.message(), "the database ended the connection");
                Self::Unavailable
            }
            _ => Self::Internal(err.into()),
        }
    }
}

/// Postgres's message when `statement_timeout` cancels a statement.
const STATEMENT_TIMEOUT: &str = "canceling statement due to statement timeout";

/// Whether Postgres's `message` says that it ended the session (SQLSTATE
/// class 57P, the idle timeouts) or accepts none now (shutting down,
/// starting up, in recovery).
fn is_session_ended(message: &str) -> bool {
    message.starts_with("terminating connection") || message.starts_with("the database system is")
}

impl ApiError {
    /// A rule of the schema refused a write. Input checks come first, so this
    /// means a check missed a case, or a concurrent write removed what this
    /// one refers to. The client is told in Chronik's words: Postgres's name
    /// tables and constraints, which are no part of the API. The log keeps them.
    fn broken_rule(
        kind: diesel::result::DatabaseErrorKind,
        info: &(dyn diesel::result::DatabaseErrorInformation + Send + Sync),
    ) -> Self {
        use diesel::result::DatabaseErrorKind;
        tracing::warn!(
            error = info.message(),
            constraint = info.constraint_name(),
            table = info.table_name(),
            "the database refused a write that passed the input checks"
        );
        match kind {
            DatabaseErrorKind::NotNullViolation => {
                Self::invalid("body", "a required value is missing")
            }
            DatabaseErrorKind::ForeignKeyViolation | DatabaseErrorKind::RestrictViolation => {
                Self::Conflict(
                    "this write refers to something that does not exist (any more), or removes \
                     something still referred to; it may have changed meanwhile: reload and retry"
                        .into(),
                )
            }
            DatabaseErrorKind::ExclusionViolation => {
                Self::Conflict("this write conflicts with stored data".into())
            }
            _ => Self::invalid(
                "body",
                "a value is outside what the store accepts; see the API reference for each field's limits",
            ),
        }
    }

    fn collided(reason: &str) -> Self {
        tracing::warn!(error = reason, "a write collided with a concurrent one");
        Self::Busy(
            "this write collided with a concurrent one and was rolled back: nothing of it was written; retry it".into(),
        )
    }
}

impl From<deadpool::managed::PoolError<diesel_async::pooled_connection::PoolError>> for ApiError {
    fn from(err: deadpool::managed::PoolError<diesel_async::pooled_connection::PoolError>) -> Self {
        use deadpool::managed::{PoolError, TimeoutType};
        tracing::warn!(error = %err, "no database connection");
        match err {
            // Every connection stayed in use: the server is overloaded, the database is fine.
            PoolError::Timeout(TimeoutType::Wait) => Self::Busy(
                "every database connection of this server stayed busy; retry shortly".into(),
            ),
            _ => Self::Unavailable,
        }
    }
}

/// The detail of a 413 for a JSON body: the limit and the setting that sets it.
pub fn body_too_large(max_body: usize) -> String {
    format!("the body is larger than {max_body} bytes, the limit set by CHRONIK_MAX_BODY_BYTES")
}

#[cfg(test)]
mod tests {
    use super::*;
    use deadpool::managed::{PoolError, TimeoutType};

    #[test]
    fn a_pool_that_stays_busy_is_an_overload_not_an_outage() {
        let busy = ApiError::from(PoolError::Timeout(TimeoutType::Wait));
        assert!(matches!(busy, ApiError::Busy(_)), "{busy:?}");
        assert_eq!(busy.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let response = busy.error_response();
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let down = ApiError::from(PoolError::Timeout(TimeoutType::Create));
        assert!(matches!(down, ApiError::Unavailable), "{down:?}");
    }

    #[test]
    fn a_broken_connection_is_unavailable_not_internal() {
        use diesel::result::{DatabaseErrorKind, Error};
        let broken = ApiError::from(Error::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection closed".to_owned()),
        ));
        assert!(matches!(broken, ApiError::Unavailable), "{broken:?}");
        assert_eq!(broken.status_code(), StatusCode::SERVICE_UNAVAILABLE);
    }

    /// What Postgres reports about a broken constraint.
    struct Refusal;

    impl diesel::result::DatabaseErrorInformation for Refusal {
        fn message(&self) -> &str {
            "new row for relation \"events\" violates check constraint \"events_secret_check\""
        }
        fn details(&self) -> Option<&str> {
            Some("Failing row contains (0194…, secret, …).")
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            Some("events")
        }
        fn column_name(&self) -> Option<&str> {
            Some("secret_column")
        }
        fn constraint_name(&self) -> Option<&str> {
            Some("events_secret_check")
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    #[test]
    fn broken_constraints_are_told_in_our_words_not_postgres() {
        use diesel::result::{DatabaseErrorKind, Error};
        for (kind, status) in [
            (
                DatabaseErrorKind::CheckViolation,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                DatabaseErrorKind::NotNullViolation,
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (DatabaseErrorKind::ForeignKeyViolation, StatusCode::CONFLICT),
            (DatabaseErrorKind::RestrictViolation, StatusCode::CONFLICT),
            (DatabaseErrorKind::ExclusionViolation, StatusCode::CONFLICT),
        ] {
            let error = ApiError::from(Error::DatabaseError(kind, Box::new(Refusal)));
            assert_eq!(error.status_code(), status, "{kind:?}");
            let body = serde_json::to_string(&error.to_problem()).unwrap();
            for leak in [
                "events",
                "secret",
                "relation",
                "constraint",
                "violates",
                "row",
            ] {
                assert!(!body.contains(leak), "{kind:?} leaks `{leak}`: {body}");
            }
        }
    }

    #[test]
    fn a_transaction_postgres_aborted_for_another_is_busy_not_internal() {
        use diesel::result::{DatabaseErrorKind, Error};
        let error = |kind, message: &str| {
            ApiError::from(Error::DatabaseError(kind, Box::new(message.to_owned())))
        };
        let deadlock = error(DatabaseErrorKind::Unknown, "deadlock detected");
        assert!(matches!(deadlock, ApiError::Busy(_)), "{deadlock:?}");
        let serialization = error(
            DatabaseErrorKind::SerializationFailure,
            "could not serialize access due to concurrent update",
        );
        assert!(
            matches!(serialization, ApiError::Busy(_)),
            "{serialization:?}"
        );
        let other = error(DatabaseErrorKind::Unknown, "division by zero");
        assert!(matches!(other, ApiError::Internal(_)), "{other:?}");
    }

    #[test]
    fn a_statement_cut_short_by_its_timeout_is_503_timeout_in_chroniks_words() {
        use diesel::result::{DatabaseErrorKind, Error};
        let timed_out = ApiError::from(Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(STATEMENT_TIMEOUT.to_owned()),
        ));
        assert!(matches!(timed_out, ApiError::TimedOut), "{timed_out:?}");
        let problem = timed_out.to_problem();
        assert_eq!(problem.status, 503);
        assert_eq!(problem.problem_type, "urn:chronik:problem:timeout");
        assert!(!problem.detail.contains("canceling"), "{}", problem.detail);
        let cancelled = ApiError::from(Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("canceling statement due to user request".to_owned()),
        ));
        assert!(matches!(cancelled, ApiError::Internal(_)), "{cancelled:?}");
    }

    #[test]
    fn a_session_postgres_ended_under_the_statement_is_unavailable_not_internal() {
        use diesel::result::{DatabaseErrorKind, Error};
        for message in [
            "terminating connection due to administrator command",
            "terminating connection because of crash of another server process",
            "terminating connection due to idle-in-transaction timeout",
            "the database system is shutting down",
            "the database system is starting up",
        ] {
            let ended = ApiError::from(Error::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new(message.to_owned()),
            ));
            assert!(
                matches!(ended, ApiError::Unavailable),
                "{message}: {ended:?}"
            );
        }
    }
}
