//! Lookups that tell a filter value naming nothing from one that matches nothing.

use diesel::QueryableByName;
use diesel::sql_types::{Array, Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::sql::SqlBuilder;
use crate::error::ApiError;

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = Bool)]
    exists: bool,
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    value: String,
}

async fn exists(conn: &mut AsyncPgConnection, sql: &str, value: &str) -> Result<bool, ApiError> {
    let rows: Vec<Exists> = SqlBuilder::fixed(sql)
        .arg::<Text, _>(value.to_owned())
        .build()
        .load(conn)
        .await?;
    Ok(rows.into_iter().next().is_some_and(|row| row.exists))
}

pub async fn timeline_exists(conn: &mut AsyncPgConnection, slug: &str) -> Result<bool, ApiError> {
    exists(
        conn,
        "SELECT EXISTS (SELECT 1 FROM timelines WHERE slug = $1) AS exists",
        slug,
    )
    .await
}

/// Whether any actor has this name (case-insensitive, as the `actor` filter matches).
pub async fn actor_exists(conn: &mut AsyncPgConnection, name: &str) -> Result<bool, ApiError> {
    exists(
        conn,
        "SELECT EXISTS (SELECT 1 FROM actors WHERE name_key = lower($1)) AS exists",
        name,
    )
    .await
}

/// Which of `tags` no live event carries.
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
