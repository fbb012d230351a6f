//! Read-your-writes when reads go to standbys: every successful write
//! answers with `Chronik-Position`, the primary's log position after its
//! commit ([`stamp_writes`]), and a read that sends it back ([`ReadAt`]) is
//! served by a standby only once that standby has replayed that far
//! (`db::replicas`), otherwise by the primary.
//!
//! A header and not a query parameter: the position says nothing about what
//! is read, so it stays out of URLs, which caches and CDNs key on.

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpRequest, web};
use utoipa::IntoParams;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, OpenApi, RefOr, Required, Type};

use crate::db::replicas::current_position;
use crate::error::ApiError;
use crate::models::position::{POSITION_HEADER, Position};
use crate::state::AppState;

/// The header's name as the spec writes it.
const NAME: &str = "Chronik-Position";

/// The position a read must see, from its `Chronik-Position` header (none: any).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadAt(pub Option<Position>);

impl ReadAt {
    fn parse(req: &HttpRequest) -> Result<Self, ApiError> {
        let Some(value) = req.headers().get(POSITION_HEADER) else {
            return Ok(Self(None));
        };
        let text = value.to_str().unwrap_or("");
        text.parse()
            .map(|position| Self(Some(position)))
            .map_err(|message| ApiError::field(NAME, message))
    }
}

impl FromRequest for ReadAt {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Self::parse(req))
    }
}

impl IntoParams for ReadAt {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name(NAME)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some(
                    "The `Chronik-Position` a write answered with: the read is served by a server \
                     that has that write (a standby that has replayed it, else the primary). \
                     Without it, a standby may serve a state a little older than the primary's.",
                ))
                .schema(Some(position_schema()))
                .build(),
        ]
    }
}

fn position_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(Position::PATTERN))
        .examples([serde_json::json!(Position::EXAMPLE)])
}

/// Whether `method` changes nothing, and so gets no position.
fn reads(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Adds `Chronik-Position` to every successful write's response: asked of
/// the primary once the handler has answered, so after the write's commit.
/// A write whose position cannot be read still answers as it did (without
/// the header): it has committed.
pub async fn stamp_writes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let state = (!reads(req.method()))
        .then(|| req.app_data::<web::Data<AppState>>().cloned())
        .flatten();
    let mut res = next.call(req).await?;
    let Some(state) = state.filter(|_| res.status().is_success()) else {
        return Ok(res);
    };
    let position = match state.pool.get().await {
        Ok(mut conn) => current_position(&mut conn).await,
        Err(err) => Err(anyhow::anyhow!("{err}")),
    };
    match position.map(|p| HeaderValue::try_from(p.to_string())) {
        Ok(Ok(value)) => {
            res.headers_mut()
                .insert(HeaderName::from_static(POSITION_HEADER), value);
        }
        Ok(Err(err)) => tracing::warn!(error = %err, "a position is not a header value"),
        Err(err) => tracing::warn!(error = %err, "could not read the write's position"),
    }
    Ok(res)
}

/// The spec: `Chronik-Position` on every success of every write under `/v1`.
pub fn document_positions(openapi: &mut OpenApi) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let writes = [
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in writes.into_iter().flatten() {
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                if status.starts_with('2') {
                    response.headers.insert(
                        NAME.into(),
                        HeaderBuilder::new()
                            .schema(Some(position_schema()))
                            .description(Some(
                                "The primary's log position after this write: send it back as \
                                 `Chronik-Position` on a read to be sure to see the write",
                            ))
                            .build()
                            .into(),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;
    use utoipa::openapi::path::PathItem;

    use super::NAME;
    use crate::openapi::ApiDoc;

    fn item(path: &str) -> PathItem {
        ApiDoc::openapi().paths.paths[path].clone()
    }

    fn names_position(operation: &utoipa::openapi::path::Operation) -> bool {
        operation
            .parameters
            .iter()
            .flatten()
            .any(|p| matches!(p, utoipa::openapi::RefOr::T(p) if p.name == NAME && p.parameter_in == utoipa::openapi::path::ParameterIn::Header))
    }

    #[test]
    fn writes_document_the_position_they_answer_with() {
        let events = item("/v1/events");
        let created = &events.post.unwrap().responses.responses["201"];
        let utoipa::openapi::RefOr::T(created) = created else {
            panic!("201 is inline");
        };
        assert!(created.headers.contains_key(NAME));
        let membership = item("/v1/timelines/{slug}/events/{id}");
        let utoipa::openapi::RefOr::T(added) = &membership.put.unwrap().responses.responses["204"]
        else {
            panic!("204 is inline");
        };
        assert!(added.headers.contains_key(NAME));
    }

    #[test]
    fn reads_a_standby_may_serve_take_a_position_and_the_others_do_not() {
        for path in [
            "/v1/events",
            "/v1/events/{id}",
            "/v1/timelines/{slug}/events",
            "/v1/events/{id}/revisions",
            "/v1/stats/casualties",
        ] {
            assert!(names_position(&item(path).get.unwrap()), "{path}");
        }
        for path in ["/v1/changes", "/v1/events/stream", "/v1/tokens"] {
            assert!(!names_position(&item(path).get.unwrap()), "{path}");
        }
    }
}
