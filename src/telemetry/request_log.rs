//! Around every request: its id (`X-Request-Id`, also in problem+json
//! bodies), its one log line and its metrics.
//!
//! The line and the metrics are written when the response has been sent
//! whole (or given up on), not when its head is ready: only then are an
//! export's rows and time known. A live stream's line is so written when
//! the stream closes.

use actix_web::body::{BodySize, BoxBody, EitherBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::{Level, Span};

use super::metrics;
use super::request_id::{RequestId, X_REQUEST_ID};
use super::rows::Rows;
use crate::auth::{AccessSettings, Caller};
use crate::error::{ApiError, PROBLEM_JSON, Problem};

/// The route label of a request no route matched: never its path, which
/// anyone can vary without end.
const UNMATCHED: &str = "unmatched";
/// The route label of a request a layer failed to answer (an internal
/// error): the request, and so its route, went with the failure.
const UNKNOWN: &str = "unknown";

/// The outermost middleware: gives the request its id before the request
/// span is made (`RequestSpan` logs it), and finishes the response.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let trusted = req
        .app_data::<web::Data<AccessSettings>>()
        .is_some_and(|settings| settings.proxies.trusts_peer(req.peer_addr()));
    let id = RequestId::of(req.headers(), trusted);
    let rows = Rows::default();
    req.extensions_mut().insert(id.clone());
    req.extensions_mut().insert(rows.clone());
    // Not the request itself: routing needs it unshared.
    let method = req.method().clone();
    let res = match next.call(req).await {
        Ok(res) => res.map_into_left_body(),
        Err(err) => {
            let span = tracing::info_span!("HTTP request", http.method = %method, request_id = %id);
            Finish::failed(&err, started, method, span).emit(true);
            return Err(WithRequestId { error: err, id }.into());
        }
    };
    let mut res = with_request_id(res, &id).await;
    let finish = Finish::of(&res, started, rows);
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        res.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(res.map_body(|_, body| Logged {
        body,
        finish: Some(finish),
    }))
}

type Body<B> = EitherBody<B, BoxBody>;

/// An error a layer returned instead of a response: actix makes the
/// response from it, and this puts the request id on that response too.
#[derive(Debug)]
struct WithRequestId {
    error: Error,
    id: RequestId,
}

impl std::fmt::Display for WithRequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for WithRequestId {
    fn status_code(&self) -> StatusCode {
        self.error.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let response = self.error.error_response();
        let is_problem = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
        let (mut response, body) = response.into_parts();
        if let Ok(value) = HeaderValue::from_str(self.id.as_str()) {
            response.headers_mut().insert(X_REQUEST_ID, value);
        }
        let body = match body.try_into_bytes() {
            Ok(bytes) if is_problem => {
                BoxBody::new(problem_with_id(&bytes, &self.id).unwrap_or(bytes))
            }
            Ok(bytes) => BoxBody::new(bytes),
            Err(body) => body,
        };
        response.set_body(body)
    }
}

/// `res` with the request id in its problem+json body, if it has one.
async fn with_request_id<B: MessageBody + 'static>(
    res: ServiceResponse<Body<B>>,
    id: &RequestId,
) -> ServiceResponse<Body<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !is_problem {
        return res;
    }
    let (request, response) = res.into_parts();
    let (response, body) = response.into_parts();
    // A problem is one small JSON document, already whole.
    let patched = match to_bytes(body).await {
        Ok(bytes) => problem_with_id(&bytes, id).unwrap_or(bytes),
        Err(_) => Bytes::new(),
    };
    let mut response = response.set_body(EitherBody::right(BoxBody::new(patched)));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    ServiceResponse::new(request, response)
}

/// The problem `body` with `request_id` set; `None` if it is no problem.
fn problem_with_id(body: &[u8], id: &RequestId) -> Option<Bytes> {
    let mut problem: Problem = serde_json::from_slice(body).ok()?;
    problem.request_id = Some(id.to_string());
    serde_json::to_vec(&problem).ok().map(Bytes::from)
}

