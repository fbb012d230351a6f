//! Conditional reads (RFC 9110 §13): every successful `GET` under `/v1`
//! carries an `ETag`, and a request whose `If-None-Match` names it gets
//! `304 Not Modified` without the body. A frontend polling a timeline thus
//! pays for the query but not for the transfer while nothing changed.
//!
//! A handler may set its own `ETag` (a single event's is its version). For
//! the rest the tag is a hash of the body, so it changes exactly when the
//! representation does, whatever changed it (an edit, a deletion, a new
//! event, an `as_of`).
//!
//! Streamed exports are passed on untouched: their size is unknown and
//! hashing them would mean holding them whole. Their handlers tag them with
//! [`export_tag`] instead, a weak tag derived from the request and the
//! store's version (which moves in the commit of every change to what reads
//! show), and answer `304` themselves ([`is_fresh`]) before running the export.

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpRequest, HttpResponse};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::db::store::StoreVersion;
use crate::error::ApiError;
use crate::formats::Format;

pub async fn conditional_get(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let reads = matches!(*req.method(), Method::GET | Method::HEAD);
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    let res = next.call(req).await?;
    let sized = matches!(res.response().body().size(), BodySize::Sized(_));
    if !reads || res.status() != StatusCode::OK || !sized {
        return Ok(res.map_into_boxed_body());
    }
    let (req, response) = res.into_parts();
    let (mut response, body) = response.into_parts();
    let body = actix_web::body::to_bytes(body)
        .await
        .map_err(|err| ApiError::internal(anyhow::anyhow!("{}", err.into())))?;
    let tag = match response.headers().get(header::ETAG) {
        Some(tag) => tag.clone(),
        None => {
            let tag = body_tag(&body);
            response.headers_mut().insert(header::ETAG, tag.clone());
            tag
        }
    };
    let response = if if_none_match.is_some_and(|wanted| matches(&wanted, &tag)) {
        not_modified(response)
    } else {
        response.set_body(BoxBody::new(body))
    };
    Ok(ServiceResponse::new(req, response))
}

/// A strong tag: the first 128 bits of the body's SHA-256.
fn body_tag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let tag = format!(
        "\"{}\"",
        URL_SAFE_NO_PAD.encode(digest.get(..16).unwrap_or_default())
    );
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// The tag of a whole-result export: what was asked (path, query, the
/// negotiated format) and where the store stood when it was asked. Weak, as
/// it is not derived from the bytes: two exports with this tag show the same
/// events, but nothing here promises byte-identity (a new release of the
/// server may write them differently; its version is in the hash so that an
/// upgrade, at least, changes every tag).
///
/// `store` must be read before anything the export shows, so that the
/// export is never older than its tag: a change committed in between makes
/// the next tag differ (one needless download), never the reverse (a `304`
/// for a body the client has not seen).
pub fn export_tag(
    store: &StoreVersion,
    req: &HttpRequest,
    format: Format,
    bom: bool,
) -> HeaderValue {
    let mut hasher = Sha256::new();
    let version = store.version.to_string();
    let fixed = [
        env!("CARGO_PKG_VERSION"),
        &store.epoch,
        &version,
        req.path(),
        format.name(),
        if bom { "bom" } else { "" },
    ];
    for part in fixed {
        hash_part(&mut hasher, part);
    }
    for (name, value) in normalized_query(req.query_string()) {
        hash_part(&mut hasher, &name);
        hash_part(&mut hasher, &value);
    }
    let digest = hasher.finalize();
    let tag = format!(
        "W/\"{}\"",
        URL_SAFE_NO_PAD.encode(digest.get(..16).unwrap_or_default())
    );
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("W/\"\""))
}

/// Each part ends with a NUL, so that ("ab", "c") and ("a", "bc") differ.
fn hash_part(hasher: &mut Sha256, part: &str) {
    hasher.update(part.as_bytes());
    hasher.update([0]);
}

/// The query's pairs, decoded and sorted, so that the order parameters are
/// given in does not matter; without `format` and `bom`, which the tag
/// takes as negotiated (`Accept` may choose the format too). A query that
/// does not decode is kept whole.
fn normalized_query(query: &str) -> Vec<(String, String)> {
    match serde_urlencoded::from_str::<Vec<(String, String)>>(query) {
        Ok(mut pairs) => {
            pairs.retain(|(name, _)| name != "format" && name != "bom");
            pairs.sort();
            pairs
        }
        Err(_) => vec![(String::new(), query.to_owned())],
    }
}

/// Whether the request's `If-None-Match` names `tag`: the client has it.
pub fn is_fresh(req: &HttpRequest, tag: &HeaderValue) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|wanted| matches(wanted, tag))
}

/// `If-None-Match` compares weakly: `W/"x"` matches `"x"`; `*` matches any
/// current representation.
fn matches(if_none_match: &HeaderValue, tag: &HeaderValue) -> bool {
    let (Ok(wanted), Ok(tag)) = (if_none_match.to_str(), tag.to_str()) else {
        return false;
    };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let tag = opaque(tag);
    wanted
        .split(',')
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == tag)
}

/// The response's headers (ETag, Vary, Link, …) without its body.
pub fn not_modified<B>(response: HttpResponse<B>) -> HttpResponse {
    let mut not_modified = HttpResponse::NotModified().finish();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            not_modified
                .headers_mut()
                .append(name.clone(), value.clone());
        }
    }
    not_modified
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_compare_weakly() {
        let tag = HeaderValue::from_static("\"abc\"");
        for wanted in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*"] {
            assert!(matches(&HeaderValue::from_static(wanted), &tag), "{wanted}");
        }
        for wanted in ["\"abcd\"", "abc", "\"x\""] {
            assert!(
                !matches(&HeaderValue::from_static(wanted), &tag),
                "{wanted}"
            );
        }
    }

    fn store(version: i64) -> StoreVersion {
        StoreVersion {
            epoch: "e".into(),
            version,
        }
    }

    fn export(target: &str, format: Format, version: i64) -> HeaderValue {
        let req = actix_web::test::TestRequest::get()
            .uri(target)
            .to_http_request();
        export_tag(&store(version), &req, format, false)
    }

    #[test]
    fn export_tags_are_weak_and_differ_with_the_store_the_query_and_the_format() {
        let tag = export("/v1/events?type=protest&tz=UTC", Format::Ndjson, 1);
        assert!(tag.as_bytes().starts_with(b"W/\""), "{tag:?}");
        let reordered = export(
            "/v1/events?tz=UTC&type=protest&format=ndjson",
            Format::Ndjson,
            1,
        );
        assert_eq!(
            tag, reordered,
            "order and an explicit format change nothing"
        );
        for other in [
            export("/v1/events?type=protest&tz=UTC", Format::Ndjson, 2),
            export("/v1/events?type=protest&tz=UTC", Format::GeoJson, 1),
            export("/v1/events?type=riot&tz=UTC", Format::Ndjson, 1),
            export(
                "/v1/timelines/x/events?type=protest&tz=UTC",
                Format::Ndjson,
                1,
            ),
            export(
                "/v1/events?type=protest&tz=UTC&as_of=2022-01-01T00:00:00Z",
                Format::Ndjson,
                1,
            ),
        ] {
            assert_ne!(tag, other);
        }
    }

    #[test]
    fn body_tags_differ_with_the_body() {
        assert_eq!(body_tag(b"one"), body_tag(b"one"));
        assert_ne!(body_tag(b"one"), body_tag(b"two"));
    }
}
