//! What the OpenAPI spec says about request ids: `X-Request-Id`, a reusable
//! header, on every response of every operation (the `problem+json` ones
//! included, whose body repeats it as `request_id`).

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::{ObjectBuilder, OpenApi, Ref, RefOr, Response, Type};

use super::request_id::MAX_LEN;

pub const HEADER: &str = "X-Request-Id";

/// Adds the header to the components and a reference to it to every response.
pub fn document_request_id(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.headers.insert(
        HEADER.into(),
        HeaderBuilder::new()
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX_LEN))
                    .pattern(Some("^[!#-\\[\\]-~]+$"))
                    .examples([serde_json::json!("0194d2c5-7a1e-7c3b-9f0e-5b2d8c4a6e10")]),
            ))
            .description(Some(
                "The request's id, on every line the server logged about it: a UUID it made, or the \
                 `X-Request-Id` a trusted proxy (`CHRONIK_TRUSTED_PROXIES`) sent, if that was 1–128 \
                 visible ASCII characters other than `\"` and `\\`. Problem bodies repeat it as \
                 `request_id`: name it when reporting an error.",
            ))
            .build()
            .into(),
    );
    for response in components.responses.values_mut() {
        add_to(response);
    }
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            for response in operation.responses.responses.values_mut() {
                add_to(response);
            }
        }
    }
}

/// The header on `response`; a reference to a reusable response has it there.
fn add_to(response: &mut RefOr<Response>) {
    if let RefOr::T(response) = response {
        response.headers.insert(
            HEADER.into(),
            RefOr::Ref(Ref::new(format!("#/components/headers/{HEADER}"))),
        );
    }
}