/// What the log line and the metrics of a request say, but for the time
/// it took and the rows it returned (known once the body is sent).
struct Finish {
    started: Instant,
    rows: Rows,
    route: String,
    method: Method,
    status: StatusCode,
    token_id: Option<String>,
    error: Option<String>,
    unavailable: Option<&'static str>,
    span: Option<Span>,
}

impl Finish {
    /// A request a layer failed to answer: its error is all there is.
    fn failed(error: &Error, started: Instant, method: Method, span: Span) -> Self {
        let status = error.as_response_error().status_code();
        Self {
            started,
            rows: Rows::default(),
            route: UNKNOWN.to_owned(),
            method,
            status,
            token_id: None,
            error: Some(error.to_string()),
            unavailable: (status == StatusCode::SERVICE_UNAVAILABLE).then(|| {
                error
                    .as_error::<ApiError>()
                    .and_then(ApiError::unavailable_cause)
                    .unwrap_or("other")
            }),
            span: Some(span),
        }
    }

    fn of<B>(res: &ServiceResponse<B>, started: Instant, rows: Rows) -> Self {
        let request: &HttpRequest = res.request();
        let error = res.response().error();
        let status = res.status();
        let extensions = request.extensions();
        Self {
            started,
            rows,
            route: request
                .match_pattern()
                .unwrap_or_else(|| UNMATCHED.to_owned()),
            method: request.method().clone(),
            status,
            token_id: extensions
                .get::<Caller>()
                .and_then(Caller::token_id)
                .map(|id| id.to_string()),
            error: error.map(ToString::to_string),
            unavailable: (status == StatusCode::SERVICE_UNAVAILABLE).then(|| {
                error
                    .and_then(|e| e.as_error::<ApiError>())
                    .and_then(ApiError::unavailable_cause)
                    .unwrap_or("other")
            }),
            span: extensions
                .get::<tracing_actix_web::RootSpan>()
                .map(|span| Span::clone(span)),
        }
    }

    /// Writes the request's line and records its metrics.
    fn emit(self, complete: bool) {
        let elapsed = self.started.elapsed();
        let method = metrics::method_label(self.method.as_str());
        metrics::http_request(
            self.route.clone(),
            method,
            self.status.as_u16(),
            elapsed.as_secs_f64(),
        );
        if let Some(cause) = self.unavailable {
            metrics::unavailable(cause);
        }
        let level = match self.status.as_u16() {
            500.. => Level::ERROR,
            400.. => Level::WARN,
            _ => Level::INFO,
        };
        let line = Line {
            route: &self.route,
            method,
            status: self.status.as_u16(),
            latency_ms: (elapsed.as_secs_f64() * 1e6).round() / 1e3,
            token_id: self.token_id.as_deref(),
            rows: self.rows.get(),
            error: self.error.as_deref(),
            // Only said when the body was cut short (the client left, or an export failed).
            incomplete: (!complete).then_some(true),
        };
        match &self.span {
            Some(span) => span.in_scope(|| line.write(level)),
            None => line.write(level),
        }
    }
}

/// The fields of a request's line.
struct Line<'a> {
    route: &'a str,
    method: &'static str,
    status: u16,
    latency_ms: f64,
    token_id: Option<&'a str>,
    rows: Option<u64>,
    error: Option<&'a str>,
    incomplete: Option<bool>,
}

impl Line<'_> {
    fn write(&self, level: Level) {
        // `tracing` takes the level as a constant: one call per level.
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    http.route = self.route,
                    http.method = self.method,
                    http.status_code = self.status,
                    latency_ms = self.latency_ms,
                    token_id = self.token_id,
                    rows = self.rows,
                    error = self.error,
                    incomplete = self.incomplete,
                    "request"
                )
            };
        }
        match level {
            Level::ERROR => line!(Level::ERROR),
            Level::WARN => line!(Level::WARN),
            _ => line!(Level::INFO),
        }
    }
}

