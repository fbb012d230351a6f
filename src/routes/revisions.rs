//! An event's history: its revisions, and each version whole.

use actix_web::{HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa::IntoParams;

use super::{parse_event_id, parse_path};
use crate::db;
use crate::error::ApiError;
use crate::models::revision::{RevisionDetail, RevisionPage};
use crate::read_your_writes::ReadAt;
use crate::state::AppState;
use crate::telemetry::rows::Rows;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RevisionParams {
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<String>,
    /// Opaque cursor from `next_cursor` of the previous page.
    #[param(value_type = Option<String>, min_length = 1, pattern = "^[A-Za-z0-9_-]+$")]
    pub cursor: Option<String>,
}

/// The position after a page of revisions: the last version on it.
fn encode_cursor(version: i32) -> String {
    URL_SAFE_NO_PAD.encode(format!("v{version}"))
}

fn decode_cursor(raw: &str) -> Result<i32, String> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix('v')?.parse().ok())
        .ok_or_else(|| "not a cursor returned by this API".to_owned())
}

impl RevisionParams {
    fn parse(&self) -> Result<(i32, i64), ApiError> {
        let mut errors = crate::filter::Errors::default();
        let limit =
            self.limit
                .as_deref()
                .map_or(Ok(DEFAULT_LIMIT), |raw| match raw.parse::<i64>() {
                    Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                    _ => Err(format!("must be a whole number from 1 to {MAX_LIMIT}")),
                });
        let limit = errors.take("limit", limit);
        let after = self.cursor.as_deref().map_or(Ok(0), decode_cursor);
        let after = errors.take("cursor", after);
        errors.finish()?;
        Ok((after.unwrap_or(0), limit.unwrap_or(DEFAULT_LIMIT)))
    }
}

/// List an event's revisions, oldest first.
///
/// Every change to an event (created, updated, deleted, restored) is a
/// revision: its version, when the information became known (`known_at`,
/// what `as_of` reads by), when Chronik stored it (`recorded_at`), who made
/// it (`author`, the token's id) and which fields changed. A deleted event
/// keeps its history, so its revisions stay listed.
#[utoipa::path(get, path = "/v1/events/{id}/revisions", tag = "history",
    params(ReadAt, ("id" = uuid::Uuid, Path, description = "Event id (UUID)", example = "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01"), RevisionParams),
    responses(
        (status = 200, description = "The revisions, oldest first; `Link: rel=\"next\"` when more follow", body = RevisionPage,
            headers(("ETag" = String, description = "Changes when the list does; send it as `If-None-Match` to get `304`")),
            example = json!({"data": [
                {"version": 1, "kind": "created", "known_at": "2022-01-06T06:00:00Z", "recorded_at": "2026-11-24T10:00:00Z", "author": "01943b10-2f4e-7a31-8c55-0b7e4d2f9a10", "changed_fields": ["title", "type", "occurred_start", "casualties"]},
                {"version": 2, "kind": "updated", "known_at": "2022-01-06T09:30:00Z", "recorded_at": "2026-11-24T10:05:00Z", "author": "01943b10-2f4e-7a31-8c55-0b7e4d2f9a10", "changed_fields": ["casualties"]}
            ], "next_cursor": null})),
        (status = 304, description = "`If-None-Match` names the current ETag"),
        (status = 400, description = "Malformed id, limit or cursor"),
        (status = 404, description = "No event with this id ever existed"),
    ))]
pub async fn list_revisions(
    state: web::Data<AppState>,
    at: ReadAt,
    req: actix_web::HttpRequest,
    path: web::Path<String>,
    query: web::Query<RevisionParams>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_event_id(&path)?;
    let (after, limit) = query.parse()?;
    let mut conn = state.reads.get(at.0).await?;
    let mut data = db::revisions::list(&mut conn, id, after, limit + 1).await?;
    if data.is_empty() && !db::revisions::exists(&mut conn, id).await? {
        return Err(db::events::not_found(id));
    }
    let has_more = data.len() as i64 > limit;
    data.truncate(limit as usize);
    let next_cursor = data
        .last()
        .filter(|_| has_more)
        .map(|last| encode_cursor(last.version));
    Rows::set(&req, data.len());
    let body = RevisionPage {
        data,
        next_cursor: next_cursor.clone(),
        redaction: db::redactions::find(&mut conn, id).await?,
    };
    Ok(super::page_response(&req, &body, next_cursor.as_deref()))
}

/// Get one version of an event, whole.
///
/// The event exactly as that revision left it, with the revision's metadata.
#[utoipa::path(get, path = "/v1/events/{id}/revisions/{version}", tag = "history",
    params(ReadAt,
        ("id" = uuid::Uuid, Path, description = "Event id (UUID)", example = "01943a8e-7c4e-7d2a-9b1e-3f5a2c9d8e01"),
        ("version" = i32, Path, minimum = 1, description = "The version, from 1", example = 2),
    ),
    responses(
        (status = 200, description = "The revision and the event as it was then", body = RevisionDetail),
        (status = 304, description = "`If-None-Match` names the current ETag"),
        (status = 400, description = "Malformed id or version"),
        (status = 404, description = "No such event, or no such version of it"),
    ))]
pub async fn get_revision(
    state: web::Data<AppState>,
    at: ReadAt,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (raw_id, raw_version) = path.into_inner();
    let id = parse_event_id(&raw_id)?;
    let version: Version = parse_path("version", &raw_version)?;
    let mut conn = state.reads.get(at.0).await?;
    let mut detail = db::revisions::get(&mut conn, id, version.0)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("event {id} has no version {}", version.0)))?;
    detail.redaction = db::redactions::find(&mut conn, id).await?;
    Ok(HttpResponse::Ok().json(detail))
}

/// A version number: a whole number from 1.
struct Version(i32);

impl std::str::FromStr for Version {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.parse::<i32>() {
            Ok(n) if n >= 1 => Ok(Self(n)),
            _ => Err(format!("`{s}` is not a version (a whole number from 1)")),
        }
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Ok(42));
        assert!(decode_cursor("nonsense!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("x3")).is_err());
    }
}
