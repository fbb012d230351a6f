//! Lookups that tell a filter value naming nothing from one that matches nothing.

use diesel::QueryableByName;
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::sql::SqlBuilder;
use crate::error::ApiError;
use crate::schema::{actors, event_revisions, timelines};

diesel::define_sql_function! {
    /// SQL's `lower`, as the generated `actors.name_key` applies it.
    fn lower(text: Text) -> Text;
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    value: String,
}

pub async fn timeline_exists(conn: &mut AsyncPgConnection, slug: &str) -> Result<bool, ApiError> {
    let named = timelines::table.filter(timelines::slug.eq(slug));
    Ok(diesel::select(exists(named)).get_result(conn).await?)
}

/// Whether the history names this timeline: a timeline since deleted is
/// still a valid filter of the change feed, whose readers must learn that
/// its events left it.
pub async fn timeline_in_history(
    conn: &mut AsyncPgConnection,
    slug: &str,
) -> Result<bool, ApiError> {
    let named = event_revisions::table
        .filter(event_revisions::timeline_slugs.contains(vec![Some(slug.to_owned())]));
    Ok(diesel::select(exists(named)).get_result(conn).await?)
}

/// Whether any actor has this name (case-insensitive, as the `actor` filter matches).
pub async fn actor_exists(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, ApiError> {
    let named = actors::table.filter(actors::name_key.eq(lower(name).nullable()));
    Ok(diesel::select(exists(named)).get_result(conn).await?)
}

/// Which of `tags` no live event carries. Hand-built: a set-returning
/// `unnest` of the bound array, which diesel's DSL cannot select from.
pub async fn unused_tags(
    conn: &mut AsyncPgConnection,
    tags: &[String],
) -> Result<Vec<String>, ApiError> {
    let rows: Vec<Value> = SqlBuilder::fixed(
        "SELECT t AS value FROM unnest($1::text[]) t \
         WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.tags @> ARRAY[t] AND e.deleted_at IS NULL)",
    )
    .arg::<Array<Text>, _>(tags.to_vec())
    .build()
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|row| row.value).collect())
}
