//! Logs and metrics: the log's setup, the request span, the request id,
//! each request's log line and metrics ([`request_log`]), and the metrics
//! themselves ([`metrics`]).

pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod request_log;
pub mod rows;
pub mod scrape;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{Error, HttpMessage, web};
use std::io::IsTerminal as _;
use tracing::{Span, Subscriber};
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::auth::AccessSettings;
use crate::config::{Config, LogFormat};
use request_id::RequestId;

/// Logs to standard error, as `CHRONIK_LOG` and `CHRONIK_LOG_FORMAT` say.
pub fn init(config: &Config) {
    let terminal = std::io::stderr().is_terminal();
    // Already initialised (tests start several apps in one process): keep the first.
    let _ = subscriber(config, std::io::stderr, terminal).try_init();
}

/// The log as `init` sets it up, writing to `writer`; `terminal` says
/// whether that is a terminal.
fn subscriber<W>(config: &Config, writer: W, terminal: bool) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colour codes only for a person at a terminal: in a file, or piped
        // to a log collector, they are noise around every level.
        .with_ansi(terminal && config.log_format == LogFormat::Text);
    match config.log_format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().finish()),
    }
}

/// The request log's span: what `tracing-actix-web` records, except that the
/// client's address is the one the rate limiter uses, not the first
/// forwarding header present, which a client can write itself, and the
/// request id is the one [`request_log::track`] gave the request (and its
/// `X-Request-Id`), not `tracing-actix-web`'s own. Every line logged while
/// the request runs is in this span, so it carries the id.
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let client_ip = logged_client_ip(request);
        let user_agent = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map_or_else(String::new, ToString::to_string);
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.target = %logged_target(request),
            http.client_ip = %client_ip,
            http.user_agent = %user_agent,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The request's path and query as logged: a stream token's value is not.
fn logged_target(request: &ServiceRequest) -> String {
    without_token(request.path(), request.query_string())
}

/// `path?query` with the value of a stream token replaced by `[redacted]`.
fn without_token(path: &str, query: &str) -> String {
    if query.is_empty() {
        return path.to_owned();
    }
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| {
            // The name as the server decodes it (`access%5Ftoken` is `access_token`).
            let name = serde_urlencoded::from_str::<Vec<(String, String)>>(pair)
                .ok()
                .and_then(|pairs| pairs.into_iter().next())
                .map(|(name, _)| name);
            match name {
                Some(name) if name == crate::auth::QUERY_TOKEN => {
                    format!("{}=[redacted]", pair.split('=').next().unwrap_or_default())
                }
                _ => pair.to_owned(),
            }
        })
        .collect();
    format!("{path}?{}", redacted.join("&"))
}

/// The client's address as the rate limiter sees it (empty outside the app).
fn logged_client_ip(request: &ServiceRequest) -> String {
    request
        .app_data::<web::Data<AccessSettings>>()
        .map(|settings| {
            settings
                .proxies
                .client_ip(request.peer_addr(), request.headers())
        })
        .map_or_else(String::new, |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_stream_token_in_the_query_is_not_logged() {
        let logged = super::without_token(
            "/v1/events/stream",
            "type=protest&access_token=chronik_secret&after=1-2",
        );
        assert_eq!(
            logged,
            "/v1/events/stream?type=protest&access_token=[redacted]&after=1-2"
        );
    }

    #[test]
    fn a_percent_encoded_token_parameter_is_not_logged_either() {
        let logged = super::without_token("/v1/events/stream", "access%5Ftoken=chronik_secret");
        assert!(!logged.contains("chronik_secret"), "{logged}");
    }

    use super::*;
    use crate::auth::client_ip::{ClientIpHeader, ProxyTrust};
    use crate::rate_limit::store::Limiter;
    use crate::rate_limit::{RateLimit, RateLimiters};
    use actix_web::test::TestRequest;
    use std::sync::Arc;

    #[test]
    fn the_log_names_the_client_the_configured_header_names_not_a_spoofed_one() {
        let settings = AccessSettings {
            public_reads: true,
            proxies: ProxyTrust {
                proxies: vec!["127.0.0.1/32".parse().unwrap()],
                header: ClientIpHeader::XForwardedFor,
            },
            limits: Limiter::memory(Arc::new(RateLimiters::new(
                RateLimit::Off,
                RateLimit::Off,
                64,
            ))),
            uses: Arc::default(),
        };
        let request = TestRequest::get()
            .uri("/v1/events")
            .peer_addr("127.0.0.1:40000".parse().unwrap())
            .insert_header(("forwarded", "for=198.51.100.99"))
            .insert_header(("x-forwarded-for", "203.0.113.7"))
            .app_data(web::Data::new(settings))
            .to_srv_request();
        assert_eq!(logged_client_ip(&request), "203.0.113.7");
    }

    /// Standard error sent to a file or a pipe: a writer that is no terminal.
    #[derive(Clone, Default)]
    pub(super) struct Captured(pub(super) Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Self;
        fn make_writer(&'w self) -> Self {
            self.clone()
        }
    }

    /// What the log set up with `format` writes for one line in a request span.
    fn logged(format: LogFormat, terminal: bool) -> String {
        let mut config = Config::for_database("postgres://localhost/unused");
        config.log = "info".into();
        config.log_format = format;
        let captured = Captured::default();
        tracing::subscriber::with_default(subscriber(&config, captured.clone(), terminal), || {
            tracing::info_span!("HTTP request", request_id = "req-1")
                .in_scope(|| tracing::warn!(http.status_code = 404, "request"));
        });
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn log_lines_have_no_colour_codes_when_not_written_to_a_terminal() {
        for format in [LogFormat::Text, LogFormat::Json] {
            let line = logged(format, false);
            assert!(line.contains("req-1") && line.contains("404"), "{line}");
            assert!(!line.contains('\u{1b}'), "{format:?}: {line:?}");
        }
        // The same line at a terminal is coloured: the check above can fail.
        assert!(logged(LogFormat::Text, true).contains('\u{1b}'));
    }
}