pin_project_lite::pin_project! {
    /// A response body that writes its request's line once it has been
    /// sent whole, or dropped unfinished.
    pub struct Logged<B> {
        #[pin]
        body: B,
        finish: Option<Finish>,
    }

    impl<B> PinnedDrop for Logged<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(finish) = this.project().finish.take() {
                finish.emit(false);
            }
        }
    }
}

impl<B: MessageBody> MessageBody for Logged<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let polled = this.body.poll_next(cx);
        match &polled {
            Poll::Ready(None) => {
                if let Some(finish) = this.finish.take() {
                    finish.emit(true);
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(finish) = this.finish.take() {
                    finish.emit(false);
                }
            }
            _ => {}
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_gets_the_id_and_keeps_its_members() {
        let body = br#"{"type":"urn:chronik:problem:not-found","title":"Not found","status":404,"detail":"no such event"}"#;
        let id = RequestId::generate();
        let patched = problem_with_id(body, &id).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&patched).unwrap();
        assert_eq!(value["request_id"], id.as_str());
        assert_eq!(value["detail"], "no such event");
        assert_eq!(value["status"], 404);
        let text = String::from_utf8(patched.to_vec()).unwrap();
        assert!(text.starts_with(r#"{"type":"#), "{text}");
    }

    /// A request's lines, as the log writes them in JSON, one value each.
    fn json_lines(captured: &crate::telemetry::tests::Captured) -> Vec<serde_json::Value> {
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[actix_web::test]
    async fn every_line_of_a_request_carries_its_response_id_and_one_line_sums_it_up() {
        use actix_web::{App, HttpResponse, middleware::from_fn, test};
        use tracing_actix_web::TracingLogger;
        let mut config = crate::config::Config::for_database("postgres://localhost/unused");
        config.log = "info".into();
        config.log_format = crate::config::LogFormat::Json;
        let captured = crate::telemetry::tests::Captured::default();
        let subscriber = crate::telemetry::subscriber(&config, captured.clone(), false);
        let _logging = tracing::subscriber::set_default(subscriber);
        let app = test::init_service(
            App::new()
                .wrap(TracingLogger::<crate::telemetry::RequestSpan>::new())
                .wrap(from_fn(track))
                .route(
                    "/items/{id}",
                    web::get().to(|| async {
                        tracing::warn!("looked for the item");
                        Err::<HttpResponse, _>(ApiError::NotFound("no such item".into()))
                    }),
                ),
        )
        .await;
        let request = test::TestRequest::get().uri("/items/42").to_request();
        let res = test::call_service(&app, request).await;
        let id = res.headers().get(X_REQUEST_ID).unwrap().to_str().unwrap();
        let id = id.to_owned();
        let body: serde_json::Value = serde_json::from_slice(&test::read_body(res).await).unwrap();
        assert_eq!(body["request_id"], id.as_str());
        let lines = json_lines(&captured);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        for line in &lines {
            assert_eq!(line["span"]["request_id"], id.as_str(), "{line}");
        }
        assert_eq!(lines[0]["fields"]["message"], "looked for the item");
        let summary = &lines[1];
        assert_eq!(summary["level"], "WARN", "{summary}");
        let fields = &summary["fields"];
        assert_eq!(fields["message"], "request");
        assert_eq!(fields["http.route"], "/items/{id}", "{summary}");
        assert_eq!(fields["http.method"], "GET");
        assert_eq!(fields["http.status_code"], 404);
        assert_eq!(fields["error"], "no such item");
        assert!(fields["latency_ms"].as_f64().is_some(), "{summary}");
        assert!(fields.get("token_id").is_none() && fields.get("rows").is_none());
        assert!(fields.get("incomplete").is_none(), "{summary}");
    }

    #[test]
    fn a_body_that_is_no_problem_is_left_alone() {
        assert!(problem_with_id(b"not json", &RequestId::generate()).is_none());
    }
}
