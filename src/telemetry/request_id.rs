//! The request id: one per request, in its `X-Request-Id` response header,
//! on every log line of the request and in its problem+json body, so that a
//! user's error report names the server's log lines.
//!
//! A reverse proxy in `CHRONIK_TRUSTED_PROXIES` may set it (so that its own
//! log and Chronik's share the id); from any other client the header is
//! ignored, like a forwarding header, or a client could make its requests'
//! lines look like someone else's. A forwarded id is used only if it is
//! 1–128 visible ASCII characters other than `"` and `\`: it is written
//! into log lines, a response header and JSON, and must not break out of
//! any of them.

use actix_web::http::header::{HeaderMap, HeaderName};

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest forwarded id taken, in bytes.
pub const MAX_LEN: usize = 128;

/// A request's id, as it is logged and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The id of a request with `headers`: the forwarded one if the request
    /// came from a trusted proxy (`trusted`) with exactly one valid
    /// `X-Request-Id`, else a new one.
    pub fn of(headers: &HeaderMap, trusted: bool) -> Self {
        let forwarded = trusted.then(|| forwarded(headers)).flatten();
        forwarded.unwrap_or_else(Self::generate)
    }

    /// A new id: a UUID v7, whose leading timestamp sorts ids by time.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The one valid `X-Request-Id` of `headers`. Two headers are no id: which
/// of them the proxy wrote cannot be told.
fn forwarded(headers: &HeaderMap) -> Option<RequestId> {
    let mut values = headers.get_all(X_REQUEST_ID);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let raw = value.as_bytes();
    is_valid(raw)
        .then(|| std::str::from_utf8(raw).ok())
        .flatten()
        .map(|id| RequestId(id.to_owned()))
}

/// 1–[`MAX_LEN`] bytes, each visible ASCII (`!` to `~`) but `"` and `\`.
pub fn is_valid(raw: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&raw.len())
        && raw
            .iter()
            .all(|b| b.is_ascii_graphic() && *b != b'"' && *b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(X_REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    #[test]
    fn a_trusted_proxys_valid_id_is_kept() {
        let id = RequestId::of(&headers(&[b"req-42.a:b/c=d"]), true);
        assert_eq!(id.as_str(), "req-42.a:b/c=d");
    }

    #[test]
    fn an_untrusted_clients_id_is_replaced() {
        let id = RequestId::of(&headers(&[b"req-42"]), false);
        assert_ne!(id.as_str(), "req-42");
        assert!(uuid::Uuid::parse_str(id.as_str()).is_ok(), "{id}");
    }

    #[test]
    fn invalid_or_repeated_ids_are_replaced_even_from_a_trusted_proxy() {
        let long = vec![b'a'; MAX_LEN + 1];
        for bad in [
            &headers(&[b""]),
            &headers(&[b"two words"]),
            &headers(&[b"quote\"d"]),
            &headers(&[b"back\\slash"]),
            &headers(&[b"tab\there"]),
            &headers(&["caf\u{e9}".as_bytes()]),
            &headers(&[&long]),
            &headers(&[b"a", b"b"]),
        ] {
            let id = RequestId::of(bad, true);
            assert!(uuid::Uuid::parse_str(id.as_str()).is_ok(), "{bad:?} → {id}");
        }
        let longest = vec![b'a'; MAX_LEN];
        assert!(is_valid(&longest));
    }

    #[test]
    fn generated_ids_differ() {
        assert_ne!(RequestId::generate(), RequestId::generate());
    }
}
