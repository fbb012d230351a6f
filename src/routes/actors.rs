use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa::IntoParams;

use super::page_response;
use crate::db;
use crate::error::ApiError;
use crate::filter::{DEFAULT_LIMIT, parse_limit};
use crate::models::actor::ActorPage;
use crate::read_your_writes::ReadAt;
use crate::state::AppState;
use crate::telemetry::rows::Rows;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActorQuery {
    /// Case-insensitive name prefix.
    #[param(value_type = Option<String>, pattern = r"^[^\u0000-\u001F\u007F]*$", example = "sal")]
    pub q: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500, example = 50)]
    pub limit: Option<String>,
    /// Opaque cursor from `next_cursor`.
    #[param(value_type = Option<String>, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// List actors, by name.
#[utoipa::path(get, path = "/v1/actors", tag = "actors", params(ReadAt, ActorQuery),
    responses(
        (status = 200, description = "One page of actors", body = ActorPage,
            headers(("Link" = String, description = "`rel=\"next\"` link when another page follows"))),
        (status = 400, description = "A query parameter is invalid"),
    ))]
pub async fn list_actors(
    state: web::Data<AppState>,
    at: ReadAt,
    req: HttpRequest,
    query: web::Query<ActorQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = match query.limit.as_deref() {
        Some(raw) => parse_limit(raw).map_err(|e| ApiError::field("limit", e))?,
        None => DEFAULT_LIMIT,
    };
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            URL_SAFE_NO_PAD
                .decode(c)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                // Names cannot hold NUL (Postgres cannot store it), so no cursor of ours does.
                .filter(|key| !key.contains('\0'))
                .ok_or_else(|| ApiError::field("cursor", "not a cursor returned by this API"))
        })
        .transpose()?;
    let mut conn = state.reads.get(at.0).await?;
    let (data, next) =
        db::actors::list(&mut conn, query.q.as_deref(), after.as_deref(), limit).await?;
    let next_cursor = next.map(|key| URL_SAFE_NO_PAD.encode(key));
    Rows::set(&req, data.len());
    Ok(page_response(
        &req,
        &ActorPage {
            data,
            next_cursor: next_cursor.clone(),
        },
        next_cursor.as_deref(),
    ))
}
