//! Conditional reads (RFC 9110 §13): every successful `GET` under `/v1`
//! carries an `ETag`, and a request whose `If-None-Match` names it gets
//! `304 Not Modified` without the body. A frontend polling a timeline thus
//! pays for the query but not for the transfer while nothing changed.
//!
//! A handler may set its own `ETag` (a single event's is its version). For
//! the rest the tag is a hash of the body, so it changes exactly when the
//! representation does, whatever changed it (an edit, a deletion, a new
//! event, an `as_of`). Streamed exports are passed on untouched: their size
//! is unknown and hashing them would mean holding them whole.

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

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
    let tag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
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
fn not_modified<B>(response: HttpResponse<B>) -> HttpResponse {
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

    #[test]
    fn body_tags_differ_with_the_body() {
        assert_eq!(body_tag(b"one"), body_tag(b"one"));
        assert_ne!(body_tag(b"one"), body_tag(b"two"));
    }
}
