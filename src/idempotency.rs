//! `Idempotency-Key` for `POST` requests (draft-ietf-httpapi-idempotency-key-header).
//!
//! A client that sends `Idempotency-Key: <unique value>` with a `POST` can
//! retry it safely: the first request runs, and every retry with the same key
//! and the same request (method, path and query, body) gets the first
//! response again, marked `Idempotent-Replayed: true`, without running again.
//! The same key with a different request is a `422`; a retry while the first
//! request is still running is a `409` with `Retry-After`. Keys belong to
//! their caller (token) and are kept 24 hours.
//!
//! Only successful (2xx) responses are kept. A failed request wrote nothing
//! (each write is one transaction), so running its retry again cannot
//! duplicate anything, and a retry after fixing the cause can succeed.
//!
//! The request runs in a task of its own, so it finishes and records its
//! response even if the client disconnects: the retry that follows a dropped
//! connection gets the original response instead of running twice.
//!
//! Other methods ignore the header: `PUT`, `PATCH` (with `If-Match`) and
//! `DELETE` are already safe to repeat.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{Error, HttpMessage, HttpResponse};
use futures_util::StreamExt as _;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::Instrument as _;

use crate::auth::Caller;
use crate::db::DbPool;
use crate::db::idempotency::{self as store, Claim, KeyRef, StoredResponse};
use crate::error::{ApiError, IDEMPOTENCY_KEY, PROBLEM_JSON, REPLAYED};
use crate::state::AppState;

/// Routes whose bodies are streamed, not buffered: a key cannot fingerprint
/// them, so it is refused rather than silently ignored ([`refuse_key`]). (An import is all
/// or nothing: a failed one can be retried as it is, and `mode=upsert`
/// makes repeating a successful one harmless.)
pub const STREAMED_BODIES: &[&str] = &["/v1/import"];

/// Response headers that are part of a replay (besides status and body).
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// Settings of the middleware.
pub struct IdempotencySettings {
    /// Largest request body read to fingerprint a request.
    pub max_body_bytes: usize,
}

/// Put into a response's extensions by a handler whose response must not be
/// stored (it carries a secret): retries then get a `409` with this detail.
#[derive(Debug, Clone)]
pub struct NotReplayable {
    pub detail: String,
}

pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let raw_key = match req.headers().get(IDEMPOTENCY_KEY) {
        Some(value) if req.method() == Method::POST => value.clone(),
        _ => return next.call(req).await.map(|res| res.map_into_boxed_body()),
    };
    match prepare(&mut req, &raw_key).await {
        Ok(Prepared::Run(pool, caller, key)) => {
            // Run to completion even if the client goes away, so that the key is settled.
            let task = actix_web::rt::spawn(
                run_and_record(next, req, pool, caller, key).instrument(tracing::Span::current()),
            );
            task.await
                .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?
        }
        Ok(Prepared::Answer(response)) => Ok(req.into_response(response)),
        Err(err) => Ok(req.error_response(err)),
    }
}

/// On a route in [`STREAMED_BODIES`]: a request with `Idempotency-Key` is a `400`.
pub async fn refuse_key(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if !req.headers().contains_key(IDEMPOTENCY_KEY) {
        return next.call(req).await.map(|res| res.map_into_boxed_body());
    }
    let err = ApiError::field(
        IDEMPOTENCY_KEY,
        "is not accepted on this route: its body is streamed, not buffered, so it cannot be fingerprinted; \
         an import is all or nothing, so retry a failed one as it is, and use mode=upsert to make repeating \
         a successful one harmless",
    );
    Ok(req.error_response(err))
}

enum Prepared {
    Run(DbPool, String, String),
    Answer(HttpResponse),
}

/// Validates the key, fingerprints the request and claims the key.
async fn prepare(req: &mut ServiceRequest, raw_key: &HeaderValue) -> Result<Prepared, ApiError> {
    let key = parse_key(raw_key)?;
    let caller = req
        .extensions()
        .get::<Caller>()
        .map(Caller::key)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("idempotency runs without a caller")))?;
    let (Some(state), Some(settings)) = (
        req.app_data::<web::Data<AppState>>().cloned(),
        req.app_data::<web::Data<IdempotencySettings>>().cloned(),
    ) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "idempotency settings are not configured"
        )));
    };
    let body = read_body(req, settings.max_body_bytes).await?;
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let fingerprint = fingerprint(&method, &path, &body);
    req.set_payload(actix_web::dev::Payload::from(body));

    let mut conn = state.pool.get().await?;
    purge_now_and_then(&mut conn).await;
    let key_ref = KeyRef {
        caller: &caller,
        key: &key,
    };
    match store::claim(&mut conn, &key_ref, &method, &path, &fingerprint).await? {
        Claim::Claimed => Ok(Prepared::Run(state.pool.clone(), caller, key)),
        Claim::Existing(existing) if existing.request_hash != fingerprint => {
            Err(ApiError::IdempotencyKeyReused)
        }
        Claim::Existing(existing) => match existing.response {
            Some(stored) => Ok(Prepared::Answer(replay(stored))),
            None => Err(ApiError::IdempotencyInFlight),
        },
    }
}

/// Runs the request and records a successful response, or frees the key.
async fn run_and_record<B: MessageBody + 'static>(
    next: Next<B>,
    req: ServiceRequest,
    pool: DbPool,
    caller: String,
    key: String,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let key_ref = KeyRef {
        caller: &caller,
        key: &key,
    };
    let result = next.call(req).await;
    let response = match result {
        Ok(response) if response.status().is_success() => response,
        other => {
            settle(&pool, &key_ref, None).await;
            return other.map(|res| res.map_into_boxed_body());
        }
    };
    let replay_instead = response
        .response()
        .extensions()
        .get::<NotReplayable>()
        .cloned();
    let (req, response) = response.into_parts();
    let (response, body) = response.into_parts();
    let body = match actix_web::body::to_bytes(body).await {
        Ok(body) => body,
        Err(err) => {
            settle(&pool, &key_ref, None).await;
            return Err(ApiError::internal(anyhow::anyhow!("{}", err.into())).into());
        }
    };
    let stored = match replay_instead {
        Some(NotReplayable { detail }) => problem_to_store(&ApiError::Conflict(detail)),
        None => StoredResponse {
            status: response.status().as_u16(),
            headers: KEPT_HEADERS
                .iter()
                .filter_map(|name| {
                    let value = response.headers().get(name)?.to_str().ok()?;
                    Some((name.as_str().to_owned(), value.to_owned()))
                })
                .collect(),
            body: body.to_vec(),
        },
    };
    settle(&pool, &key_ref, Some(&stored)).await;
    Ok(ServiceResponse::new(
        req,
        response.set_body(BoxBody::new(body)),
    ))
}

/// Records the response (or frees the key when there is none to keep).
/// Failing to record is logged, not answered: the write itself succeeded,
/// and the key stays claimed, so a retry gets a 409 rather than a duplicate.
async fn settle(pool: &DbPool, key: &KeyRef<'_>, response: Option<&StoredResponse>) {
    let result = match pool.get().await {
        Ok(mut conn) => match response {
            Some(response) => store::complete(&mut conn, key, response).await,
            None => store::release(&mut conn, key).await,
        },
        Err(err) => Err(err.into()),
    };
    if let Err(err) = result {
        tracing::error!(error = %err, key = key.key, "could not settle an Idempotency-Key");
    }
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut builder = HttpResponse::build(status);
    for (name, value) in stored.headers {
        builder.insert_header((name, value));
    }
    builder.insert_header((REPLAYED, "true")).body(stored.body)
}

fn problem_to_store(err: &ApiError) -> StoredResponse {
    use actix_web::ResponseError as _;
    StoredResponse {
        status: err.status_code().as_u16(),
        headers: vec![(
            header::CONTENT_TYPE.as_str().to_owned(),
            PROBLEM_JSON.to_owned(),
        )],
        body: serde_json::to_vec(&err.to_problem()).unwrap_or_default(),
    }
}

/// A key is 1 to 255 visible ASCII characters; the quotes of the draft's
/// structured-field form (`"abc"`) are optional.
fn parse_key(raw: &HeaderValue) -> Result<String, ApiError> {
    let text = raw.to_str().unwrap_or("").trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let valid = (1..=255).contains(&text.len()) && text.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(ApiError::field(
            IDEMPOTENCY_KEY,
            "must be 1 to 255 visible ASCII characters, such as a UUID",
        ))
    }
}

fn fingerprint(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.finalize().to_vec()
}

async fn read_body(req: &mut ServiceRequest, max: usize) -> Result<Bytes, ApiError> {
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::field("body", e.to_string()))?;
        if body.len() + chunk.len() > max {
            return Err(ApiError::PayloadTooLarge(crate::error::body_too_large(max)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Unix time of the last purge of expired keys, so that at most one runs per hour and process.
static LAST_PURGE: AtomicU64 = AtomicU64::new(0);

async fn purge_now_and_then(conn: &mut diesel_async::AsyncPgConnection) {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let last = LAST_PURGE.load(Ordering::Relaxed);
    if now.saturating_sub(last) < 3600
        || LAST_PURGE
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    match store::purge_expired(conn).await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
        Err(err) => tracing::warn!(error = %err, "could not purge expired idempotency keys"),
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_and_may_be_quoted() {
        let parse = |s: &str| parse_key(&HeaderValue::from_str(s).unwrap());
        assert_eq!(parse("abc-123").unwrap(), "abc-123");
        assert_eq!(parse("\"abc-123\"").unwrap(), "abc-123");
        assert!(parse("").is_err());
        assert!(parse("\"\"").is_err());
        assert!(parse("has space").is_err());
        assert!(parse(&"x".repeat(256)).is_err());
    }

    #[test]
    fn fingerprints_cover_method_path_and_body() {
        let base = fingerprint("POST", "/v1/events", b"{}");
        assert_eq!(base, fingerprint("POST", "/v1/events", b"{}"));
        assert_ne!(base, fingerprint("POST", "/v1/timelines", b"{}"));
        assert_ne!(base, fingerprint("POST", "/v1/events", b"{ }"));
        assert_ne!(base, fingerprint("PUT", "/v1/events", b"{}"));
    }
}
